package runtimeclass

import (
	"fmt"
	"path/filepath"
	"strings"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
)

// Class is one resolved runtime class: the configuration with every default
// filled in, and where it came from.
type Class struct {
	Config
	// Source says where the settings came from: a file path, "inline options",
	// "runc options" or "defaults".
	Source string
}

// Name is the class name used in messages.
func (c *Class) Name() string { return c.ClassName }

// Source labels.
const (
	SourceInline   = "inline options"
	SourceRunc     = "runc options"
	SourceDefaults = "defaults"
)

// taskStateDir is the directory containerd's runtime v2 keeps bundles under:
// <state>/io.containerd.runtime.v2.task/<namespace>/<id>.
const taskStateDir = "io.containerd.runtime.v2.task"

// fallbackStateDir is containerd's default state directory.
const fallbackStateDir = "/run/containerd"

// Default returns the class used when containerd sends no options at all.
func Default(bundle string) *Class {
	c := &Class{Source: SourceDefaults}
	c.fill(bundle)
	return c
}

// FromAny resolves a class from the runtime options containerd sent (a
// runtimeoptions.v1.Options with ConfigPath or ConfigBody, a runc Options, or
// nothing). bundle is the container's bundle directory; it locates
// containerd's state directory for the default runtime root.
func FromAny(opts *anypb.Any, bundle string) (*Class, error) {
	if opts == nil || (opts.GetTypeUrl() == "" && len(opts.GetValue()) == 0) {
		return Default(bundle), nil
	}
	var ro runtimeoptions.Options
	if opts.MessageIs(&ro) {
		if err := opts.UnmarshalTo(&ro); err != nil {
			return nil, fmt.Errorf("runtime options: decoding %s: %w", opts.GetTypeUrl(), err)
		}
		return FromRuntimeOptions(&ro, bundle)
	}
	var rc runcoptions.Options
	if opts.MessageIs(&rc) {
		if err := opts.UnmarshalTo(&rc); err != nil {
			return nil, fmt.Errorf("runtime options: decoding %s: %w", opts.GetTypeUrl(), err)
		}
		return FromRuncOptions(&rc, bundle), nil
	}
	return nil, fmt.Errorf("runtime options: type %q is not supported (want %q or %q)",
		opts.GetTypeUrl(), "runtimeoptions.v1.Options", "containerd.runc.v1.Options")
}

// FromRuntimeOptions resolves a class from containerd's generic runtime
// options: a TOML file (ConfigPath) or an inline TOML body (ConfigBody).
func FromRuntimeOptions(ro *runtimeoptions.Options, bundle string) (*Class, error) {
	var (
		cfg *Config
		err error
		src string
	)
	switch {
	case ro.GetConfigPath() != "":
		src = ro.GetConfigPath()
		cfg, err = Load(src)
	case len(ro.GetConfigBody()) > 0:
		src = SourceInline
		cfg, err = Parse(ro.GetConfigBody(), src)
	default:
		return Default(bundle), nil
	}
	if err != nil {
		return nil, err
	}
	return New(cfg, src, bundle), nil
}

// FromRuncOptions resolves a class from runc shim options (as `ctr run
// --runtime io.containerd.hardened.v2 --runc-*` or a runc-style config sends
// them): the class defaults with runc's binary, root and cgroup settings.
func FromRuncOptions(rc *runcoptions.Options, bundle string) *Class {
	c := &Class{Source: SourceRunc, Config: Config{
		BinaryName:    rc.GetBinaryName(),
		Root:          rc.GetRoot(),
		SystemdCgroup: rc.GetSystemdCgroup(),
		ShimCgroup:    rc.GetShimCgroup(),
		IoUID:         rc.GetIoUid(),
		IoGID:         rc.GetIoGid(),
	}}
	c.fill(bundle)
	return c
}

// fill applies the documented defaults to unset keys.
func (c *Class) fill(bundle string) {
	if c.ClassName == "" {
		c.ClassName = DefaultClassName
	}
	if c.Runtime == "" {
		c.Runtime = BackendRunc
	}
	if c.BinaryName == "" {
		c.BinaryName = c.Runtime
	}
	if c.Root == "" {
		c.Root = filepath.Join(StateDir(bundle), c.Runtime)
	}
	if c.Mode == "" {
		c.Mode = ModeEnforce
	}
	if c.AuditLog == "" {
		c.AuditLog = DefaultAuditLog
	}
	c.TypeURL, c.ConfigPath = "", ""
}

// StateDir derives containerd's state directory from a bundle path of the form
// <state>/io.containerd.runtime.v2.task/<namespace>/<id>, falling back to
// containerd's default when the bundle does not have that shape.
func StateDir(bundle string) string {
	if bundle == "" {
		return fallbackStateDir
	}
	ns := filepath.Dir(filepath.Clean(bundle))
	task := filepath.Dir(ns)
	if filepath.Base(task) != taskStateDir || !filepath.IsAbs(task) {
		return fallbackStateDir
	}
	state := filepath.Dir(task)
	if state == "/" || strings.TrimSpace(state) == "" {
		return fallbackStateDir
	}
	return state
}

// IsRuntimeOptions reports whether a is runtime options this package
// resolves (runtimeoptions.v1.Options or runc Options).
func IsRuntimeOptions(a *anypb.Any) bool {
	return a != nil && (a.MessageIs(&runtimeoptions.Options{}) || a.MessageIs(&runcoptions.Options{}))
}

// PolicyOptions returns the class's policy options with defaults applied.
func (c *Class) PolicyOptions() *policy.Options {
	o := policy.DefaultOptions()
	p := c.Policy
	if p.Level != "" {
		o.Level = policy.Level(p.Level)
	}
	o.RequireSeccomp = p.RequireSeccomp
	if p.UnmaskedProc != "" {
		o.UnmaskedProc = policy.UnmaskedProc(p.UnmaskedProc)
	}
	if p.SecretsInMemory != nil {
		o.SecretsInMemory = *p.SecretsInMemory
	}
	o.Disabled = p.DisabledChecks
	o.AllowedHostPaths = p.AllowedHostPaths
	if c.KubeletRoot != "" {
		o.KubeletRoot = c.KubeletRoot
	}
	if c.ContainerdRoot != "" {
		o.ContainerdRoot = c.ContainerdRoot
	}
	return o
}

// PolicyMode returns the class's mode.
func (c *Class) PolicyMode() policy.Mode {
	if c.Mode == "" {
		return policy.ModeEnforce
	}
	return policy.Mode(c.Mode)
}

// New resolves a class from a parsed configuration.
func New(cfg *Config, source, bundle string) *Class {
	c := &Class{Config: *cfg, Source: source}
	c.fill(bundle)
	return c
}

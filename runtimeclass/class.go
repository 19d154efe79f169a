package runtimeclass

import (
	"encoding/json"
	"fmt"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/userns"
	"os"
	"path/filepath"
	"strings"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	units "github.com/docker/go-units"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/harden"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/seccomp"
)

// Class is one resolved runtime class: the configuration with every default
// filled in, and where it came from.
type Class struct {
	Config
	// Source says where the settings came from: a file path, "inline options",
	// "runc options" or "defaults".
	Source string
	// NodeFile is the node class file this class was resolved against
	// (whether or not it exists): the pinned floor.
	NodeFile string `json:",omitempty"`
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

// Node class files: when containerd sends no class options (no options at
// all, or runc-style options), the class is read from
// <NodeConfigDir>/<shim binary name>.toml if that file exists, else the
// built-in defaults apply. containerd's CRI must send runc-style options for
// user-namespaced pods (it sets the stdio owner through them), so handlers
// that run such pods are configured this way; a second class needs a second
// binary name (a symlink used as runtime_path).
const (
	// NodeConfigDirEnv overrides DefaultNodeConfigDir (containerd passes its
	// environment to shims).
	NodeConfigDirEnv = "CONTAINERD_SHIM_HARDENED_CONFIG_DIR"
	// DefaultNodeConfigDir is where node class files live.
	DefaultNodeConfigDir = "/etc/containerd"
)

// ShimBinary is the binary name containerd looks up for the hardened runtime
// type (io.containerd.hardened.v2).
const ShimBinary = "containerd-shim-hardened-v2"

// NodeConfigPath returns the node class file for a shim invoked as argv0.
func NodeConfigPath(argv0 string) string {
	dir := os.Getenv(NodeConfigDirEnv)
	if dir == "" {
		dir = DefaultNodeConfigDir
	}
	name := filepath.Base(argv0)
	if name == "" || name == "." || name == "/" {
		name = ShimBinary
	}
	return filepath.Join(dir, name+".toml")
}

// Resolver resolves classes for one shim binary.
type Resolver struct {
	// Argv0 is how the shim was invoked (containerd's runtime_path); it names
	// the node class file.
	Argv0 string
}

// Node returns the class used when containerd sends no class options: the
// node class file if it exists, else the built-in defaults.
func (r Resolver) Node(bundle string) (*Class, error) {
	path := NodeConfigPath(r.Argv0)
	if _, err := os.Stat(path); err != nil {
		if os.IsNotExist(err) {
			c := &Class{Source: SourceDefaults, NodeFile: path}
			c.fill(bundle)
			return c, nil
		}
		return nil, fmt.Errorf("runtime class config %s: %w", path, err)
	}
	cfg, err := Load(path)
	if err != nil {
		return nil, err
	}
	c := New(cfg, path, bundle)
	c.NodeFile = path
	return c, nil
}

// Resolve resolves a class from the runtime options containerd sent: a
// runtimeoptions.v1.Options with ConfigPath or ConfigBody, runc Options
// (node class plus runc's binary, root, cgroup and stdio settings), or
// nothing (node class). bundle is the container's bundle directory; it
// locates containerd's state directory for the default runtime root.
//
// The node class (its file, or the built-in defaults) is pinned unless the
// file says pinned = false: request options may then only tighten it.
func (r Resolver) Resolve(opts *anypb.Any, bundle string) (*Class, error) {
	node, err := r.Node(bundle)
	if err != nil {
		return nil, err
	}
	return node.Overlay(opts, bundle)
}

// Overlay applies a request's runtime options to class c: on a pinned class
// they may only tighten it; an unpinned one they replace (class options) or
// amend (runc options).
func (c *Class) Overlay(opts *anypb.Any, bundle string) (*Class, error) {
	if opts == nil || (opts.GetTypeUrl() == "" && len(opts.GetValue()) == 0) {
		return c, nil
	}
	var ro runtimeoptions.Options
	if opts.MessageIs(&ro) {
		if err := opts.UnmarshalTo(&ro); err != nil {
			return nil, fmt.Errorf("runtime options: decoding %s: %w", opts.GetTypeUrl(), err)
		}
		return c.fromRuntimeOptions(&ro, bundle)
	}
	var rc runcoptions.Options
	if opts.MessageIs(&rc) {
		if err := opts.UnmarshalTo(&rc); err != nil {
			return nil, fmt.Errorf("runtime options: decoding %s: %w", opts.GetTypeUrl(), err)
		}
		out := *c
		if out.IsPinned() {
			if err := out.TightenRunc(&rc); err != nil {
				return nil, err
			}
		}
		out.ApplyRuncOptions(&rc)
		return &out, nil
	}
	return nil, fmt.Errorf("runtime options: type %q is not supported (want %q or %q)",
		opts.GetTypeUrl(), "runtimeoptions.v1.Options", "containerd.runc.v1.Options")
}

// fromRuntimeOptions applies containerd's generic runtime options, a TOML
// file (ConfigPath) or an inline TOML body (ConfigBody), to class c.
func (c *Class) fromRuntimeOptions(ro *runtimeoptions.Options, bundle string) (*Class, error) {
	var (
		body []byte
		err  error
		src  string
	)
	switch {
	case ro.GetConfigPath() != "":
		src = ro.GetConfigPath()
		if err := c.configPathAllowed(src); err != nil {
			return nil, err
		}
		body, err = readConfig(src)
	case len(ro.GetConfigBody()) > 0:
		src = SourceInline
		body = ro.GetConfigBody()
	default:
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(body, src)
	if err != nil {
		return nil, err
	}
	if c.IsPinned() {
		return c.Tighten(cfg, body, src, bundle)
	}
	if err := cfg.validateWhole(src); err != nil {
		return nil, err
	}
	return New(cfg, src, bundle), nil
}

// ApplyRuncOptions overlays the non-empty settings of runc options (as `ctr
// --runc-*`, a runc-style config or containerd's CRI for user-namespaced
// pods send them) on the class.
func (c *Class) ApplyRuncOptions(rc *runcoptions.Options) {
	if rc.GetBinaryName() != "" {
		c.BinaryName = rc.GetBinaryName()
	}
	if rc.GetRoot() != "" {
		c.Root = rc.GetRoot()
	}
	if rc.GetSystemdCgroup() {
		c.SystemdCgroup = true
	}
	if rc.GetShimCgroup() != "" {
		c.ShimCgroup = rc.GetShimCgroup()
	}
	if rc.GetIoUid() != 0 {
		c.IoUID = rc.GetIoUid()
	}
	if rc.GetIoGid() != 0 {
		c.IoGID = rc.GetIoGid()
	}
	if c.Source == SourceDefaults {
		c.Source = SourceRunc
	} else if !strings.HasSuffix(c.Source, " + "+SourceRunc) {
		c.Source += " + " + SourceRunc
	}
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
		if c.Runtime == BackendKata {
			// what a runc-compatible delegate runs (Kata ignores it)
			c.BinaryName = BackendRunc
		}
	}
	if c.Runtime == BackendKata && c.Kata.Shim == "" {
		c.Kata.Shim = DefaultKataShim
	}
	if c.Runtime == BackendRunsc && c.Runsc.Platform == "" {
		c.Runsc.Platform = runscPlatforms[0]
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
	o.RejectOwnSeccomp = c.Seccomp.Existing == harden.ExistingReject
	o.AllowedHostPaths = p.AllowedHostPaths
	o.AllowedLogBinaries = p.AllowedLogBinaries
	o.AllowedLogDirs = p.AllowedLogDirs
	o.AllowedHooks = p.AllowedHooks
	o.AllowedSeccompListeners = p.AllowedSeccompListeners
	o.AllowedDevices = p.AllowedDevices
	if c.KubeletRoot != "" {
		o.KubeletRoot = c.KubeletRoot
	}
	if c.ContainerdRoot != "" {
		o.ContainerdRoot = c.ContainerdRoot
	}
	return o
}

// HardenOptions returns the class's hardening options with defaults applied,
// or an error naming the key of a bad value.
func (c *Class) HardenOptions() (*harden.Options, error) {
	o := harden.DefaultOptions()
	o.UnmaskedProc = c.PolicyOptions().UnmaskedProc
	switch p := c.Seccomp.Profile; {
	case p == "" || p == seccomp.ProfileHardened:
	case p == "none":
		o.SeccompProfile = ""
	case p == seccomp.ProfileRuntimeDefault || filepath.IsAbs(p):
		o.SeccompProfile = p
	default:
		return nil, fmt.Errorf("key %q: %q is not %q, %q, %q or an absolute path", "seccomp.profile", p, seccomp.ProfileHardened, seccomp.ProfileRuntimeDefault, "none")
	}
	switch e := c.Seccomp.Existing; e {
	case "", harden.ExistingStrengthen:
	case harden.ExistingKeep, harden.ExistingReplace, harden.ExistingReject:
		o.SeccompExisting = e
	default:
		return nil, fmt.Errorf("key %q: %q is not %q, %q, %q or %q", "seccomp.existing", e,
			harden.ExistingStrengthen, harden.ExistingKeep, harden.ExistingReplace, harden.ExistingReject)
	}
	o.SeccompAudit = c.Seccomp.Audit
	switch c.Capabilities.Preset {
	case "", "default":
	case "restricted":
		o.Capabilities = harden.RestrictedCapabilities
	default:
		return nil, fmt.Errorf("key %q: %q is not %q or %q", "capabilities.preset", c.Capabilities.Preset, "default", "restricted")
	}
	if c.Capabilities.Allow != nil {
		o.Capabilities = nil
		for _, name := range c.Capabilities.Allow {
			n, err := policy.CapabilityName(name)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", "capabilities.allow", err)
			}
			o.Capabilities = append(o.Capabilities, n)
		}
	}
	if c.NoNewPrivileges != nil {
		o.NoNewPrivileges = *c.NoNewPrivileges
	}
	if c.Rootfs.ReadOnly != nil {
		o.ReadOnlyRootfs = *c.Rootfs.ReadOnly
	}
	if c.Rootfs.ReadOnlySys != nil {
		o.ReadOnlySysfs = *c.Rootfs.ReadOnlySys
	}
	if c.Rootfs.WritablePaths != nil {
		o.WritablePaths = nil
	}
	for i, w := range c.Rootfs.WritablePaths {
		key := fmt.Sprintf("rootfs.writable_paths[%d]", i)
		if !filepath.IsAbs(w.Path) || filepath.Clean(w.Path) == "/" || filepath.Clean(w.Path) != w.Path {
			return nil, fmt.Errorf("key %q: %q must be a clean absolute path other than /", key+".path", w.Path)
		}
		size := w.Size
		if size == "" {
			size = "64Mi"
		}
		n, err := parseSize(size)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("key %q: %q is not a size like \"64Mi\"", key+".size", w.Size)
		}
		o.WritablePaths = append(o.WritablePaths, harden.WritablePath{Path: w.Path, SizeBytes: n})
	}
	return o, nil
}

// PolicyMode returns the class's mode.
func (c *Class) PolicyMode() policy.Mode {
	if c.Mode == "" {
		return policy.ModeEnforce
	}
	return policy.Mode(c.Mode)
}

// AuditOptions returns the audit log's size limits (audit_log_max_size,
// audit_log_max_files, audit_log_min_free) with defaults applied. The keys
// were validated when the configuration was parsed.
func (c *Class) AuditOptions() audit.Options {
	o, _, _ := c.auditOptions()
	return o
}

// New resolves a class from a parsed configuration.
func New(cfg *Config, source, bundle string) *Class {
	c := &Class{Config: *cfg, Source: source}
	c.fill(bundle)
	return c
}

// savedFile is where the shim's start step leaves the resolved class in the
// bundle for the shim daemon's Create (containerd removes the bundle).
const savedFile = "hardened-class.json"

// Save writes the resolved class into the bundle.
func (c *Class) Save(bundle string) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp := filepath.Join(bundle, "."+savedFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving the runtime class: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(bundle, savedFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("saving the runtime class: %w", err)
	}
	return nil
}

// LoadSaved reads the class the start step saved in the bundle; the error
// satisfies os.IsNotExist when there is none.
func LoadSaved(bundle string) (*Class, error) {
	b, err := os.ReadFile(filepath.Join(bundle, savedFile))
	if err != nil {
		return nil, err
	}
	var c Class
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("reading the saved runtime class in %s: %w", bundle, err)
	}
	return &c, nil
}

// IsClassOptions reports whether a carries class settings of its own
// (runtimeoptions.v1.Options with a ConfigPath or ConfigBody).
func IsClassOptions(a *anypb.Any) bool {
	var ro runtimeoptions.Options
	if a == nil || !a.MessageIs(&ro) || a.UnmarshalTo(&ro) != nil {
		return false
	}
	return ro.GetConfigPath() != "" || len(ro.GetConfigBody()) > 0
}

// ApplyAny overlays runc options, if a holds any, on the class (checked
// against it when it is pinned).
func (c *Class) ApplyAny(a *anypb.Any) error {
	var rc runcoptions.Options
	if a == nil || !a.MessageIs(&rc) {
		return nil
	}
	if err := a.UnmarshalTo(&rc); err != nil {
		return fmt.Errorf("runtime options: %w", err)
	}
	if c.IsPinned() {
		if err := c.TightenRunc(&rc); err != nil {
			return err
		}
	}
	c.ApplyRuncOptions(&rc)
	return nil
}

// parseSize parses a binary size: Kubernetes-style "64Mi" as well as
// "64MiB", "64m" or "1G".
func parseSize(s string) (int64, error) {
	if strings.HasSuffix(s, "i") {
		s += "B"
	}
	return units.RAMInBytes(s)
}

// configPathAllowed refuses a request's ConfigPath outside the node class
// directory: the shim, as root, would open and parse whatever file a client
// names (and its errors would echo the start of a root-only file).
func (c *Class) configPathAllowed(path string) error {
	dir := filepath.Dir(c.NodeFile)
	if c.NodeFile == "" {
		dir = filepath.Dir(NodeConfigPath(""))
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("runtime class config %q: ConfigPath must be an absolute path", path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = filepath.Clean(path)
	}
	rd, err := filepath.EvalSymlinks(dir)
	if err != nil {
		rd = dir
	}
	if filepath.Dir(real) != rd {
		return fmt.Errorf("runtime class config %q: a ConfigPath must name a file in the node class directory %s (%s)", path, dir, NodeConfigDirEnv)
	}
	return nil
}

// UsernsMode is the class's user namespace mode (default "required").
func (c *Class) UsernsMode() string {
	if c.UserNamespace == "" {
		return UsernsRequired
	}
	return c.UserNamespace
}

// Allocator returns the node-wide ID range allocator the class names.
func (c *Class) Allocator() (*userns.Allocator, error) {
	return userns.New(c.Userns.StateDir, c.Userns.FirstID, c.Userns.Ranges)
}

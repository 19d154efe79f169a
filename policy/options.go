package policy

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Mode says what happens to a violation.
type Mode string

const (
	// ModeEnforce refuses a spec with violations.
	ModeEnforce Mode = "enforce"
	// ModeAudit allows it and records each would-be refusal.
	ModeAudit Mode = "audit"
)

// Level is the capability level of the capabilities check.
type Level string

const (
	// LevelBaseline refuses capabilities outside Pod Security's baseline set
	// (plus NET_RAW, which containerd's default set holds and which cannot be
	// told apart from an explicit add).
	LevelBaseline Level = "baseline"
	// LevelRestricted allows only NET_BIND_SERVICE.
	LevelRestricted Level = "restricted"
)

// UnmaskedProc says what to do with a spec whose /proc is unmasked.
type UnmaskedProc string

const (
	// UnmaskedProcRestore lets the hardening step restore the default masks.
	UnmaskedProcRestore UnmaskedProc = "restore"
	// UnmaskedProcRefuse refuses the spec (procMount check).
	UnmaskedProcRefuse UnmaskedProc = "refuse"
)

// AllowedHostPath is one host path prefix a class lets containers bind-mount.
type AllowedHostPath struct {
	PathPrefix string `toml:"path_prefix" json:"pathPrefix"`
	// ReadOnly requires the mount to be read-only.
	ReadOnly bool `toml:"read_only" json:"readOnly"`
}

// Options are one class's policy settings.
type Options struct {
	Level            Level
	RequireSeccomp   bool
	UnmaskedProc     UnmaskedProc
	SecretsInMemory  bool
	AllowedHostPaths []AllowedHostPath
	KubeletRoot      string
	ContainerdRoot   string
	// RejectOwnSeccomp refuses specs that bring their own seccomp profile
	// (class seccomp.existing = "reject").
	RejectOwnSeccomp bool
	// Disabled lists check IDs the class turns off.
	Disabled []string
}

// Default node paths.
const (
	DefaultKubeletRoot    = "/var/lib/kubelet"
	DefaultContainerdRoot = "/var/lib/containerd"
)

// DefaultOptions returns the policy defaults.
func DefaultOptions() *Options {
	return &Options{
		Level:           LevelBaseline,
		UnmaskedProc:    UnmaskedProcRestore,
		SecretsInMemory: true,
		KubeletRoot:     DefaultKubeletRoot,
		ContainerdRoot:  DefaultContainerdRoot,
	}
}

func (o *Options) disabled(id string) bool {
	for _, d := range o.Disabled {
		if d == id {
			return true
		}
	}
	return false
}

// Validate checks option values; key names the TOML key prefix for messages.
func (o *Options) Validate() error {
	switch o.Level {
	case LevelBaseline, LevelRestricted:
	default:
		return fmt.Errorf("key %q: %q is not a level (want %q or %q)", "policy.level", o.Level, LevelBaseline, LevelRestricted)
	}
	switch o.UnmaskedProc {
	case UnmaskedProcRestore, UnmaskedProcRefuse:
	default:
		return fmt.Errorf("key %q: %q is not valid (want %q or %q)", "policy.unmasked_proc", o.UnmaskedProc, UnmaskedProcRestore, UnmaskedProcRefuse)
	}
	for _, p := range []struct{ key, v string }{{"kubelet_root", o.KubeletRoot}, {"containerd_root", o.ContainerdRoot}} {
		if !filepath.IsAbs(p.v) || filepath.Clean(p.v) == "/" {
			return fmt.Errorf("key %q: %q must be an absolute path other than /", p.key, p.v)
		}
	}
	for i, a := range o.AllowedHostPaths {
		key := fmt.Sprintf("policy.allowed_host_paths[%d].path_prefix", i)
		if !filepath.IsAbs(a.PathPrefix) {
			return fmt.Errorf("key %q: %q must be an absolute path", key, a.PathPrefix)
		}
		if filepath.Clean(a.PathPrefix) == "/" {
			return fmt.Errorf("key %q: allowing the whole host file system (\"/\") is not permitted", key)
		}
		if strings.Contains(a.PathPrefix, "..") {
			return fmt.Errorf("key %q: %q must not contain \"..\"", key, a.PathPrefix)
		}
	}
	known := map[string]bool{}
	for _, c := range Checks() {
		known[c.ID] = true
	}
	for _, d := range o.Disabled {
		if !known[d] {
			return fmt.Errorf("key %q: %q is not a check ID", "policy.disabled_checks", d)
		}
	}
	return nil
}

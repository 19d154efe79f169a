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
	// AllowedLogBinaries and AllowedLogDirs allowlist the host-side stdio a
	// task or exec may name: binary:// loggers (exact paths) and file://
	// targets (directories).
	AllowedLogBinaries []string
	AllowedLogDirs     []string
	// AllowedHooks are the OCI hook binaries (absolute paths, matched exactly
	// after resolving symlinks) a spec may name; runc runs them as root.
	AllowedHooks []string
	// AllowedSeccompListeners are the host sockets a seccomp listenerPath may
	// name (runc hands the container's notify fd to them).
	AllowedSeccompListeners []string
	// AllowedDevices are host devices beyond the container default set that
	// device nodes and device cgroup rules may grant: "c 10:229", "c 195:*".
	AllowedDevices []string
	KubeletRoot    string
	ContainerdRoot string
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

// IsDisabled reports whether the class turns off the check id.
func (o *Options) IsDisabled(id string) bool { return o.disabled(id) }

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
	for _, l := range []struct {
		key   string
		paths []string
	}{{"policy.allowed_log_binaries", o.AllowedLogBinaries}, {"policy.allowed_log_dirs", o.AllowedLogDirs}} {
		for i, p := range l.paths {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
				return fmt.Errorf("key %q: entry %d %q must be a clean absolute path other than /", l.key, i, p)
			}
		}
	}
	for _, l := range []struct {
		key   string
		paths []string
	}{{"policy.allowed_hooks", o.AllowedHooks}, {"policy.allowed_seccomp_listeners", o.AllowedSeccompListeners}} {
		for i, p := range l.paths {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
				return fmt.Errorf("key %q: entry %d %q must be a clean absolute path other than /", l.key, i, p)
			}
		}
	}
	for i, d := range o.AllowedDevices {
		if _, err := parseDeviceID(d); err != nil {
			return fmt.Errorf("key %q: entry %d: %w", "policy.allowed_devices", i, err)
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

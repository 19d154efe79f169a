// Package runtimeclass turns the runtime options containerd hands a shim into
// one validated Class: the per-RuntimeClass settings with their defaults.
package runtimeclass

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/pelletier/go-toml/v2"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/seccomp"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/userns"
)

// Backends the shim knows. The sandbox package implements them.
const (
	BackendRunc  = "runc"
	BackendRunsc = "runsc"
	BackendKata  = "kata"
)

// runscFlagName is a runsc flag name as written in [runsc] flags.
var runscFlagName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// DefaultClassName is the class name used in messages when none is configured.
const DefaultClassName = "hardened"

// maxConfigSize bounds a configuration file or inline body.
const maxConfigSize = 1 << 20

// Config is the TOML schema of one runtime class. Every key is optional; the
// zero value of a key means "use the default" documented next to it.
//
// The same schema is accepted from a file named by containerd's ConfigPath
// runtime option and from the inline `options` table containerd's CRI sends as
// ConfigBody.
type Config struct {
	// ClassName names the class in messages and the audit log. Default "hardened".
	ClassName string `toml:"class_name"`
	// Runtime selects the sandbox backend: "runc" (default), "runsc"
	// (gVisor; [runsc] holds its settings) or "kata" (the containers are
	// handed, after the checks and hardening, to another v2 shim; [kata]
	// names it).
	Runtime string `toml:"runtime"`
	// Runsc holds the gVisor backend's settings (runtime = "runsc").
	Runsc RunscConfig `toml:"runsc"`
	// Kata holds the delegation backend's settings (runtime = "kata").
	Kata KataConfig `toml:"kata"`
	// BinaryName is the OCI runtime binary, a name looked up in PATH or an
	// absolute path. Default: the backend's binary ("runc", "runsc").
	BinaryName string `toml:"binary_name"`
	// Root is the OCI runtime's state directory. Default: "runc" (or the
	// backend's name) beside containerd's task state, i.e. /run/containerd/runc
	// on a default install.
	Root string `toml:"root"`
	// SystemdCgroup makes runc use the systemd cgroup driver. Default false.
	SystemdCgroup bool `toml:"systemd_cgroup"`
	// ShimCgroup is a cgroup path the shim process itself is placed in.
	ShimCgroup string `toml:"shim_cgroup"`
	// IoUID and IoGID own the container's stdio pipes. Default 0.
	IoUID uint32 `toml:"io_uid"`
	IoGID uint32 `toml:"io_gid"`

	// Mode is what a policy violation does: "enforce" (default) refuses the
	// container, "audit" allows it and records the would-be refusal.
	Mode string `toml:"mode"`
	// AuditLog is the node audit log every decision is appended to, one JSON
	// line each. Default /var/log/containerd-shim-hardened/audit.log; "-"
	// disables the file (decisions still go to the shim's log).
	AuditLog string `toml:"audit_log"`
	// AuditLogMaxSize is the size at which the audit log rotates (to
	// <audit_log>.1, .2 …), e.g. "100Mi". Default "100Mi"; at least "1Mi".
	AuditLogMaxSize string `toml:"audit_log_max_size"`
	// AuditLogMaxFiles is how many rotated audit logs are kept (1 to 1000);
	// the oldest is dropped. Default 5: at most max_size × 6 on disk.
	AuditLogMaxFiles *int `toml:"audit_log_max_files"`
	// AuditLogMinFree is the free space the audit log leaves on its file
	// system: a record that would leave less is not written (the decision
	// stands; the shim's log says so). Default "64Mi"; "0" turns the check off.
	AuditLogMinFree string `toml:"audit_log_min_free"`
	// KubeletRoot is kubelet's root directory. Default /var/lib/kubelet.
	KubeletRoot string `toml:"kubelet_root"`
	// ContainerdRoot is containerd's root directory. Default /var/lib/containerd.
	ContainerdRoot string `toml:"containerd_root"`
	// Policy holds the checks' settings.
	Policy PolicyConfig `toml:"policy"`
	// Seccomp, Capabilities and Rootfs hold the hardening step's settings.
	Seccomp      SeccompConfig      `toml:"seccomp"`
	Capabilities CapabilitiesConfig `toml:"capabilities"`
	Rootfs       RootfsConfig       `toml:"rootfs"`
	// UserNamespace puts every pod of the class in a user namespace of its
	// own: "required" (default; a node that cannot is refused at Start),
	// "if-supported" (runs without and records it) or "off".
	UserNamespace string `toml:"user_namespace"`
	// Userns holds the node-wide ID allocator's settings.
	Userns UsernsConfig `toml:"userns"`
	// NoNewPrivileges sets process.noNewPrivileges. Default true.
	NoNewPrivileges *bool `toml:"no_new_privileges"`
	// Pinned makes the class the floor for request options: runtime options
	// a request brings (ConfigPath, ConfigBody, runc options) may only
	// tighten it (pin.go). Default true; only a node class file can unpin.
	Pinned *bool `toml:"pinned"`

	// TypeUrl and ConfigPath are containerd's own runtime-option keys. CRI copies
	// the whole options table into ConfigBody, so they may appear there; they
	// carry no class setting.
	TypeURL    string `toml:"TypeUrl"`
	ConfigPath string `toml:"ConfigPath"`
}

// RunscConfig is the [runsc] table.
type RunscConfig struct {
	// Platform is gVisor's platform: "systrap" (default) or "ptrace".
	Platform string `toml:"platform"`
	// Flags are further runsc global flags, name = value ("net-raw" =
	// "false"). Names are checked against the flags the runsc binary
	// reports (runsc flags) when the class is first used; the flags the shim
	// owns (platform, oci-seccomp, root, log…) and the ones that would let a
	// spec or the host weaken the sandbox are refused (RunscFlagRefused).
	Flags map[string]string `toml:"flags"`
}

// KataConfig is the [kata] table: the v2 shim the class's containers are
// delegated to. Kata's shim by default; any v2 shim binary works
// (containerd-shim-runc-v2 is how the lab tests delegation).
type KataConfig struct {
	// Shim is the delegate v2 shim binary, a name looked up in PATH or an
	// absolute path. Default "containerd-shim-kata-v2".
	Shim string `toml:"shim"`
	// ConfigPath is the delegate's configuration file, sent to it as the
	// ConfigPath runtime option (what Kata reads). Default: none, and the
	// delegate is sent the class's runc options (binary_name, root, …),
	// which runc-compatible shims use and Kata ignores (using its own
	// default configuration).
	ConfigPath string `toml:"config_path"`
	// UserNamespaces declares that the delegate applies a spec's user
	// namespace and idmapped root file system as runc does
	// (containerd-shim-runc-v2 does; Kata does not). Default false: a class
	// with user_namespace = "required" is then refused at Start.
	UserNamespaces bool `toml:"user_namespaces"`
}

// DefaultKataShim is the delegate shim of a kata class without [kata] shim.
const DefaultKataShim = "containerd-shim-kata-v2"

// Platforms gVisor offers here (kvm needs VMX/SVM).
var runscPlatforms = []string{"systrap", "ptrace"}

// RunscFlagRefused says why a class may not set runsc flag name, or "".
func RunscFlagRefused(name string) string {
	switch {
	case name == "platform":
		return "set [runsc] platform instead"
	case name == "oci-seccomp":
		return "the shim always sets it, so that the class's seccomp profile also applies inside the sandbox"
	case slices.Contains([]string{"root", "log", "log-format", "debug-log", "debug-log-format", "panic-log", "coverage-report", "profile-block", "profile-cpu", "profile-heap", "profile-mutex", "trace"}, name):
		return "the shim owns the runtime's state and log paths"
	case name == "allow-flag-override":
		return "it lets a spec's dev.gvisor.flag.* annotations set runsc flags, which a workload controls"
	case slices.Contains([]string{"rootless", "ignore-cgroups", "allow-rootfs-tar-annotation", "TESTONLY-unsafe-nonroot"}, name):
		return "it runs the sandbox without the protections the shim relies on (user and cgroup limits, a read-only root)"
	case strings.HasPrefix(name, "TESTONLY") || strings.HasPrefix(name, "unsafe"):
		return "test-only and unsafe flags weaken the sandbox"
	}
	return ""
}

// PolicyConfig is the [policy] table.
type PolicyConfig struct {
	// Level is the capability level: "baseline" (default) or "restricted".
	Level string `toml:"level"`
	// RequireSeccomp refuses containers without a (deny-by-default) seccomp
	// profile. Default false.
	RequireSeccomp bool `toml:"require_seccomp"`
	// UnmaskedProc is what happens to a spec with an unmasked /proc:
	// "restore" (default: the default masks are put back) or "refuse".
	UnmaskedProc string `toml:"unmasked_proc"`
	// SecretsInMemory refuses secret and projected volumes not backed by
	// tmpfs. Default true.
	SecretsInMemory *bool `toml:"secrets_in_memory"`
	// DisabledChecks lists check IDs this class turns off.
	DisabledChecks []string `toml:"disabled_checks"`
	// AllowedHostPaths lists host path prefixes containers may bind-mount.
	AllowedHostPaths []policy.AllowedHostPath `toml:"allowed_host_paths"`
	// AllowedHooks lists the OCI hook binaries (absolute paths) a spec may
	// name; every other hook is refused (check hostActions). Default none.
	AllowedHooks []string `toml:"allowed_hooks"`
	// AllowedSeccompListeners lists the seccomp notify sockets a spec's
	// linux.seccomp.listenerPath may name. Default none.
	AllowedSeccompListeners []string `toml:"allowed_seccomp_listeners"`
	// AllowedDevices lists host devices beyond the container default set
	// ("c 10:229", "c 195:*"). Default none.
	AllowedDevices []string `toml:"allowed_devices"`
	// AllowedLogBinaries lists the binaries a task or exec may name as
	// binary:// stdio (the shim runs them as root). Default none.
	AllowedLogBinaries []string `toml:"allowed_log_binaries"`
	// AllowedLogDirs lists directories under which a task or exec may name
	// file:// stdio (the shim writes it as root). Default none.
	AllowedLogDirs []string `toml:"allowed_log_dirs"`
}

// UsernsConfig is the [userns] table: where pods' ID ranges come from. Every
// class of a node should name the same window and state directory.
type UsernsConfig struct {
	// StateDir holds the allocator's state (ranges.json) and lock. Default
	// /var/lib/containerd-shim-hardened-v2/userns.
	StateDir string `toml:"state_dir"`
	// FirstID is the first host ID of the window. Default 2147483648 (2^31),
	// far above the blocks kubelet hands hostUsers: false pods.
	FirstID uint32 `toml:"first_id"`
	// Ranges is how many 65,536-ID ranges the window holds (how many pods
	// can run at once). Default 8192.
	Ranges uint32 `toml:"ranges"`
}

// User namespace modes.
const (
	UsernsRequired    = "required"
	UsernsIfSupported = "if-supported"
	UsernsOff         = "off"
)

// SeccompConfig is the [seccomp] table.
type SeccompConfig struct {
	// Profile is applied to containers without one: "hardened" (default),
	// "runtime-default" (containerd's), an absolute path of a profile file
	// (Docker JSON format), or "none".
	Profile string `toml:"profile"`
	// Existing is what happens to a container's own profile: "strengthen"
	// (default: containerd's RuntimeDefault is replaced by Profile, any other
	// own profile is intersected with it, deny rules winning, so asking for a
	// profile never weakens protection), "keep" (kept as it is: weaker than
	// Profile wherever it allows more, e.g. RuntimeDefault's ptrace),
	// "replace" (with Profile) or "reject" (refused, check seccompProfile).
	Existing string `toml:"existing"`
	// Audit turns the applied profile's denials into log actions (rollouts).
	Audit bool `toml:"audit"`
}

// CapabilitiesConfig is the [capabilities] table.
type CapabilitiesConfig struct {
	// Preset is "default" (CRI-O's nine: CHOWN, DAC_OVERRIDE, FSETID, FOWNER,
	// SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, KILL) or "restricted"
	// (NET_BIND_SERVICE only).
	Preset string `toml:"preset"`
	// Allow, when set, is the allowlist instead of the preset.
	Allow []string `toml:"allow"`
}

// RootfsConfig is the [rootfs] table.
type RootfsConfig struct {
	// ReadOnly makes the container's root file system read-only. Default true.
	ReadOnly *bool `toml:"read_only"`
	// ReadOnlySys mounts /sys and /sys/fs/cgroup read-only. Default true.
	ReadOnlySys *bool `toml:"read_only_sys"`
	// WritablePaths are size-limited tmpfs mounts (nosuid, nodev) a
	// read-only container may write to. Default /tmp (64Mi), /run and
	// /var/run (16Mi each; a volume at one of /run and /var/run covers both,
	// as most images link them); an empty list ([]) means none.
	WritablePaths []WritablePathConfig `toml:"writable_paths"`
}

// WritablePathConfig is one [[rootfs.writable_paths]] entry.
type WritablePathConfig struct {
	Path string `toml:"path"`
	// Size is the tmpfs size, e.g. "64Mi" or "1G". Default "64Mi".
	Size string `toml:"size"`
}

// Modes.
const (
	ModeEnforce = string(policy.ModeEnforce)
	ModeAudit   = string(policy.ModeAudit)
)

// DefaultAuditLog is the node audit log's default path.
const DefaultAuditLog = "/var/log/containerd-shim-hardened/audit.log"

// validClassName reports whether s is a RuntimeClass name (a DNS subdomain
// label set: [a-z0-9] at both ends, [-a-z0-9.] between, at most 63). Not a
// regexp: its counted repetition compiles to a large program every shim
// would hold.
func validClassName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := '0' <= c && c <= '9' || 'a' <= c && c <= 'z'
		if !alnum && (i == 0 || i == len(s)-1 || c != '-' && c != '.') {
			return false
		}
	}
	return true
}

// Parse decodes and validates one class configuration. source names the file
// (or "inline options") in every error message.
func Parse(data []byte, source string) (*Config, error) {
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("runtime class config %s: %d bytes exceeds the %d byte limit", source, len(data), maxConfigSize)
	}
	var c Config
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, decodeError(source, err)
	}
	if err := c.validate(source); err != nil {
		return nil, err
	}
	return &c, nil
}

// Load reads and parses a class configuration file.
func Load(path string) (*Config, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	return c, c.validateWhole(path)
}

// validateWhole checks what only a whole class can be judged by, not a request's fragment
// of a pinned class (whose runtime, unset there, is the pinned one's): a [runsc] table
// applies only to runtime = "runsc".
func (c *Config) validateWhole(source string) error {
	if c.Runtime != BackendRunsc && (c.Runsc.Platform != "" || len(c.Runsc.Flags) > 0) {
		return fmt.Errorf("runtime class config %s: key %q: is set but runtime is %q: the [runsc] table only applies to runtime = %q",
			source, "runsc", orDefault(c.Runtime, BackendRunc), BackendRunsc)
	}
	if c.Runtime == BackendRunsc && c.Seccomp.Audit {
		return fmt.Errorf("runtime class config %s: key %q: gVisor applies the class's seccomp profile itself (runsc --oci-seccomp), which has no log action: a runsc class cannot audit its profile (use a runc class for a seccomp rollout)",
			source, "seccomp.audit")
	}
	if c.Runtime != BackendKata && c.Kata != (KataConfig{}) {
		return fmt.Errorf("runtime class config %s: key %q: is set but runtime is %q: the [kata] table only applies to runtime = %q",
			source, "kata", orDefault(c.Runtime, BackendRunc), BackendKata)
	}
	return nil
}

// readConfig reads a class configuration file, bounded in size.
func readConfig(path string) ([]byte, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("runtime class config %q: ConfigPath must be an absolute path", path)
	}
	// O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
	// refused as not a regular file).
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("runtime class config %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("runtime class config %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("runtime class config %s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("runtime class config %s: %w", path, err)
	}
	return data, nil
}

// decodeError rewrites go-toml's errors so they name the source and the key.
func decodeError(source string, err error) error {
	var sme *toml.StrictMissingError
	if errors.As(err, &sme) {
		var keys []string
		for _, e := range sme.Errors {
			row, col := e.Position()
			keys = append(keys, fmt.Sprintf("%q (line %d, column %d)", strings.Join(e.Key(), "."), row, col))
		}
		return fmt.Errorf("runtime class config %s: unknown key %s", source, strings.Join(keys, ", "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		key := strings.Join(de.Key(), ".")
		if key != "" {
			return fmt.Errorf("runtime class config %s: key %q (line %d, column %d): %s", source, key, row, col, de.Error())
		}
		return fmt.Errorf("runtime class config %s: line %d, column %d: %s", source, row, col, de.Error())
	}
	return fmt.Errorf("runtime class config %s: %s", source, err)
}

// binaryRefused says why v cannot name a binary (a bare name looked up in
// PATH or an absolute path), or "".
func binaryRefused(v string) string {
	switch {
	case strings.ContainsAny(v, "\x00\n"):
		return "contains a NUL or newline"
	case v != "" && strings.Contains(v, "/") && !filepath.IsAbs(v):
		return fmt.Sprintf("%q must be a bare name looked up in PATH or an absolute path", v)
	}
	return ""
}

func (c *Config) validate(source string) error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("runtime class config %s: key %q: %s", source, key, fmt.Sprintf(format, args...))
	}
	if c.ClassName != "" && !validClassName(c.ClassName) {
		return bad("class_name", "%q is not a valid RuntimeClass name (lower-case letters, digits, '-' and '.', at most 63 characters)", c.ClassName)
	}
	switch c.Runtime {
	case "", BackendRunc, BackendRunsc, BackendKata:
	default:
		return bad("runtime", "%q is not a known backend (want %q, %q or %q)", c.Runtime, BackendRunc, BackendRunsc, BackendKata)
	}
	if why := binaryRefused(c.Kata.Shim); why != "" {
		return bad("kata.shim", "%s", why)
	}
	if c.Kata.ConfigPath != "" && (!filepath.IsAbs(c.Kata.ConfigPath) || strings.ContainsAny(c.Kata.ConfigPath, "\x00\n")) {
		return bad("kata.config_path", "%q must be an absolute path", c.Kata.ConfigPath)
	}
	if c.Runsc.Platform != "" && !slices.Contains(runscPlatforms, c.Runsc.Platform) {
		return bad("runsc.platform", "%q is not a platform gVisor can use here (want %q or %q; kvm needs hardware virtualization)", c.Runsc.Platform, runscPlatforms[0], runscPlatforms[1])
	}
	for name, v := range c.Runsc.Flags {
		if !runscFlagName.MatchString(name) {
			return bad("runsc.flags", "%q is not a flag name (lower-case letters, digits and '-', without the leading --)", name)
		}
		if why := RunscFlagRefused(name); why != "" {
			return bad("runsc.flags."+name, "refused: %s", why)
		}
		if strings.ContainsAny(v, "\x00\n") {
			return bad("runsc.flags."+name, "the value contains a NUL or newline")
		}
	}
	if c.Root != "" && !filepath.IsAbs(c.Root) {
		return bad("root", "%q must be an absolute path", c.Root)
	}
	if why := binaryRefused(c.BinaryName); why != "" {
		return bad("binary_name", "%s", why)
	}
	if c.ShimCgroup != "" && !strings.HasPrefix(c.ShimCgroup, "/") {
		return bad("shim_cgroup", "%q must start with /", c.ShimCgroup)
	}
	switch c.Mode {
	case "", ModeEnforce, ModeAudit:
	default:
		return bad("mode", "%q is not a mode (want %q or %q)", c.Mode, ModeEnforce, ModeAudit)
	}
	switch c.UserNamespace {
	case "", UsernsRequired, UsernsIfSupported, UsernsOff:
	default:
		return bad("user_namespace", "%q is not a mode (want %q, %q or %q)", c.UserNamespace, UsernsRequired, UsernsIfSupported, UsernsOff)
	}
	if _, err := userns.New(c.Userns.StateDir, c.Userns.FirstID, c.Userns.Ranges); err != nil {
		return bad("userns", "%s", err)
	}
	if c.AuditLog != "" && c.AuditLog != "-" && !filepath.IsAbs(c.AuditLog) {
		return bad("audit_log", "%q must be an absolute path (or \"-\" to disable the file)", c.AuditLog)
	}
	if _, key, err := c.auditOptions(); err != nil {
		return bad(key, "%s", err)
	}
	// Validate the policy and hardening options as they will be used,
	// defaults included.
	probe := Class{Config: *c}
	if err := probe.PolicyOptions().Validate(); err != nil {
		return fmt.Errorf("runtime class config %s: %w", source, err)
	}
	ho, err := probe.HardenOptions()
	if err != nil {
		return fmt.Errorf("runtime class config %s: %w", source, err)
	}
	// A profile file is built once here, not on every Create and Exec.
	if p := ho.SeccompProfile; p != "" && p != seccomp.ProfileHardened && p != seccomp.ProfileRuntimeDefault {
		if err := seccomp.ValidateProfile(p); err != nil {
			return fmt.Errorf("runtime class config %s: key %q: %w", source, "seccomp.profile", err)
		}
	}
	return nil
}

// Bounds of the audit log keys.
const (
	minAuditLogMaxSize  = 1 << 20 // well above one record (at most 256 KiB)
	maxAuditLogMaxFiles = 1000
)

// auditOptions returns the audit log's bounds with defaults applied, or the
// key of a bad value and what is wrong with it (the returned options then
// hold the defaults for that key).
func (c *Config) auditOptions() (audit.Options, string, error) {
	o := audit.DefaultOptions()
	if s := c.AuditLogMaxSize; s != "" {
		n, err := parseSize(s)
		if err != nil || n < minAuditLogMaxSize {
			return o, "audit_log_max_size", fmt.Errorf("%q is not a size of at least \"1Mi\" (like \"100Mi\")", s)
		}
		o.MaxSize = n
	}
	if p := c.AuditLogMaxFiles; p != nil {
		if *p < 1 || *p > maxAuditLogMaxFiles {
			return o, "audit_log_max_files", fmt.Errorf("%d is not between 1 and %d", *p, maxAuditLogMaxFiles)
		}
		o.MaxFiles = *p
	}
	if s := c.AuditLogMinFree; s != "" {
		n, err := parseSize(s)
		if err != nil || n < 0 {
			return o, "audit_log_min_free", fmt.Errorf("%q is not a size like \"64Mi\" (\"0\" turns the check off)", s)
		}
		o.MinFree = n
		if n == 0 {
			o.MinFree = -1 // audit.Options: negative is off, zero the default
		}
	}
	return o, "", nil
}

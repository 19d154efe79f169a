// Package harden rewrites an allowed spec according to its runtime class and
// reports every field it changed, from what to what.
package harden

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/seccomp"
)

// Change is one field the hardening step changed.
type Change struct {
	Field string `json:"field"`
	From  any    `json:"from"`
	To    any    `json:"to"`
}

// Seccomp handling of a spec that already carries a profile.
const (
	// ExistingStrengthen (the default) replaces containerd's RuntimeDefault
	// with the class's profile and intersects any other own profile with it
	// (seccomp.Strengthen).
	ExistingStrengthen = "strengthen"
	// ExistingKeep keeps the spec's own profile as it is: weaker than the
	// class's wherever the own profile allows more (RuntimeDefault allows
	// ptrace and process_vm_readv/writev).
	ExistingKeep    = "keep"
	ExistingReplace = "replace"
	ExistingReject  = "reject"
)

// WritablePath is a size-limited tmpfs a read-only container may write to.
type WritablePath struct {
	Path      string
	SizeBytes int64
}

// Options are one class's hardening settings.
type Options struct {
	// UnmaskedProc restores the default /proc masks when "restore".
	UnmaskedProc policy.UnmaskedProc
	// SeccompProfile is applied when the spec has none: "hardened",
	// "runtime-default" or a profile file; "" applies none.
	SeccompProfile string
	// SeccompExisting is what happens to a spec's own profile: strengthen,
	// keep or replace (reject is a policy check).
	SeccompExisting string
	// SeccompAudit turns the applied profile's denials into log actions.
	SeccompAudit bool
	// Capabilities is the allowlist every capability set is intersected with.
	Capabilities []string
	// NoNewPrivileges sets process.noNewPrivileges.
	NoNewPrivileges bool
	// ReadOnlyRootfs makes root.readonly true, with WritablePaths as tmpfs.
	ReadOnlyRootfs bool
	WritablePaths  []WritablePath
	// ReadOnlySysfs mounts /sys and /sys/fs/cgroup read-only.
	ReadOnlySysfs bool
}

// DefaultCapabilities is CRI-O's default set: what the hardened class keeps
// of a container's capabilities by default.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_KILL",
}

// DefaultWritablePaths are the tmpfs mounts a read-only container gets by
// default: what most programs write to (temporary files, pid files, sockets).
var DefaultWritablePaths = []WritablePath{
	{Path: "/tmp", SizeBytes: 64 << 20},
	{Path: "/run", SizeBytes: 16 << 20},
	{Path: "/var/run", SizeBytes: 16 << 20},
}

// runAliases are paths that are one directory in most images (/var/run is a
// symlink to /run): a volume at either covers both.
var runAliases = map[string]string{"/run": "/var/run", "/var/run": "/run"}

// RestrictedCapabilities is the restricted preset.
var RestrictedCapabilities = []string{"CAP_NET_BIND_SERVICE"}

// DefaultOptions returns the hardening defaults.
func DefaultOptions() *Options {
	return &Options{
		UnmaskedProc:    policy.UnmaskedProcRestore,
		SeccompProfile:  seccomp.ProfileHardened,
		SeccompExisting: ExistingStrengthen,
		Capabilities:    DefaultCapabilities,
		NoNewPrivileges: true,
		ReadOnlyRootfs:  true,
		WritablePaths:   slices.Clone(DefaultWritablePaths),
		ReadOnlySysfs:   true,
	}
}

// Apply hardens spec in place and returns the changes. With dryRun (audit
// mode) the spec is left as it is and the changes are what enforce mode would
// make. On an error (a seccomp profile that cannot be built) the spec may be
// partly changed and must be discarded.
func Apply(spec *specs.Spec, o *Options, dryRun bool) ([]Change, error) {
	work := spec
	if dryRun {
		c, err := clone(spec)
		if err != nil {
			return nil, err
		}
		work = c
	}
	var changes []Change
	for _, m := range mutations {
		ch, err := m(work, o)
		if err != nil {
			return nil, err
		}
		changes = append(changes, ch...)
	}
	return changes, nil
}

type mutation func(spec *specs.Spec, o *Options) ([]Change, error)

// mutations run in order; seccomp comes after capabilities, whose final sets
// decide the profile's capability-conditional rules.
var mutations = []mutation{restoreProcMasks, readOnlySysfs, capabilities, noNewPrivileges, readOnlyRootfs, applySeccomp, recursiveReadOnlyBinds, denyDevicesByDefault}

func linux(spec *specs.Spec) *specs.Linux {
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	return spec.Linux
}

// restoreProcMasks adds every one of containerd's default masked and
// read-only paths a spec lacks: an unmasked /proc (procMount: Unmasked) gets
// them all, a partly masked one the missing ones.
func restoreProcMasks(spec *specs.Spec, o *Options) ([]Change, error) {
	if o.UnmaskedProc != policy.UnmaskedProcRestore {
		return nil, nil
	}
	masked, readonly := DefaultProcMasks()
	l := linux(spec)
	var changes []Change
	for _, list := range []struct {
		field    string
		paths    *[]string
		defaults []string
	}{{"linux.maskedPaths", &l.MaskedPaths, masked}, {"linux.readonlyPaths", &l.ReadonlyPaths, readonly}} {
		merged := slices.Clone(*list.paths)
		for _, p := range list.defaults {
			if !slices.Contains(merged, p) {
				merged = append(merged, p)
			}
		}
		if len(merged) == len(*list.paths) {
			continue
		}
		changes = append(changes, Change{Field: list.field, From: *list.paths, To: merged})
		*list.paths = merged
	}
	return changes, nil
}

// readOnlySysfs makes /sys and /sys/fs/cgroup read-only.
func readOnlySysfs(spec *specs.Spec, o *Options) ([]Change, error) {
	if !o.ReadOnlySysfs {
		return nil, nil
	}
	var changes []Change
	for i, m := range spec.Mounts {
		isSys := m.Destination == "/sys" && m.Type == "sysfs"
		isCgroup := m.Destination == "/sys/fs/cgroup" && (m.Type == "cgroup" || m.Type == "cgroup2")
		// runc reads the last of "ro"/"rw" (and ignores "rro" on sysfs).
		if !isSys && !isCgroup || lastOf(m.Options, "ro", "rw") == "ro" {
			continue
		}
		opts := slices.DeleteFunc(slices.Clone(m.Options), func(s string) bool { return s == "rw" || s == "ro" })
		opts = append(opts, "ro")
		changes = append(changes, Change{Field: fmt.Sprintf("mounts[%q].options", m.Destination), From: m.Options, To: opts})
		spec.Mounts[i].Options = opts
	}
	return changes, nil
}

func hasOption(opts []string, o string) bool { return slices.Contains(opts, o) }

// ApplyExec hardens an exec process the way its container's process was
// hardened (capabilities, noNewPrivileges): CRI builds exec processes from
// the spec it generated, before the shim hardened it.
func ApplyExec(p *specs.Process, o *Options, dryRun bool) []Change {
	if dryRun {
		c := *p
		if p.Capabilities != nil {
			caps := *p.Capabilities
			c.Capabilities = &caps
		}
		p = &c
	}
	return append(processCapabilities(p, o), processNoNewPrivileges(p, o)...)
}

// capabilities intersects every capability set with the allowlist and empties
// the ambient set.
func capabilities(spec *specs.Spec, o *Options) ([]Change, error) {
	if spec.Process == nil {
		return nil, nil
	}
	if spec.Process.Capabilities == nil {
		// runc keeps every capability of the node's root for a container
		// without capability sets (libcontainer/capabilities New: a nil
		// config applies nothing). An exec's nil set is different (runc gives
		// it the container's, libcontainer/container_linux.go newInitConfig),
		// so ApplyExec leaves it nil.
		c := &specs.LinuxCapabilities{Bounding: slices.Clone(o.Capabilities),
			Effective: slices.Clone(o.Capabilities), Permitted: slices.Clone(o.Capabilities)}
		spec.Process.Capabilities = c
		return []Change{{Field: "process.capabilities", From: nil, To: c}}, nil
	}
	return processCapabilities(spec.Process, o), nil
}

func processCapabilities(p *specs.Process, o *Options) []Change {
	if p.Capabilities == nil {
		return nil
	}
	allow := map[string]bool{}
	for _, c := range o.Capabilities {
		allow[c] = true
	}
	c := p.Capabilities
	var changes []Change
	for _, set := range []struct {
		name string
		caps *[]string
	}{{"bounding", &c.Bounding}, {"effective", &c.Effective}, {"permitted", &c.Permitted}, {"inheritable", &c.Inheritable}, {"ambient", &c.Ambient}} {
		var kept, dropped []string
		for _, x := range *set.caps {
			if allow[x] && set.name != "ambient" {
				kept = append(kept, x)
			} else {
				dropped = append(dropped, x)
			}
		}
		if len(dropped) == 0 {
			continue
		}
		sort.Strings(dropped)
		changes = append(changes, Change{Field: "process.capabilities." + set.name, From: *set.caps, To: kept})
		*set.caps = kept
	}
	return changes
}

// noNewPrivileges sets process.noNewPrivileges: setuid binaries and file
// capabilities no longer grant privilege.
func noNewPrivileges(spec *specs.Spec, o *Options) ([]Change, error) {
	if spec.Process == nil {
		return nil, nil
	}
	return processNoNewPrivileges(spec.Process, o), nil
}

func processNoNewPrivileges(p *specs.Process, o *Options) []Change {
	if !o.NoNewPrivileges || p.NoNewPrivileges {
		return nil
	}
	p.NoNewPrivileges = true
	return []Change{{Field: "process.noNewPrivileges", From: false, To: true}}
}

// readOnlyRootfs makes the root file system read-only and mounts the class's
// writable paths as size-limited tmpfs (nosuid, nodev). A pod sandbox (the
// pause container, which never writes) gets none: its root is read-only all
// the same, and runc makes three mounts fewer for every pod.
func readOnlyRootfs(spec *specs.Spec, o *Options) ([]Change, error) {
	if !o.ReadOnlyRootfs || spec.Root == nil {
		return nil, nil
	}
	var changes []Change
	if !spec.Root.Readonly {
		spec.Root.Readonly = true
		changes = append(changes, Change{Field: "root.readonly", From: false, To: true})
	}
	paths := o.WritablePaths
	if (&policy.Input{Spec: spec}).IsSandbox() {
		paths = nil
	}
	existing := slices.Clone(spec.Mounts)
	for _, w := range paths {
		// A mount at the path or above it (a volume) is writable already; mounts
		// below it (e.g. /var/run/secrets under /var/run) must stay on top, so
		// the tmpfs goes before the first of them.
		at := len(spec.Mounts)
		skip := false
		for _, m := range existing {
			if within(w.Path, m.Destination) || (runAliases[w.Path] != "" && within(runAliases[w.Path], m.Destination)) {
				skip = true
				break
			}
		}
		for i, m := range spec.Mounts {
			if within(m.Destination, w.Path) {
				at = i
				break
			}
		}
		if skip {
			continue
		}
		m := specs.Mount{Destination: w.Path, Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "nodev", "mode=1777", fmt.Sprintf("size=%d", w.SizeBytes)}}
		spec.Mounts = slices.Insert(spec.Mounts, at, m)
		changes = append(changes, Change{Field: fmt.Sprintf("mounts[%q]", w.Path), From: nil, To: m})
	}
	return changes, nil
}

// applySeccomp gives a spec without a profile the class's profile, and
// replaces or strengthens the spec's own when the class says so.
func applySeccomp(spec *specs.Spec, o *Options) ([]Change, error) {
	if o.SeccompProfile == "" {
		return nil, nil
	}
	l := linux(spec)
	if l.Seccomp != nil && o.SeccompExisting == ExistingStrengthen {
		return strengthenSeccomp(spec, l, o)
	}
	if l.Seccomp != nil && o.SeccompExisting != ExistingReplace {
		return nil, nil
	}
	p, err := seccomp.Build(o.SeccompProfile, spec, o.SeccompAudit)
	if err != nil {
		return nil, err
	}
	from := "none"
	if l.Seccomp != nil {
		from = describe("the spec's profile", l.Seccomp)
	}
	name := o.SeccompProfile
	if o.SeccompAudit {
		name += " (audit: denials logged)"
	}
	l.Seccomp = p
	return []Change{{Field: "linux.seccomp", From: from, To: describe(name, p)}}, nil
}

// strengthenSeccomp handles a spec's own profile under "strengthen":
// containerd's RuntimeDefault is replaced by the class's profile, any other
// profile is intersected with it (deny rules win), so a pod asking for a
// profile never gets weaker protection than one asking for none. In audit
// (seccomp.audit) RuntimeDefault is intersected too: its denials stay
// enforced and only the class's own additions are logged.
func strengthenSeccomp(spec *specs.Spec, l *specs.Linux, o *Options) ([]Change, error) {
	own := l.Seccomp
	class, err := seccomp.Build(o.SeccompProfile, spec, o.SeccompAudit)
	if err != nil {
		return nil, err
	}
	if sameProfile(own, class) {
		return nil, nil // already the class's (a second pass)
	}
	name := o.SeccompProfile
	if o.SeccompAudit {
		name += " (audit: denials logged)"
	}
	if seccomp.IsRuntimeDefault(own) && !o.SeccompAudit {
		l.Seccomp = class
		return []Change{{Field: "linux.seccomp", From: describe("containerd RuntimeDefault", own), To: describe(name, class)}}, nil
	}
	p, notes, err := seccomp.Strengthen(own, class)
	if err != nil {
		return nil, err
	}
	if sameProfile(own, p) {
		return nil, nil // already strengthened (a second pass)
	}
	to := fmt.Sprintf("own profile strengthened with %s: %d rules", name, len(p.Syscalls))
	if len(notes) > 0 {
		const maxNotes = 5
		shown := notes[:min(len(notes), maxNotes)]
		to += ", notes: " + strings.Join(shown, "; ")
		if len(notes) > maxNotes {
			to += fmt.Sprintf(" (+%d more)", len(notes)-maxNotes)
		}
	}
	from := describe("the spec's profile", own)
	if seccomp.IsRuntimeDefault(own) {
		from = describe("containerd RuntimeDefault", own)
	}
	l.Seccomp = p
	return []Change{{Field: "linux.seccomp", From: from, To: to}}, nil
}

// sameProfile reports whether two profiles are the same filter, field for
// field.
func sameProfile(a, b *specs.LinuxSeccomp) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func describe(name string, p *specs.LinuxSeccomp) string {
	return fmt.Sprintf("%s: default %s, %d rules, %d architectures", name, p.DefaultAction, len(p.Syscalls), len(p.Architectures))
}

func clone(s *specs.Spec) (*specs.Spec, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var c specs.Spec
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

var defaultMasks = sync.OnceValues(func() ([]string, []string) {
	ctx := namespaces.WithNamespace(context.Background(), "default")
	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "defaults"})
	if err != nil || s.Linux == nil {
		// GenerateSpec only fails on a missing namespace; keep a safe floor.
		return []string{"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
				"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
				"/sys/firmware", "/sys/devices/virtual/powercap", "/proc/scsi"},
			[]string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	}
	return s.Linux.MaskedPaths, s.Linux.ReadonlyPaths
})

// DefaultProcMasks returns containerd's default masked and read-only paths.
func DefaultProcMasks() (masked, readonly []string) {
	m, r := defaultMasks()
	return slices.Clone(m), slices.Clone(r)
}

// within reports whether path is dir or below it, by path components.
func within(path, dir string) bool {
	path, dir = filepath.Clean(path), filepath.Clean(dir)
	return path == dir || dir == "/" || strings.HasPrefix(path, dir+"/")
}

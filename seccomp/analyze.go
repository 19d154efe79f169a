package seccomp

import (
	"slices"
	"sync"

	containerdseccomp "github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// IsDeny reports whether a seccomp action refuses the call: ERRNO, KILL,
// KILL_PROCESS, KILL_THREAD and TRAP. ALLOW, LOG, NOTIFY (a user-space agent
// decides) and TRACE (a tracer decides) let it through, as does any action
// this package does not know.
func IsDeny(a specs.LinuxSeccompAction) bool {
	switch a {
	case specs.ActErrno, specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap:
		return true
	}
	return false
}

// Blocks reports whether profile p blocks syscall whatever its arguments.
// It is conservative: the call counts as blocked only if no rule with a
// non-deny action names it (conditional or not) and either the default action
// or an unconditional rule naming it denies. A nil profile blocks nothing.
func Blocks(p *specs.LinuxSeccomp, syscall string) bool {
	if p == nil {
		return false
	}
	denied := IsDeny(p.DefaultAction)
	for i := range p.Syscalls {
		r := &p.Syscalls[i]
		if !slices.Contains(r.Names, syscall) {
			continue
		}
		if !IsDeny(r.Action) {
			return false
		}
		if len(r.Args) == 0 {
			denied = true
		}
	}
	return denied
}

// required lists the system calls a profile must block to count as a seccomp
// profile (policy.require_seccomp). Each is blocked both by containerd's
// RuntimeDefault and by moby's default profile for a container without
// capabilities — and for one with Pod Security's baseline capabilities, so a
// RuntimeDefault pod always passes — and by this project's hardened profile;
// TestRequiredSyscalls checks all three against the linked profiles, and that
// every capability-gated call both defaults block is here or exempted there.
var required = []string{
	// loading kernel code
	"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
	// node-wide state: reboot, swap, process accounting, the clock, the kernel
	// log, quotas
	"reboot", "swapon", "swapoff", "acct", "settimeofday", "stime", "clock_settime", "clock_settime64",
	"syslog", "quotactl", "quotactl_fd", "lookup_dcookie",
	// direct hardware port access
	"iopl", "ioperm",
	// mounts, old and new API
	"mount", "umount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr",
	// leaving the container: joining namespaces, opening files by handle
	// (CVE-2014-3519 "shocker")
	"setns", "open_by_handle_at",
	// reaching into other processes
	"kcmp", "pidfd_getfd", "process_madvise",
	// kernel attack surface behind many escapes and LPEs
	"bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup", "fanotify_init",
}

// Required returns the system calls a profile must block to count as a
// seccomp profile, in a fixed order.
func Required() []string { return slices.Clone(required) }

// LetThrough returns the required system calls p does not block (see Blocks),
// in Required's order; all of them for a nil profile.
func LetThrough(p *specs.LinuxSeccomp) []string {
	if p == nil {
		return Required()
	}
	type state struct{ nonDeny, uncondDeny bool }
	seen := make(map[string]*state, len(required))
	for _, n := range required {
		seen[n] = &state{}
	}
	for i := range p.Syscalls {
		r := &p.Syscalls[i]
		for _, n := range r.Names {
			st := seen[n]
			if st == nil {
				continue
			}
			if !IsDeny(r.Action) {
				st.nonDeny = true
			} else if len(r.Args) == 0 {
				st.uncondDeny = true
			}
		}
	}
	def := IsDeny(p.DefaultAction)
	var out []string
	for _, n := range required {
		st := seen[n]
		if st.nonDeny || !(def || st.uncondDeny) {
			out = append(out, n)
		}
	}
	return out
}

// runtimeDefaultRef is what IsRuntimeDefault compares with: the names
// containerd's RuntimeDefault allows a container without capabilities, the
// names it allows only for some capability, and its architectures.
var runtimeDefaultRef = sync.OnceValue(func() (ref struct {
	allowed, capGated map[string]bool
	arches            []specs.Arch
}) {
	none := containerdseccomp.DefaultProfile(capsSpec(nil))
	all := containerdseccomp.DefaultProfile(capsSpec(allCapabilities))
	ref.allowed = allowedNames(none)
	ref.capGated = map[string]bool{}
	for n := range allowedNames(all) {
		if !ref.allowed[n] {
			ref.capGated[n] = true
		}
	}
	for n := range ref.capGated {
		delete(ref.allowed, n)
	}
	ref.arches = slices.Clone(none.Architectures)
	slices.Sort(ref.arches)
	return ref
})

// runtimeDefaultMinJaccard is how closely a profile's allowed names must
// match containerd's RuntimeDefault list to be taken for it: containerd
// releases add and drop a few names, a hand-written profile differs by far
// more.
const runtimeDefaultMinJaccard = 0.9

// IsRuntimeDefault reports whether p is containerd's RuntimeDefault profile
// as any containerd 2.x generates it (for any capability set, on any kernel):
// default action ERRNO with EPERM (containerd leaves defaultErrnoRet unset;
// moby's default profile, which containerd's follows almost name for name,
// sets it to 1, and that is what tells them apart), containerd's
// architectures for this machine, only ALLOW and ERRNO rules, and allowed names (those only a
// capability unlocks left aside) overlapping containerd's list with a Jaccard
// index of at least 0.9.
//
// Recognition only chooses between replacing the profile with the class's
// and intersecting it with the class's (Strengthen); both results are at
// least as strong as the class profile, so a profile made to look like
// RuntimeDefault gains nothing from being taken for it.
func IsRuntimeDefault(p *specs.LinuxSeccomp) bool {
	if p == nil || p.DefaultAction != specs.ActErrno || p.DefaultErrnoRet != nil || p.ListenerPath != "" || len(p.Flags) > 0 {
		return false
	}
	ref := runtimeDefaultRef()
	arches := slices.Clone(p.Architectures)
	slices.Sort(arches)
	if !slices.Equal(slices.Compact(arches), ref.arches) {
		return false
	}
	for i := range p.Syscalls {
		if a := p.Syscalls[i].Action; a != specs.ActAllow && a != specs.ActErrno {
			return false
		}
	}
	names := allowedNames(p)
	for n := range ref.capGated {
		delete(names, n)
	}
	inter := 0
	for n := range names {
		if ref.allowed[n] {
			inter++
		}
	}
	union := len(names) + len(ref.allowed) - inter
	return union > 0 && float64(inter)/float64(union) >= runtimeDefaultMinJaccard
}

// allowedNames returns the names p's non-deny rules mention.
func allowedNames(p *specs.LinuxSeccomp) map[string]bool {
	out := map[string]bool{}
	for i := range p.Syscalls {
		if IsDeny(p.Syscalls[i].Action) {
			continue
		}
		for _, n := range p.Syscalls[i].Names {
			out[n] = true
		}
	}
	return out
}

// capsSpec is a spec holding caps in every capability set.
func capsSpec(caps []string) *specs.Spec {
	c := slices.Clone(caps)
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: c, Effective: c, Permitted: c,
	}}}
}

// allCapabilities is every capability the default profiles know.
var allCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

package seccomp

import (
	"slices"
	"sort"
	"testing"

	containerdseccomp "github.com/containerd/containerd/v2/contrib/seccomp"
	moby "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// baselineCaps is Pod Security's baseline set plus NET_RAW (what the
// policy's baseline level admits); containerdCaps is containerd's default set.
var (
	baselineCaps = []string{"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
		"CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT", "CAP_NET_RAW"}
	containerdCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
)

func mobyDefault(t testing.TB, caps []string) *specs.LinuxSeccomp {
	t.Helper()
	p, err := moby.GetDefaultProfile(capsSpec(caps))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func hardenedFor(t testing.TB, caps []string) *specs.LinuxSeccomp {
	t.Helper()
	p, err := Build(ProfileHardened, capsSpec(caps), false)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func errnoPtr(e uint) *uint { return &e }

func TestBlocks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       *specs.LinuxSeccomp
		syscall string
		want    bool
	}{
		{"nil profile", nil, "mount", false},
		{"deny default, not named", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}, "mount", true},
		{"kill default, not named", &specs.LinuxSeccomp{DefaultAction: specs.ActKillProcess}, "mount", true},
		{"allow default, not named", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, "mount", false},
		{"log default, not named", &specs.LinuxSeccomp{DefaultAction: specs.ActLog}, "mount", false},
		{"deny default, allowed", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "mount"}, Action: specs.ActAllow}}}, "mount", false},
		{"deny default, allowed with a condition", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 3, Value: 0, Op: specs.OpEqualTo}}}}}, "mount", false},
		{"deny default, logged", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActLog}}}, "mount", false},
		{"deny default, handed to an agent", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify}}}, "mount", false},
		{"deny default, traced", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActTrace}}}, "mount", false},
		{"allow default, unconditional deny", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(38)}}}, "mount", true},
		{"allow default, trap", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActTrap}}}, "mount", true},
		{"allow default, conditional deny only", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}}}}, "mount", false},
		{"allow default, unconditional deny and a conditional allow", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno},
				{Names: []string{"mount"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}}}}, "mount", false},
		{"unknown action counts as letting through", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: "SCMP_ACT_SOMETHING"}}}, "mount", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Blocks(tc.p, tc.syscall); got != tc.want {
				t.Fatalf("Blocks = %v, want %v", got, tc.want)
			}
		})
	}
}

// requiredExempt are the calls both default profiles block for a container
// without capabilities, but only behind a capability, that Required leaves
// out, and why.
var requiredExempt = map[string]string{
	"chroot":                  "baseline's CAP_SYS_CHROOT unlocks it in both defaults: requiring it would refuse RuntimeDefault pods",
	"unshare":                 "the danger is in the namespace flags: the hardened profile allows it without them",
	"clone3":                  "blocked with ENOSYS so libc falls back to clone, whose flags are filtered",
	"get_mempolicy":           "NUMA memory policy of the caller (CAP_SYS_NICE): scheduling, not an escape",
	"mbind":                   "NUMA memory policy of the caller (CAP_SYS_NICE): scheduling, not an escape",
	"set_mempolicy":           "NUMA memory policy of the caller (CAP_SYS_NICE): scheduling, not an escape",
	"set_mempolicy_home_node": "NUMA memory policy of the caller (CAP_SYS_NICE): scheduling, not an escape",
	"sethostname":             "the container's own UTS namespace",
	"setdomainname":           "the container's own UTS namespace",
	"vhangup":                 "hangs up the caller's own terminal",
}

// TestRequiredSyscalls derives the required set from the linked default
// profiles so it cannot drift: every required call is blocked by
// containerd's RuntimeDefault and moby's default (no capabilities, and
// baseline capabilities) and by the hardened profile; every call both
// defaults gate behind a capability is required or exempted above.
func TestRequiredSyscalls(t *testing.T) {
	if len(slices.Compact(slices.Sorted(slices.Values(required)))) != len(required) {
		t.Fatal("Required lists a name twice")
	}
	profiles := map[string]*specs.LinuxSeccomp{
		"containerd, no capabilities":       containerdseccomp.DefaultProfile(capsSpec(nil)),
		"containerd, baseline capabilities": containerdseccomp.DefaultProfile(capsSpec(baselineCaps)),
		"containerd, default capabilities":  containerdseccomp.DefaultProfile(capsSpec(containerdCaps)),
		"moby, no capabilities":             mobyDefault(t, nil),
		"moby, baseline capabilities":       mobyDefault(t, baselineCaps),
		"hardened, no capabilities":         hardenedFor(t, nil),
		"hardened, default capabilities":    hardenedFor(t, containerdCaps),
	}
	for name, p := range profiles {
		if lt := LetThrough(p); len(lt) > 0 {
			t.Errorf("%s lets required calls through: %v", name, lt)
		}
		for _, n := range required {
			if !Blocks(p, n) {
				t.Errorf("%s does not block %s", name, n)
			}
		}
	}
	cd0, mb0 := containerdseccomp.DefaultProfile(capsSpec(nil)), mobyDefault(t, nil)
	cdAll, mbAll := containerdseccomp.DefaultProfile(capsSpec(allCapabilities)), mobyDefault(t, allCapabilities)
	var gated []string
	seen := map[string]bool{}
	for _, p := range []*specs.LinuxSeccomp{cdAll, mbAll} {
		for _, r := range p.Syscalls {
			for _, n := range r.Names {
				if !seen[n] && Blocks(cd0, n) && Blocks(mb0, n) && (!Blocks(cdAll, n) || !Blocks(mbAll, n)) {
					gated = append(gated, n)
				}
				seen[n] = true
			}
		}
	}
	sort.Strings(gated)
	for _, n := range gated {
		if !slices.Contains(required, n) && requiredExempt[n] == "" {
			t.Errorf("both default profiles block %s without capabilities (a capability unlocks it): add it to required or to requiredExempt with a reason", n)
		}
	}
	for n := range requiredExempt {
		if !slices.Contains(gated, n) {
			t.Errorf("requiredExempt lists %s, which the default profiles no longer gate behind a capability", n)
		}
		if slices.Contains(required, n) {
			t.Errorf("%s is both required and exempt", n)
		}
	}
	t.Logf("capability-gated in both defaults: %v", gated)
}

func TestLetThrough(t *testing.T) {
	allowAll := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: Required(), Action: specs.ActAllow}}}
	for _, tc := range []struct {
		name string
		p    *specs.LinuxSeccomp
		want []string
	}{
		{"nil", nil, Required()},
		{"allow by default", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, Required()},
		{"deny by default, every name allowed", allowAll, Required()},
		{"deny by default, nothing allowed", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}, nil},
		{"containerd RuntimeDefault, all capabilities", containerdseccomp.DefaultProfile(capsSpec(allCapabilities)),
			[]string{"init_module", "finit_module", "delete_module", "reboot", "acct", "settimeofday", "stime", "clock_settime", "clock_settime64",
				"syslog", "quotactl", "quotactl_fd", "lookup_dcookie", "iopl", "ioperm", "mount", "umount", "umount2", "fsopen", "fsconfig",
				"fsmount", "fspick", "open_tree", "move_mount", "mount_setattr", "setns", "open_by_handle_at", "kcmp", "pidfd_getfd",
				"process_madvise", "bpf", "perf_event_open", "fanotify_init"}},
		{"deny list", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: Required(), Action: specs.ActErrno}}}, nil},
		{"mount allowed with a condition", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mount"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 3, Op: specs.OpEqualTo}}}}}, []string{"mount"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := LetThrough(tc.p)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("LetThrough = %v\nwant %v", got, tc.want)
			}
			for _, n := range required {
				if Blocks(tc.p, n) == slices.Contains(got, n) {
					t.Errorf("%s: LetThrough and Blocks disagree", n)
				}
			}
		})
	}
}

func TestIsRuntimeDefault(t *testing.T) {
	cd := func(caps []string) *specs.LinuxSeccomp { return containerdseccomp.DefaultProfile(capsSpec(caps)) }
	// An older or newer containerd: a few names more or fewer.
	drift := cd(nil)
	drift.Syscalls[0].Names = append(slices.Clone(drift.Syscalls[0].Names[10:]), "new_syscall_1", "new_syscall_2", "new_syscall_3")
	// containerd's profile as CRI puts it into a spec (JSON round trip).
	roundTrip := cd(containerdCaps)
	if b, err := jsonRoundTrip(roundTrip); err != nil {
		t.Fatal(err)
	} else {
		roundTrip = b
	}
	small := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: cd(nil).Architectures,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write", "exit_group", "ptrace"}, Action: specs.ActAllow}}}
	allowAll := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: cd(nil).Architectures}
	native := cd(nil)
	native.Architectures = native.Architectures[:1]
	withErrno := cd(nil)
	withErrno.DefaultErrnoRet = errnoPtr(1)
	withLog := cd(nil)
	withLog.Syscalls = append(withLog.Syscalls, specs.LinuxSyscall{Names: []string{"mount"}, Action: specs.ActLog})
	halved := cd(nil)
	halved.Syscalls[0].Names = halved.Syscalls[0].Names[:len(halved.Syscalls[0].Names)/2]
	for _, tc := range []struct {
		name string
		p    *specs.LinuxSeccomp
		want bool
	}{
		{"containerd, no capabilities", cd(nil), true},
		{"containerd, baseline capabilities", cd(baselineCaps), true},
		{"containerd, default capabilities", cd(containerdCaps), true},
		{"containerd, CAP_SYS_ADMIN", cd([]string{"CAP_SYS_ADMIN"}), true},
		{"containerd, CAP_SYS_PTRACE", cd([]string{"CAP_SYS_PTRACE"}), true},
		{"containerd, all capabilities", cd(allCapabilities), true},
		{"containerd, JSON round trip", roundTrip, true},
		{"another containerd release (10 names fewer, 3 more)", drift, true},
		{"nil", nil, false},
		{"hardened", hardenedFor(t, nil), false},
		{"hardened, default capabilities", hardenedFor(t, containerdCaps), false},
		{"moby default", mobyDefault(t, nil), false},
		{"moby default, all capabilities", mobyDefault(t, allCapabilities), false},
		{"allow all", allowAll, false},
		{"small custom profile", small, false},
		{"containerd's names, native architecture only", native, false},
		{"containerd's names, explicit default errno", withErrno, false},
		{"containerd's names plus a LOG rule", withLog, false},
		{"half of containerd's names", halved, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsRuntimeDefault(tc.p); got != tc.want {
				t.Fatalf("IsRuntimeDefault = %v, want %v", got, tc.want)
			}
		})
	}
}

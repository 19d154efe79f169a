package seccomp

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	containerdseccomp "github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func jsonRoundTrip(p *specs.LinuxSeccomp) (*specs.LinuxSeccomp, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var out specs.LinuxSeccomp
	return &out, json.Unmarshal(b, &out)
}

// eval is what a filter runc builds from p does with one call: an
// unconditional rule overrides conditional ones (a deny among them wins);
// among matching conditional rules strongest picks a deny if there is one,
// otherwise a let-through (so inputs are read at their strongest and results
// at their weakest); no match, the default.
func eval(p *specs.LinuxSeccomp, name string, args [6]uint64, strongest bool) outcome {
	var (
		uncond  []outcome
		matched []outcome
	)
	for _, r := range p.Syscalls {
		if !slices.Contains(r.Names, name) {
			continue
		}
		o := outcome{r.Action, r.ErrnoRet}
		if len(r.Args) == 0 {
			uncond = append(uncond, o)
			continue
		}
		ok := true
		for _, a := range r.Args {
			m, known := matches(a, args[a.Index])
			ok = ok && m && known
		}
		if ok {
			matched = append(matched, o)
		}
	}
	pick := func(os []outcome, deny bool) outcome {
		for _, o := range os {
			if IsDeny(o.action) == deny {
				return o
			}
		}
		return os[0]
	}
	switch {
	case len(uncond) > 0:
		return pick(uncond, true)
	case len(matched) > 0:
		return pick(matched, strongest)
	}
	return outcome{p.DefaultAction, p.DefaultErrnoRet}
}

// allowsUnconditionally: no deny rule names the call, and an unconditional
// let-through rule does, or no rule does and the default lets through.
func allowsUnconditionally(p *specs.LinuxSeccomp, name string) bool {
	named, allowed := false, false
	for _, r := range p.Syscalls {
		if !slices.Contains(r.Names, name) {
			continue
		}
		named = true
		if IsDeny(r.Action) {
			return false
		}
		if len(r.Args) == 0 {
			allowed = true
		}
	}
	return allowed || (!named && !IsDeny(p.DefaultAction))
}

func names(ps ...*specs.LinuxSeccomp) []string {
	set := map[string]bool{}
	for _, p := range ps {
		for _, r := range p.Syscalls {
			for _, n := range r.Names {
				set[n] = true
			}
		}
	}
	for _, n := range append(Required(), "ptrace", "process_vm_readv", "socket", "clone", "clone3", "unshare", "personality", "io_uring_enter", "not_named_anywhere") {
		set[n] = true
	}
	return slices.Sorted(func(yield func(string) bool) {
		for n := range set {
			if !yield(n) {
				return
			}
		}
	})
}

// argSamples are argument vectors that exercise the profiles' conditions:
// socket families, clone/unshare flags, personality values.
var argSamples = func() [][6]uint64 {
	var out [][6]uint64
	for _, a0 := range []uint64{0, unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK, unix.AF_PACKET, unix.AF_ALG, unix.AF_VSOCK, unix.AF_KCM, 45, 100,
		unix.CLONE_NEWUSER, unix.CLONE_NEWNS | uint64(unix.SIGCHLD), unix.CLONE_VM | unix.CLONE_THREAD, unix.CLONE_FS, 0x0008, 0x20000, 0x0040000, 0xffffffff} {
		for _, a1 := range []uint64{0, 1, 2} {
			out = append(out, [6]uint64{a0, a1})
		}
	}
	return out
}()

// strengthenInputs are own profiles of every shape Strengthen handles.
func strengthenOwn(t *testing.T) map[string]*specs.LinuxSeccomp {
	cd := containerdseccomp.DefaultProfile(capsSpec(containerdCaps))
	localhost := containerdseccomp.DefaultProfile(capsSpec(allCapabilities))
	localhost.Architectures = []specs.Arch{specs.ArchX86_64}
	localhost.Syscalls = append(localhost.Syscalls, specs.LinuxSyscall{Names: []string{"keyctl", "userfaultfd", "io_uring_setup", "socket"}, Action: specs.ActAllow})
	every := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: names(cd, hardenedFor(t, nil)), Action: specs.ActAllow}}}
	return map[string]*specs.LinuxSeccomp{
		"containerd RuntimeDefault":              cd,
		"containerd RuntimeDefault, all caps":    containerdseccomp.DefaultProfile(capsSpec(allCapabilities)),
		"moby default":                           mobyDefault(t, nil),
		"moby default, all caps":                 mobyDefault(t, allCapabilities),
		"hardened":                               hardenedFor(t, nil),
		"permissive Localhost (ptrace, socket…)": localhost,
		"allow all by default":                   {DefaultAction: specs.ActAllow},
		"deny by default, every name allowed":    every,
		"log by default":                         {DefaultAction: specs.ActLog},
		"kill by default, a few calls":           {DefaultAction: specs.ActKillProcess, Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write", "exit_group", "ptrace", "mount"}, Action: specs.ActAllow}}},
		"allow by default, deny list":            denyList(),
		"complex conditions":                     complexConditions(),
		"unconditional deny over conditional allow": {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.AF_INET, Op: specs.OpEqualTo}}},
			{Names: []string{"socket"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(uint(unix.EACCES))}}},
		"agent and tracer": {DefaultAction: specs.ActErrno, ListenerPath: "/run/agent.sock", Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagSpecAllow},
			Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write", "exit_group", "socket"}, Action: specs.ActAllow},
				{Names: []string{"mount", "ptrace"}, Action: specs.ActNotify}, {Names: []string{"kcmp", "getpid"}, Action: specs.ActTrace}}},
	}
}

func denyList() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"socket"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(uint(unix.EAFNOSUPPORT)), Args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.AF_INET6, Op: specs.OpEqualTo}}},
		{Names: []string{"socket"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(uint(unix.EAFNOSUPPORT)), Args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.AF_PACKET, Op: specs.OpEqualTo}}},
		{Names: []string{"personality"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x0040000, Op: specs.OpEqualTo}}},
		{Names: []string{"chmod"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0o4000, ValueTwo: 0o4000, Op: specs.OpMaskedEqual}}},
		{Names: []string{"ptrace", "kexec_load"}, Action: specs.ActKillProcess},
	}}
}

func complexConditions() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"read", "write", "exit_group", "clone", "unshare", "personality"}, Action: specs.ActAllow},
		{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
			{Index: 0, Value: unix.AF_INET, Op: specs.OpEqualTo}, {Index: 1, Value: unix.SOCK_STREAM, Op: specs.OpEqualTo}}},
		{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.AF_UNIX, Op: specs.OpEqualTo}}},
	}}
}

func strengthenClasses(t *testing.T) map[string]*specs.LinuxSeccomp {
	audited := hardenedFor(t, containerdCaps)
	Audit(audited)
	return map[string]*specs.LinuxSeccomp{
		"hardened":                       hardenedFor(t, nil),
		"hardened, default capabilities": hardenedFor(t, containerdCaps),
		"hardened, audit":                audited,
		"runtime-default":                containerdseccomp.DefaultProfile(capsSpec(nil)),
		"allow-by-default class file":    denyList(),
	}
}

// TestStrengthenProperties: for every own/class pair and every call either
// names, the result blocks what either blocks (Blocks), allows
// unconditionally what both allow unconditionally, and — evaluated per
// argument vector — denies whenever either input denies; no emitted rule
// has two conditions on one argument index (runc would OR them).
func TestStrengthenProperties(t *testing.T) {
	for on, own := range strengthenOwn(t) {
		for cn, class := range strengthenClasses(t) {
			t.Run(on+" × "+cn, func(t *testing.T) {
				res, notes, err := Strengthen(own, class)
				if err != nil {
					t.Fatal(err)
				}
				if res.ListenerPath != "" || res.ListenerMetadata != "" || !slices.Equal(res.Flags, class.Flags) || !slices.Equal(res.Architectures, class.Architectures) {
					t.Errorf("listener %q flags %v architectures %v", res.ListenerPath, res.Flags, res.Architectures)
				}
				if IsDeny(class.DefaultAction) && (res.DefaultAction != class.DefaultAction || errnoOf(res.DefaultErrnoRet) != errnoOf(class.DefaultErrnoRet)) {
					t.Errorf("default %s/%d, want the class's %s", res.DefaultAction, errnoOf(res.DefaultErrnoRet), class.DefaultAction)
				}
				for _, r := range res.Syscalls {
					idx := map[uint]bool{}
					for _, a := range r.Args {
						if idx[a.Index] {
							t.Errorf("rule %v has two conditions on argument %d", r.Names, a.Index)
						}
						idx[a.Index] = true
					}
					if r.Action == specs.ActNotify {
						t.Errorf("rule %v hands calls to a dropped agent", r.Names)
					}
				}
				for _, n := range names(own, class) {
					if (Blocks(own, n) || Blocks(class, n)) && !Blocks(res, n) {
						t.Errorf("%s: blocked by an input, not by the result", n)
					}
					if Blocks(class, n) && Blocks(res, n) {
						want, got := eval(class, n, [6]uint64{}, true), eval(res, n, [6]uint64{}, false)
						if got.action != want.action || errnoOf(got.errno) != errnoOf(want.errno) {
							t.Errorf("%s: blocked with %s/%d, want the class's %s/%d", n, got.action, errnoOf(got.errno), want.action, errnoOf(want.errno))
						}
					}
					if allowsUnconditionally(own, n) && allowsUnconditionally(class, n) && !allowsUnconditionally(res, n) && !ownNotify(own, n) {
						t.Errorf("%s: both allow it unconditionally, the result does not", n)
					}
					for _, args := range argSamples {
						o, c, r := eval(own, n, args, true), eval(class, n, args, true), eval(res, n, args, false)
						if ownNotify(own, n) {
							o = outcome{action: specs.ActErrno}
						}
						if (IsDeny(o.action) || IsDeny(c.action)) && !IsDeny(r.action) {
							t.Errorf("%s%v: own %s, class %s, result %s", n, args[:2], o.action, c.action, r.action)
						}
					}
				}
				t.Logf("%d rules, notes %q", len(res.Syscalls), notes)
			})
		}
	}
}

func ownNotify(p *specs.LinuxSeccomp, name string) bool {
	for _, r := range p.Syscalls {
		if r.Action == specs.ActNotify && slices.Contains(r.Names, name) {
			return true
		}
	}
	return p.DefaultAction == specs.ActNotify
}

func TestStrengthenCases(t *testing.T) {
	hardened := hardenedFor(t, containerdCaps)
	// socketFamilies are the families socket(2) is let through for, of 0..63.
	socketFamilies := func(p *specs.LinuxSeccomp) []uint64 {
		var vals []uint64
		for v := uint64(0); v < 64; v++ {
			if !IsDeny(eval(p, "socket", [6]uint64{v}, false).action) {
				vals = append(vals, v)
			}
		}
		return vals
	}
	// hardened's: AF_UNSPEC (not creatable), AF_UNIX, AF_INET, AF_INET6, AF_NETLINK
	families := []uint64{0, unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK}

	t.Run("allow-all own profile behaves as the class profile", func(t *testing.T) {
		res, notes, err := Strengthen(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, hardened)
		if err != nil || len(notes) > 0 {
			t.Fatal(err, notes)
		}
		for _, n := range names(hardened) {
			for _, args := range argSamples {
				want, got := eval(hardened, n, args, false), eval(res, n, args, false)
				if IsDeny(want.action) != IsDeny(got.action) || (IsDeny(want.action) && errnoOf(want.errno) != errnoOf(got.errno)) {
					t.Errorf("%s%v: %s/%d, hardened %s/%d", n, args[:1], got.action, errnoOf(got.errno), want.action, errnoOf(want.errno))
				}
			}
		}
	})
	t.Run("socket families: containerd's range and list ∩ hardened's list", func(t *testing.T) {
		res, _, err := Strengthen(containerdseccomp.DefaultProfile(capsSpec(containerdCaps)), hardened)
		if err != nil {
			t.Fatal(err)
		}
		if vals := socketFamilies(res); !slices.Equal(vals, families) {
			t.Fatalf("socket allowed for %v, want %v", vals, families)
		}
	})
	t.Run("socket families: an allow-by-default deny list subtracts", func(t *testing.T) {
		res, notes, err := Strengthen(denyList(), hardened)
		if err != nil {
			t.Fatal(err)
		}
		if vals := socketFamilies(res); !slices.Equal(vals, []uint64{0, unix.AF_UNIX, unix.AF_INET, unix.AF_NETLINK}) {
			t.Fatalf("socket allowed for %v, want AF_UNIX, AF_INET, AF_NETLINK", vals)
		}
		// personality: hardened allows a list of values, own denies one of
		// them — expressible; chmod: hardened allows it, own denies setuid
		// modes by mask — not expressible under a deny default.
		if a := eval(res, "personality", [6]uint64{0x0008}, false); IsDeny(a.action) {
			t.Errorf("personality(0x8) %s", a.action)
		}
		if !Blocks(res, "chmod") || !strings.Contains(strings.Join(notes, "|"), "chmod: the own profile allows by default") {
			t.Errorf("chmod not denied with a note: %q", notes)
		}
		if a := eval(res, "ptrace", [6]uint64{}, false); a.action != specs.ActErrno {
			t.Errorf("ptrace %s: the class's errno wins over the own kill", a.action)
		}
	})
	t.Run("socket allowed unconditionally by own: the class's list", func(t *testing.T) {
		own := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"socket", "read", "ptrace", "process_vm_readv"}, Action: specs.ActAllow}}}
		res, _, err := Strengthen(own, hardened)
		if err != nil {
			t.Fatal(err)
		}
		if vals := socketFamilies(res); !slices.Equal(vals, families) {
			t.Fatalf("socket allowed for %v, want %v", vals, families)
		}
		for _, n := range []string{"ptrace", "process_vm_readv"} {
			if !Blocks(res, n) {
				t.Errorf("%s let through", n)
			}
		}
		if !allowsUnconditionally(res, "read") || !Blocks(res, "write") { // own does not allow write
			t.Errorf("read/write: %+v", res.Syscalls)
		}
	})
	t.Run("io_uring and clone3 keep ENOSYS", func(t *testing.T) {
		res, _, err := Strengthen(containerdseccomp.DefaultProfile(capsSpec(allCapabilities)), hardened)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"io_uring_setup", "io_uring_enter", "clone3"} {
			if a := eval(res, n, [6]uint64{}, false); a.action != specs.ActErrno || errnoOf(a.errno) != uint(unix.ENOSYS) {
				t.Errorf("%s: %s/%d", n, a.action, errnoOf(a.errno))
			}
		}
		// clone: containerd (all caps) allows it unconditionally, hardened
		// only without namespace flags.
		if a := eval(res, "clone", [6]uint64{unix.CLONE_NEWUSER}, false); !IsDeny(a.action) {
			t.Errorf("clone(CLONE_NEWUSER) %s", a.action)
		}
		if a := eval(res, "clone", [6]uint64{unix.CLONE_VM | unix.CLONE_THREAD}, false); IsDeny(a.action) {
			t.Errorf("clone(thread) %s", a.action)
		}
	})
	t.Run("masked flags: both masks", func(t *testing.T) {
		own := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"unshare"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.CLONE_FS, Op: specs.OpMaskedEqual}}}}}
		res, _, err := Strengthen(own, hardened)
		if err != nil {
			t.Fatal(err)
		}
		for arg, deny := range map[uint64]bool{0: false, unix.CLONE_FILES: false, unix.CLONE_FS: true, unix.CLONE_NEWNET: true} {
			if a := eval(res, "unshare", [6]uint64{arg}, false); IsDeny(a.action) != deny {
				t.Errorf("unshare(%#x) %s", arg, a.action)
			}
		}
	})
	t.Run("conditions that cannot be combined: denied with a note", func(t *testing.T) {
		res, notes, err := Strengthen(complexConditions(), hardened)
		if err != nil {
			t.Fatal(err)
		}
		if !Blocks(res, "socket") || !strings.Contains(strings.Join(notes, "|"), "socket: argument conditions") {
			t.Errorf("socket: notes %q", notes)
		}
	})
	t.Run("agent, tracer and flags are dropped with notes", func(t *testing.T) {
		own := strengthenOwn(t)["agent and tracer"]
		res, notes, err := Strengthen(own, hardened)
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(notes, "|")
		for _, want := range []string{"listenerPath dropped", "SECCOMP_FILTER_FLAG_SPEC_ALLOW: own profile flags dropped", "mount, ptrace: SCMP_ACT_NOTIFY"} {
			if !strings.Contains(all, want) {
				t.Errorf("notes %q lack %q", notes, want)
			}
		}
		if res.ListenerPath != "" || len(res.Flags) != 0 || !Blocks(res, "mount") {
			t.Errorf("result %+v", res)
		}
		if a := eval(res, "getpid", [6]uint64{}, false); a.action != specs.ActTrace {
			t.Errorf("getpid %s: own traces it, hardened allows it", a.action)
		}
	})
	t.Run("nil profiles", func(t *testing.T) {
		if _, _, err := Strengthen(nil, hardened); err == nil {
			t.Error("nil own accepted")
		}
		if _, _, err := Strengthen(hardened, nil); err == nil {
			t.Error("nil class accepted")
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		own := containerdseccomp.DefaultProfile(capsSpec(containerdCaps))
		a, _, _ := Strengthen(own, hardened)
		b, _, _ := Strengthen(own, hardened)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Error("two runs differ")
		}
	})
}

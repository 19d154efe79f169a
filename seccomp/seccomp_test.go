package seccomp

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestHardenedJSONUpToDate: hardened.json is generated (go generate ./seccomp)
// and must match what the code and additions.json produce.
func TestHardenedJSONUpToDate(t *testing.T) {
	p, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(p, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(b, '\n'), hardenedJSON) {
		t.Fatal("seccomp/hardened.json is out of date: run `go generate ./seccomp`")
	}
}

func TestAdditionsAreDocumented(t *testing.T) {
	add, err := Additions()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range add {
		if a.Action == specs.ActAllow && !strings.Contains(a.Names[0], "clone") && !strings.Contains(a.Names[0], "unshare") {
			continue // an allowance narrowing a base rule; Additions checks it has a comment
		}
		if !strings.Contains(a.Comment, "CVE-") && !strings.Contains(a.Comment, "escape") {
			t.Errorf("rule %v: comment should name the CVE or escape it stops: %q", a.Names, a.Comment)
		}
	}
}

// action evaluates a profile for one syscall the way the kernel filter runc
// builds does for these rule shapes: the first rule naming the syscall whose
// argument comparisons all hold decides; otherwise the default action.
func action(p *specs.LinuxSeccomp, name string, arg0 uint64) (specs.LinuxSeccompAction, uint) {
	for _, r := range p.Syscalls {
		if !contains(r.Names, name) {
			continue
		}
		ok := true
		for _, a := range r.Args {
			if a.Index != 0 {
				continue
			}
			switch a.Op {
			case specs.OpEqualTo:
				ok = ok && arg0 == a.Value
			case specs.OpNotEqual:
				ok = ok && arg0 != a.Value
			case specs.OpLessThan:
				ok = ok && arg0 < a.Value
			case specs.OpMaskedEqual:
				ok = ok && arg0&a.Value == a.ValueTwo
			default:
				ok = false
			}
		}
		if ok {
			errno := uint(0)
			if r.ErrnoRet != nil {
				errno = *r.ErrnoRet
			}
			return r.Action, errno
		}
	}
	errno := uint(0)
	if p.DefaultErrnoRet != nil {
		errno = *p.DefaultErrnoRet
	}
	return p.DefaultAction, errno
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// allCaps is a spec holding every capability (the worst case for the
// capability-conditional base rules).
func allCaps() *specs.Spec {
	caps := []string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH", "CAP_SYS_MODULE",
		"CAP_SYS_BOOT", "CAP_SYSLOG", "CAP_SYS_TIME", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN", "CAP_SYS_PACCT", "CAP_SYS_TTY_CONFIG"}
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}}}
}

func TestHardenedBlocksEvenWithCapabilities(t *testing.T) {
	for name, spec := range map[string]*specs.Spec{"no caps": nil, "all caps": allCaps()} {
		p, err := Build(ProfileHardened, spec, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.DefaultAction != specs.ActErrno {
			t.Fatalf("%s: default action %s", name, p.DefaultAction)
		}
		for _, tc := range []struct {
			syscall string
			arg0    uint64
			want    specs.LinuxSeccompAction
			errno   uint
		}{
			{"io_uring_setup", 1, specs.ActErrno, uint(unix.ENOSYS)},
			{"io_uring_enter", 0, specs.ActErrno, uint(unix.ENOSYS)},
			{"clone3", 0, specs.ActErrno, uint(unix.ENOSYS)},
			{"userfaultfd", 0, specs.ActErrno, uint(unix.EPERM)},
			{"keyctl", 0, specs.ActErrno, uint(unix.EPERM)},
			{"add_key", 0, specs.ActErrno, uint(unix.EPERM)},
			{"bpf", 0, specs.ActErrno, uint(unix.EPERM)},
			{"perf_event_open", 0, specs.ActErrno, uint(unix.EPERM)},
			{"ptrace", 16, specs.ActErrno, uint(unix.EPERM)},
			{"process_vm_readv", 1, specs.ActErrno, uint(unix.EPERM)},
			{"pidfd_getfd", 3, specs.ActErrno, uint(unix.EPERM)},
			{"kcmp", 1, specs.ActErrno, uint(unix.EPERM)},
			{"setns", 3, specs.ActErrno, uint(unix.EPERM)},
			{"mount", 0, specs.ActErrno, uint(unix.EPERM)},
			{"fsopen", 0, specs.ActErrno, uint(unix.EPERM)},
			{"fsconfig", 0, specs.ActErrno, uint(unix.EPERM)},
			{"open_tree", 0, specs.ActErrno, uint(unix.EPERM)},
			{"move_mount", 0, specs.ActErrno, uint(unix.EPERM)},
			{"open_by_handle_at", 3, specs.ActErrno, uint(unix.EPERM)},
			{"unshare", unix.CLONE_NEWUSER | unix.CLONE_NEWNS, specs.ActErrno, uint(unix.EPERM)},
			{"unshare", unix.CLONE_NEWNET, specs.ActErrno, uint(unix.EPERM)},
			{"unshare", unix.CLONE_FS, specs.ActAllow, 0},
			{"clone", unix.CLONE_NEWUSER | uint64(unix.SIGCHLD), specs.ActErrno, uint(unix.EPERM)},
			{"clone", unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD, specs.ActAllow, 0},
			{"socket", unix.AF_PACKET, specs.ActErrno, uint(unix.EPERM)},
			{"socket", unix.AF_ALG, specs.ActErrno, uint(unix.EPERM)},
			{"socket", unix.AF_VSOCK, specs.ActErrno, uint(unix.EPERM)},
			{"socket", unix.AF_KCM, specs.ActErrno, uint(unix.EPERM)},
			{"socket", unix.AF_INET, specs.ActAllow, 0},
			{"socket", unix.AF_INET6, specs.ActAllow, 0},
			{"socket", unix.AF_UNIX, specs.ActAllow, 0},
			{"socket", unix.AF_NETLINK, specs.ActAllow, 0},
			{"socket", unix.AF_TIPC, specs.ActErrno, uint(unix.EPERM)},
			{"socket", unix.AF_BLUETOOTH, specs.ActErrno, uint(unix.EPERM)},
			{"personality", 0x0, specs.ActAllow, 0},
			{"personality", 0x0040000, specs.ActErrno, uint(unix.EPERM)}, // ADDR_NO_RANDOMIZE
			{"read", 0, specs.ActAllow, 0},
			{"epoll_wait", 0, specs.ActAllow, 0},
		} {
			got, errno := action(p, tc.syscall, tc.arg0)
			if got != tc.want || (tc.want == specs.ActErrno && errno != tc.errno) {
				t.Errorf("%s: %s(%#x) = %s/%d, want %s/%d", name, tc.syscall, tc.arg0, got, errno, tc.want, tc.errno)
			}
		}
		if runtime.GOARCH == "amd64" && !slices.Equal(p.Architectures, []specs.Arch{specs.ArchX86_64}) {
			t.Errorf("%s: architectures %v, want the native x86_64 only (no x86/x32 compat ABIs)", name, p.Architectures)
		}
	}
}

func TestHardenedStricterThanRuntimeDefault(t *testing.T) {
	h, err := Build(ProfileHardened, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Build(ProfileRuntimeDefault, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		arg0 uint64
	}{{"ptrace", 16}, {"process_vm_readv", 1}, {"socket", unix.AF_PACKET}} {
		if a, _ := action(d, c.name, c.arg0); a != specs.ActAllow {
			t.Errorf("runtime-default does not allow %s(%d) (%s): the comparison is moot", c.name, c.arg0, a)
		}
		if a, _ := action(h, c.name, c.arg0); a == specs.ActAllow {
			t.Errorf("hardened allows %s(%d)", c.name, c.arg0)
		}
	}
}

func TestArm64Profile(t *testing.T) {
	p, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range p.ArchMap {
		if a.Arch == specs.ArchAARCH64 {
			found = true
		}
	}
	if !found {
		t.Fatal("no aarch64 in the profile's architecture map")
	}
}

func TestAuditTurnsDenialsIntoLog(t *testing.T) {
	p, err := Build(ProfileHardened, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultAction != specs.ActLog {
		t.Fatalf("default action %s", p.DefaultAction)
	}
	for _, r := range p.Syscalls {
		if r.Action != specs.ActAllow && r.Action != specs.ActLog {
			t.Fatalf("rule %v keeps action %s", r.Names, r.Action)
		}
	}
}

func TestProfileFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "p.json")
	os.WriteFile(good, []byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"}]}`), 0o644)
	p, err := Build(good, nil, false)
	if err != nil || len(p.Syscalls) != 1 {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{"relative.json", filepath.Join(dir, "missing.json")} {
		if _, err := Build(bad, nil, false); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	broken := filepath.Join(dir, "broken.json")
	os.WriteFile(broken, []byte(`{"defaultAction":`), 0o644)
	if _, err := Build(broken, nil, false); err == nil || !strings.Contains(err.Error(), broken) {
		t.Errorf("broken profile: %v", err)
	}
}

// BenchmarkBuildHardened is the time to build the hardened filter for one
// container (runc then compiles and installs it).
func BenchmarkBuildHardened(b *testing.B) {
	spec := allCaps()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Build(ProfileHardened, spec, false); err != nil {
			b.Fatal(err)
		}
	}
}

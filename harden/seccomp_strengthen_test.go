package harden

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	containerdseccomp "github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/seccomp"
)

// localhostProfile is a permissive custom profile a pod could bring
// (seccompProfile: Localhost): deny by default, containerd's names plus
// ptrace and process_vm_readv, native architecture only.
func localhostProfile() *specs.LinuxSeccomp {
	p := containerdseccomp.DefaultProfile(criSpec())
	p.Architectures = []specs.Arch{specs.ArchX86_64}
	p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"ptrace", "process_vm_readv", "keyctl"}, Action: specs.ActAllow})
	return p
}

func seccompChange(t *testing.T, ch []Change) Change {
	t.Helper()
	for _, c := range ch {
		if c.Field == "linux.seccomp" {
			return c
		}
	}
	t.Fatalf("no linux.seccomp change in %v", fields(ch))
	return Change{}
}

func TestSeccompExisting(t *testing.T) {
	for _, tc := range []struct {
		name     string
		own      func() *specs.LinuxSeccomp
		existing string
		audit    bool
		dryRun   bool
		// check inspects the resulting profile and the change ("" from/to: no change).
		from, to string
		check    func(t *testing.T, s *specs.Spec, own *specs.LinuxSeccomp)
	}{
		{name: "default: RuntimeDefault replaced by hardened",
			own:  func() *specs.LinuxSeccomp { return containerdseccomp.DefaultProfile(criSpec()) },
			from: "containerd RuntimeDefault: default SCMP_ACT_ERRNO", to: "hardened: default SCMP_ACT_ERRNO",
			check: func(t *testing.T, s *specs.Spec, _ *specs.LinuxSeccomp) {
				want, err := seccomp.Build(seccomp.ProfileHardened, s, false)
				if err != nil {
					t.Fatal(err)
				}
				if !sameProfile(s.Linux.Seccomp, want) {
					t.Error("not the hardened profile")
				}
			}},
		{name: "default: Localhost profile strengthened",
			own: localhostProfile, from: "the spec's profile", to: "own profile strengthened with hardened",
			check: func(t *testing.T, s *specs.Spec, _ *specs.LinuxSeccomp) {
				p := s.Linux.Seccomp
				for _, n := range []string{"ptrace", "process_vm_readv", "keyctl", "mount", "bpf", "io_uring_setup"} {
					if !seccomp.Blocks(p, n) {
						t.Errorf("%s let through", n)
					}
				}
				if seccomp.Blocks(p, "read") || !slices.Equal(p.Architectures, []specs.Arch{specs.ArchX86_64}) {
					t.Errorf("read blocked or architectures %v", p.Architectures)
				}
			}},
		{name: "default: allow-by-default profile strengthened to hardened's behaviour",
			own:  func() *specs.LinuxSeccomp { return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow} },
			from: "the spec's profile: default SCMP_ACT_ALLOW", to: "own profile strengthened with hardened",
			check: func(t *testing.T, s *specs.Spec, _ *specs.LinuxSeccomp) {
				if s.Linux.Seccomp.DefaultAction != specs.ActErrno || len(seccomp.LetThrough(s.Linux.Seccomp)) != 0 {
					t.Errorf("default %s, lets through %v", s.Linux.Seccomp.DefaultAction, seccomp.LetThrough(s.Linux.Seccomp))
				}
			}},
		{name: "audit: RuntimeDefault's denials stay, hardened's additions are logged", audit: true,
			own:  func() *specs.LinuxSeccomp { return containerdseccomp.DefaultProfile(criSpec()) },
			from: "containerd RuntimeDefault", to: "own profile strengthened with hardened (audit: denials logged)",
			check: func(t *testing.T, s *specs.Spec, _ *specs.LinuxSeccomp) {
				p := s.Linux.Seccomp
				if !seccomp.Blocks(p, "mount") || !seccomp.Blocks(p, "bpf") || seccomp.Blocks(p, "ptrace") {
					t.Errorf("mount %v bpf %v ptrace %v", seccomp.Blocks(p, "mount"), seccomp.Blocks(p, "bpf"), seccomp.Blocks(p, "ptrace"))
				}
				for _, r := range p.Syscalls {
					if slices.Contains(r.Names, "ptrace") && r.Action != specs.ActLog {
						t.Errorf("ptrace: %s, want logged", r.Action)
					}
				}
			}},
		{name: "keep: unchanged", existing: ExistingKeep,
			own: func() *specs.LinuxSeccomp { return containerdseccomp.DefaultProfile(criSpec()) },
			check: func(t *testing.T, s *specs.Spec, own *specs.LinuxSeccomp) {
				if s.Linux.Seccomp != own {
					t.Error("own profile changed")
				}
			}},
		{name: "replace: the class's profile", existing: ExistingReplace, own: localhostProfile,
			from: "the spec's profile", to: "hardened: default",
			check: func(t *testing.T, s *specs.Spec, _ *specs.LinuxSeccomp) {
				if !seccomp.Blocks(s.Linux.Seccomp, "ptrace") {
					t.Error("ptrace let through")
				}
			}},
		{name: "dry run: recorded, not applied", dryRun: true, own: localhostProfile,
			from: "the spec's profile", to: "own profile strengthened with hardened",
			check: func(t *testing.T, s *specs.Spec, own *specs.LinuxSeccomp) {
				if !sameProfile(s.Linux.Seccomp, localhostProfile()) {
					t.Error("dry run changed the profile")
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := criSpec()
			own := tc.own()
			s.Linux.Seccomp = own
			o := DefaultOptions()
			if tc.existing != "" {
				o.SeccompExisting = tc.existing
			}
			o.SeccompAudit = tc.audit
			ch, err := Apply(s, o, tc.dryRun)
			if err != nil {
				t.Fatal(err)
			}
			if tc.to == "" {
				if slices.Contains(fields(ch), "linux.seccomp") {
					t.Fatalf("seccomp changed: %+v", seccompChange(t, ch))
				}
			} else {
				c := seccompChange(t, ch)
				if from, _ := c.From.(string); !strings.HasPrefix(from, tc.from) {
					t.Errorf("from %q, want %q…", from, tc.from)
				}
				if to, _ := c.To.(string); !strings.HasPrefix(to, tc.to) {
					t.Errorf("to %q, want %q…", to, tc.to)
				}
			}
			tc.check(t, s, own)
			if tc.dryRun || tc.existing == ExistingReplace {
				return // replace records a change on every pass, as it always has
			}
			// Idempotent: a second pass changes nothing.
			before, _ := json.Marshal(s.Linux.Seccomp)
			ch, err = Apply(s, o, false)
			after, _ := json.Marshal(s.Linux.Seccomp)
			if err != nil || slices.Contains(fields(ch), "linux.seccomp") || string(before) != string(after) {
				t.Errorf("second pass changed the profile (%v)", err)
			}
		})
	}
}

func TestSeccompExistingDefault(t *testing.T) {
	if DefaultOptions().SeccompExisting != ExistingStrengthen {
		t.Fatalf("default seccomp.existing %q, want %q", DefaultOptions().SeccompExisting, ExistingStrengthen)
	}
	// No class profile ("none"): the own profile stays whatever existing says.
	s := criSpec()
	own := localhostProfile()
	s.Linux.Seccomp = own
	o := DefaultOptions()
	o.SeccompProfile = ""
	if _, err := Apply(s, o, false); err != nil || s.Linux.Seccomp != own {
		t.Fatalf("profile none: own profile changed (%v)", err)
	}
}

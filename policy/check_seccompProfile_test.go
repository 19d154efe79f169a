package policy

import (
	"strings"
	"testing"

	containerdseccomp "github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/seccomp"
)

// TestSeccompProfileJudgesWhatItBlocks: with require_seccomp, a profile is
// judged by the system calls it blocks, not by its default action alone.
func TestSeccompProfileJudgesWhatItBlocks(t *testing.T) {
	require := func(p *specs.LinuxSeccomp) func(s *specs.Spec, h *fakeHost, o *Options) {
		return func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Seccomp = p
			o.RequireSeccomp = true
		}
	}
	runtimeDefault := func(s *specs.Spec, h *fakeHost, o *Options) {
		s.Linux.Seccomp = containerdseccomp.DefaultProfile(s) // as CRI generates it, for the spec's capabilities
		o.RequireSeccomp = true
	}
	hardened, err := seccomp.Build(seccomp.ProfileHardened, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	everyName := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: append([]string{"read", "write"}, seccomp.Required()...), Action: specs.ActAllow}}}
	dangerous := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow},
		{Names: []string{"bpf"}, Action: specs.ActLog},
		{Names: []string{"mount"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 3, Value: 0, Op: specs.OpEqualTo}}},
		{Names: []string{"keyctl"}, Action: specs.ActNotify},
	}}
	killDefault := &specs.LinuxSeccomp{DefaultAction: specs.ActKillProcess, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"read", "write", "exit_group", "ptrace"}, Action: specs.ActAllow}}}
	specAllow := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagSpecAllow}}
	runCases(t, []checkCase{
		{name: "containerd RuntimeDefault", setup: runtimeDefault, want: ""},
		{name: "hardened profile", setup: require(hardened), want: ""},
		{name: "deny by default, a few calls (ptrace among them), kill default", setup: require(killDefault), want: ""},
		{name: "deny by default, every required call allowed", setup: require(everyName),
			want: "seccompProfile", field: "linux.seccomp.syscalls", reason: `lets through "init_module", "finit_module"`},
		{name: "deny by default, dangerous calls allowed, logged, conditional, handed to an agent", setup: require(dangerous),
			want: "seccompProfile", field: "linux.seccomp.syscalls", reason: `"mount", "bpf", "keyctl", which containerd's and Docker's default profiles block`},
		{name: "dangerous calls, not required", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Linux.Seccomp = everyName }, want: ""},
		{name: "log by default", setup: require(&specs.LinuxSeccomp{DefaultAction: specs.ActLog}),
			want: "seccompProfile", field: "linux.seccomp.defaultAction", reason: "allows every system call"},
		{name: "Spectre mitigation off", setup: require(specAllow),
			want: "seccompProfile", field: "linux.seccomp.flags", reason: "Spectre"},
		{name: "Spectre mitigation off, not required", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Linux.Seccomp = specAllow }, want: ""},
		{name: "allow by default and Spectre mitigation off", setup: require(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: specAllow.Flags}),
			want: "seccompProfile,seccompProfile", field: "linux.seccomp.defaultAction"},
	})
}

// TestSeccompProfileListIsBounded: the value names at most 8 calls.
func TestSeccompProfileListIsBounded(t *testing.T) {
	h := newFakeHost()
	s := criContainer(t, h)
	o := DefaultOptions()
	o.RequireSeccomp = true
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: seccomp.Required(), Action: specs.ActAllow}}}
	vs := evaluate(s, h, o)
	if len(vs) != 1 {
		t.Fatalf("violations %v", vs)
	}
	if n := strings.Count(vs[0].Value, ",") + 1; n > 9 || !strings.Contains(vs[0].Value, "more)") {
		t.Errorf("value %q", vs[0].Value)
	}
	if !strings.Contains(vs[0].Reason, "and ") || !strings.Contains(vs[0].Reason, "securityContext.seccompProfile") {
		t.Errorf("reason %q", vs[0].Reason)
	}
}

package policy

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/seccomp"
)

func init() {
	register(Check{
		ID: "seccompProfile",
		Description: "Where the class requires a profile (policy.require_seccomp): no seccomp profile, one that allows every system call by default, " +
			"one that lets through any of the system calls both containerd's RuntimeDefault and Docker's default profile block (kernel modules, mounts, " +
			"setns, bpf, keyctl…), or one that turns off the Spectre mitigation (SECCOMP_FILTER_FLAG_SPEC_ALLOW). " +
			"Any profile of the spec's own where the class applies its own (seccomp.existing = \"reject\").",
		Evaluate: checkSeccompProfile,
	})
}

func checkSeccompProfile(in *Input) []Violation {
	if in.IsSandbox() {
		return nil
	}
	if in.Options.RejectOwnSeccomp && in.Spec.Linux != nil && in.Spec.Linux.Seccomp != nil {
		return []Violation{{Check: "seccompProfile", Field: "linux.seccomp", Value: "set",
			Reason: "brings its own seccomp profile; the runtime class applies its own (seccomp.existing = \"reject\")"}}
	}
	if !in.Options.RequireSeccomp {
		return nil
	}
	if in.Spec.Linux == nil || in.Spec.Linux.Seccomp == nil {
		return []Violation{{Check: "seccompProfile", Field: "linux.seccomp", Value: "null",
			Reason: "runs without a seccomp profile (seccompProfile.type=Unconfined or unset)"}}
	}
	p := in.Spec.Linux.Seccomp
	var vs []Violation
	switch p.DefaultAction {
	case specs.ActAllow, specs.ActLog:
		vs = append(vs, Violation{Check: "seccompProfile", Field: "linux.seccomp.defaultAction", Value: string(p.DefaultAction),
			Reason: "the seccomp profile allows every system call it does not name"})
	default:
		if through := seccomp.LetThrough(p); len(through) > 0 {
			vs = append(vs, Violation{Check: "seccompProfile", Field: "linux.seccomp.syscalls", Value: boundedList(through),
				Reason: fmt.Sprintf("the seccomp profile lets through %s, which containerd's and Docker's default profiles block "+
					"(securityContext.seccompProfile: use RuntimeDefault, or a Localhost profile that blocks them)", quoteList(through))})
		}
	}
	for _, f := range p.Flags {
		if f == specs.LinuxSeccompFlagSpecAllow {
			vs = append(vs, Violation{Check: "seccompProfile", Field: "linux.seccomp.flags", Value: string(f),
				Reason: "the seccomp profile turns off the kernel's Spectre (speculative store bypass) mitigation for the container; remove the flag from the securityContext.seccompProfile"})
		}
	}
	return vs
}

// boundedList joins at most 8 names, counting the rest.
func boundedList(names []string) string {
	const max = 8
	if len(names) <= max {
		return strings.Join(names, ",")
	}
	return fmt.Sprintf("%s,… (%d more)", strings.Join(names[:max], ","), len(names)-max)
}

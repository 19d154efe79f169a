package policy

import specs "github.com/opencontainers/runtime-spec/specs-go"

func init() {
	register(Check{
		ID:          "seccompProfile",
		Description: "No seccomp profile, or one that allows every system call by default, where the class requires a profile (policy.require_seccomp); any profile of the spec's own where the class applies its own (seccomp.existing = \"reject\").",
		Evaluate:    checkSeccompProfile,
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
	switch in.Spec.Linux.Seccomp.DefaultAction {
	case specs.ActAllow, specs.ActLog:
		return []Violation{{Check: "seccompProfile", Field: "linux.seccomp.defaultAction", Value: string(in.Spec.Linux.Seccomp.DefaultAction),
			Reason: "the seccomp profile allows every system call it does not name"}}
	}
	return nil
}

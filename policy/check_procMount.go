package policy

func init() {
	register(Check{
		ID: "procMount",
		Description: "An unmasked /proc (no masked and no read-only paths). By default the hardening step restores the runtime's default masks instead " +
			"(policy.unmasked_proc = \"restore\"); with \"refuse\" the spec is refused.",
		Evaluate: checkProcMount,
	})
}

// ProcUnmasked reports whether a spec's /proc is unmasked: neither masked
// nor read-only paths are set.
func ProcUnmasked(in *Input) bool {
	return in.Spec.Linux == nil || (len(in.Spec.Linux.MaskedPaths) == 0 && len(in.Spec.Linux.ReadonlyPaths) == 0)
}

func checkProcMount(in *Input) []Violation {
	if in.Options.UnmaskedProc != UnmaskedProcRefuse || !ProcUnmasked(in) {
		return nil
	}
	return []Violation{{Check: "procMount", Field: "linux.maskedPaths", Value: "[]",
		Reason: "/proc is unmasked: linux.maskedPaths and linux.readonlyPaths are empty (procMount=Unmasked)"}}
}

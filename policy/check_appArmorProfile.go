package policy

import "fmt"

func init() {
	register(Check{
		ID:          "appArmorProfile",
		Description: "An unconfined AppArmor profile on a host that enforces AppArmor.",
		Evaluate:    checkAppArmorProfile,
	})
}

func checkAppArmorProfile(in *Input) []Violation {
	p := in.Spec.Process
	if p == nil || in.IsSandbox() || !in.Host.AppArmorEnabled() {
		return nil
	}
	if p.ApparmorProfile == "" || p.ApparmorProfile == "unconfined" {
		return []Violation{{Check: "appArmorProfile", Field: "process.apparmorProfile", Value: fmt.Sprintf("%q", p.ApparmorProfile),
			Reason: "runs unconfined by AppArmor (appArmorProfile.type=Unconfined)"}}
	}
	return nil
}

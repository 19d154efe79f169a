package policy

import (
	"fmt"
)

func init() {
	register(Check{
		ID: "capabilities",
		Description: "Capabilities beyond the class's level: baseline allows Pod Security's baseline set plus NET_RAW (containerd's default holds it); " +
			"restricted allows only NET_BIND_SERVICE.",
		Evaluate: checkCapabilities,
	})
}

// baselineCapabilities is Pod Security's baseline allowed set, plus
// CAP_NET_RAW: containerd's default set holds it, so an explicit add cannot
// be told from the default in the spec.
var baselineCapabilities = newCapSet([]string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT", "NET_RAW",
})

var restrictedCapabilities = newCapSet([]string{"NET_BIND_SERVICE"})

func checkCapabilities(in *Input) []Violation {
	p := in.Spec.Process
	if p == nil || p.Capabilities == nil {
		return nil
	}
	allowed := baselineCapabilities
	if in.Options.Level == LevelRestricted {
		allowed = restrictedCapabilities
	}
	var vs []Violation
	for _, set := range capabilitySets(p.Capabilities) {
		extra := newCapSet(set.caps).beyond(allowed)
		if len(extra) == 0 {
			continue
		}
		vs = append(vs, Violation{Check: "capabilities", Field: "process.capabilities." + set.name, Value: fmt.Sprint(extra),
			Reason: fmt.Sprintf("process.capabilities.%s holds %s, not allowed at level %s", set.name, quoteList(extra), in.Options.Level)})
	}
	return vs
}

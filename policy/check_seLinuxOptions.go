package policy

import (
	"fmt"
	"strings"
)

func init() {
	register(Check{
		ID:          "seLinuxOptions",
		Description: "An SELinux type other than Pod Security's container types (container_t, container_init_t, container_kvm_t, container_engine_t).",
		Evaluate:    checkSELinuxOptions,
	})
}

var allowedSELinuxTypes = map[string]bool{
	"": true, "container_t": true, "container_init_t": true, "container_kvm_t": true, "container_engine_t": true,
}

func checkSELinuxOptions(in *Input) []Violation {
	var vs []Violation
	check := func(field, label string) {
		if label == "" {
			return
		}
		parts := strings.SplitN(label, ":", 4)
		if len(parts) < 3 {
			vs = append(vs, Violation{Check: "seLinuxOptions", Field: field, Value: label,
				Reason: fmt.Sprintf("%s %q is not a user:role:type[:level] label", field, label)})
			return
		}
		if !allowedSELinuxTypes[parts[2]] {
			vs = append(vs, Violation{Check: "seLinuxOptions", Field: field, Value: label,
				Reason: fmt.Sprintf("SELinux type %q is not allowed (seLinuxOptions.type)", parts[2])})
		}
	}
	if in.Spec.Process != nil {
		check("process.selinuxLabel", in.Spec.Process.SelinuxLabel)
	}
	if in.Spec.Linux != nil {
		check("linux.mountLabel", in.Spec.Linux.MountLabel)
	}
	return vs
}

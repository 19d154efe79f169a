package policy

import (
	"fmt"
	"sort"
)

func init() {
	register(Check{
		ID:          "sysctls",
		Description: "Sysctls outside Pod Security's safe set.",
		Evaluate:    checkSysctls,
	})
}

// safeSysctls is Pod Security Admission's safe set (policy/check_sysctls.go,
// Kubernetes 1.32).
var safeSysctls = map[string]bool{
	"kernel.shm_rmid_forced":              true,
	"net.ipv4.ip_local_port_range":        true,
	"net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.tcp_syncookies":             true,
	"net.ipv4.ping_group_range":           true,
	"net.ipv4.ip_local_reserved_ports":    true,
	"net.ipv4.tcp_keepalive_time":         true,
	"net.ipv4.tcp_fin_timeout":            true,
	"net.ipv4.tcp_keepalive_intvl":        true,
	"net.ipv4.tcp_keepalive_probes":       true,
	"net.ipv4.tcp_rmem":                   true,
	"net.ipv4.tcp_wmem":                   true,
}

func checkSysctls(in *Input) []Violation {
	if in.Spec.Linux == nil {
		return nil
	}
	var names []string
	for k := range in.Spec.Linux.Sysctl {
		if !safeSysctls[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var vs []Violation
	for _, k := range names {
		vs = append(vs, Violation{Check: "sysctls", Field: fmt.Sprintf("linux.sysctl[%q]", k), Value: in.Spec.Linux.Sysctl[k],
			Reason: fmt.Sprintf("sysctl %q is not in the safe set", k)})
	}
	return vs
}

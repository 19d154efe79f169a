package policy

import (
	"fmt"
	"sort"
	"strings"
)

// allCapabilities is every capability Linux 6.x defines; a set holding all of
// them is what a privileged container gets.
var allCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// normCap returns a capability name in the OCI form "CAP_X".
func normCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

// capSet is a set of normalized capability names.
type capSet map[string]bool

func newCapSet(lists ...[]string) capSet {
	s := capSet{}
	for _, l := range lists {
		for _, c := range l {
			s[normCap(c)] = true
		}
	}
	return s
}

// beyond returns, sorted, the capabilities of s that allowed lacks.
func (s capSet) beyond(allowed capSet) []string {
	var extra []string
	for c := range s {
		if !allowed[c] {
			extra = append(extra, c)
		}
	}
	sort.Strings(extra)
	return extra
}

// holdsAll reports whether s has every capability in all, which must not be
// trivially small (a privileged container gets containerd's whole set).
func (s capSet) holdsAll(all []string) bool {
	if len(all) < 20 {
		return false
	}
	for _, c := range all {
		if !s[normCap(c)] {
			return false
		}
	}
	return true
}

// CapabilityName validates a capability name and returns its OCI form.
func CapabilityName(c string) (string, error) {
	n := normCap(c)
	for _, k := range allCapabilities {
		if k == n {
			return n, nil
		}
	}
	return "", fmt.Errorf("%q is not a capability", c)
}

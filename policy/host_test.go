package policy

import "testing"

// TestNodeHostNamespaces reads this machine's namespaces: the shim's own are
// always among the host's.
func TestNodeHostNamespaces(t *testing.T) {
	h := NodeHost{}
	for _, kind := range []string{"network", "pid", "ipc"} {
		ids, err := h.HostNamespaces(kind)
		if err != nil || len(ids) == 0 {
			t.Fatalf("%s: %v %v", kind, ids, err)
		}
		self, err := h.Namespace("/proc/self/ns/" + nsFile[kind])
		if err != nil || ids[0] != self {
			t.Fatalf("%s: %v, self %v (%v)", kind, ids, self, err)
		}
	}
	if _, err := h.HostNamespaces("bogus"); err == nil {
		t.Fatal("bogus kind accepted")
	}
}

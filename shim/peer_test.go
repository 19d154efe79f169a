//go:build linux

package shim

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestGroupingClaims(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ann    map[string]string
		group  string
		claims bool
	}{
		{"no labels", nil, "", false},
		{"own sandbox id (a pod sandbox)", map[string]string{"io.kubernetes.cri.sandbox-id": "c1"}, "c1", false},
		{"another sandbox", map[string]string{"io.kubernetes.cri.sandbox-id": "pod"}, "pod", true},
		{"runc group label first", map[string]string{"io.containerd.runc.v2.group": "g", "io.kubernetes.cri.sandbox-id": "c1"}, "g", true},
		// The runc manager groups by an empty value too: a shim for group "".
		{"empty group", map[string]string{"io.containerd.runc.v2.group": ""}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _, claims := grouping("c1", &specs.Spec{Annotations: tc.ann})
			if g != tc.group || claims != tc.claims {
				t.Fatalf("grouping = %q, %v; want %q, %v", g, claims, tc.group, tc.claims)
			}
		})
	}
}

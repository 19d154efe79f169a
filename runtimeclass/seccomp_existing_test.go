package runtimeclass

import (
	"strings"
	"testing"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/harden"
)

func TestSeccompExistingValues(t *testing.T) {
	for _, tc := range []struct {
		body, want, err string
	}{
		{"", harden.ExistingStrengthen, ""},
		{"[seccomp]\nexisting = \"strengthen\"\n", harden.ExistingStrengthen, ""},
		{"[seccomp]\nexisting = \"keep\"\n", harden.ExistingKeep, ""},
		{"[seccomp]\nexisting = \"replace\"\n", harden.ExistingReplace, ""},
		{"[seccomp]\nexisting = \"reject\"\n", harden.ExistingReject, ""},
		{"[seccomp]\nexisting = \"intersect\"\n", "", `"intersect" is not "strengthen", "keep", "replace" or "reject"`},
	} {
		cfg, err := Parse([]byte(tc.body), "test.toml")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "seccomp.existing") {
				t.Errorf("%q: error %v, want %q", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.body, err)
		}
		c := New(cfg, "test.toml", "")
		o, err := c.HardenOptions()
		if err != nil || o.SeccompExisting != tc.want {
			t.Errorf("%q: seccomp existing %q (%v), want %q", tc.body, o.SeccompExisting, err, tc.want)
		}
	}
}

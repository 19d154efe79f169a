package harden

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
)

func TestRestoreProcMasks(t *testing.T) {
	masked, readonly := DefaultProcMasks()
	if !slices.Contains(masked, "/proc/kcore") || !slices.Contains(readonly, "/proc/sysrq-trigger") {
		t.Fatalf("defaults %v %v", masked, readonly)
	}
	for _, tc := range []struct {
		name    string
		spec    *specs.Spec
		opts    func(o *policy.Options)
		dryRun  bool
		changes int
		masked  bool // spec masked afterwards
	}{
		{"unmasked is restored", &specs.Spec{Linux: &specs.Linux{}}, nil, false, 2, true},
		{"no linux section", &specs.Spec{}, nil, false, 2, true},
		{"dry run records but does not change", &specs.Spec{Linux: &specs.Linux{}}, nil, true, 2, false},
		{"already masked", &specs.Spec{Linux: &specs.Linux{MaskedPaths: []string{"/proc/kcore"}}}, nil, false, 0, true},
		{"refuse mode leaves it to the check", &specs.Spec{Linux: &specs.Linux{}}, func(o *policy.Options) { o.UnmaskedProc = policy.UnmaskedProcRefuse }, false, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := policy.DefaultOptions()
			if tc.opts != nil {
				tc.opts(o)
			}
			ch := Apply(tc.spec, o, tc.dryRun)
			if len(ch) != tc.changes {
				t.Fatalf("changes %v", ch)
			}
			got := tc.spec.Linux != nil && len(tc.spec.Linux.MaskedPaths) > 0
			if got != tc.masked {
				t.Fatalf("masked=%v, want %v", got, tc.masked)
			}
			if tc.changes > 0 && (ch[0].Field != "linux.maskedPaths" || ch[1].Field != "linux.readonlyPaths") {
				t.Fatalf("fields %v", ch)
			}
		})
	}
}

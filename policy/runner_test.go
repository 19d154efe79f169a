package policy

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// checkCase is one pass/fail fixture: a CRI app container, modified by setup.
type checkCase struct {
	name  string
	setup func(s *specs.Spec, h *fakeHost, o *Options)
	// want is the comma-separated check IDs expected, "" for allowed.
	want string
	// reason, field: substrings of the first violation's reason and field.
	reason, field string
}

func runCases(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost()
			s := criContainer(t, h)
			o := DefaultOptions()
			if tc.setup != nil {
				tc.setup(s, h, o)
			}
			vs := evaluate(s, h, o)
			if got := checkIDs(vs); got != tc.want {
				t.Fatalf("violations %q, want %q: %v", got, tc.want, vs)
			}
			if len(vs) == 0 {
				return
			}
			if !strings.Contains(vs[0].Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", vs[0].Reason, tc.reason)
			}
			if !strings.Contains(vs[0].Field, tc.field) {
				t.Errorf("field %q does not contain %q", vs[0].Field, tc.field)
			}
		})
	}
}

func TestDefaultContainerAllowed(t *testing.T) {
	runCases(t, []checkCase{{name: "ctr default spec as a CRI container", want: ""}})
}

func TestMessageNamesEverything(t *testing.T) {
	vs := []Violation{
		{Check: "hostPathVolumes", Reason: `mount "/data" comes from host path "/etc"`},
		{Check: "privileged", Reason: "holds every capability"},
	}
	got := Message(`container "app"`, vs, "hardened", ModeEnforce)
	want := `container "app" refused by hostPathVolumes: mount "/data" comes from host path "/etc"; privileged: holds every capability (runtime class "hardened", mode enforce)`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestSubject(t *testing.T) {
	h := newFakeHost()
	s := criContainer(t, h)
	in := &Input{Spec: s, ID: "abc"}
	if got := in.Subject(); got != `container "app"` {
		t.Errorf("container subject %s", got)
	}
	s.Annotations[AnnotationContainerType] = ContainerTypeSandbox
	if got := in.Subject(); got != `pod sandbox "web-0"` {
		t.Errorf("sandbox subject %s", got)
	}
	in.Spec = &specs.Spec{}
	if got := in.Subject(); got != `container "abc"` {
		t.Errorf("plain subject %s", got)
	}
}

func TestChecksRegistered(t *testing.T) {
	want := []string{"appArmorProfile", "capabilities", "cgroupsPath", "hostActions", "hostNamespaces", "hostPathVolumes", "mountTree", "privileged",
		"procFdCwd", "procMount", "processLimits", "runtimeAnnotations", "seLinuxOptions", "seccompProfile", "secretsInMemory", "sysctls"}
	var got []string
	for _, c := range Checks() {
		got = append(got, c.ID)
		if c.Description == "" {
			t.Errorf("check %s has no description", c.ID)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("checks %v, want %v", got, want)
	}
}

func TestDisabledCheck(t *testing.T) {
	runCases(t, []checkCase{{
		name: "privileged disabled",
		setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Process.Capabilities.Bounding = allCapabilities
			o.Disabled = []string{"privileged"}
		},
		want: "capabilities", field: "bounding",
	}})
}

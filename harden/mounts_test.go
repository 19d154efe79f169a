package harden

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRecursiveReadOnlyBinds(t *testing.T) {
	s := criSpec()
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/logs", Type: "bind", Source: "/var/log/pods", Options: []string{"rbind", "rprivate", "ro"}},
		specs.Mount{Destination: "/cfg", Type: "bind", Source: "/cfg", Options: []string{"rbind", "ro", "rw", "ro"}},
		specs.Mount{Destination: "/one", Type: "bind", Source: "/one", Options: []string{"bind", "ro"}},      // not recursive
		specs.Mount{Destination: "/rw", Type: "bind", Source: "/rw", Options: []string{"rbind", "ro", "rw"}}, // read-write
		specs.Mount{Destination: "/rro", Type: "bind", Source: "/rro", Options: []string{"rbind", "rro"}},    // already
		specs.Mount{Destination: "/rrw", Type: "bind", Source: "/rrw", Options: []string{"rbind", "ro", "rrw"}},
		specs.Mount{Destination: "/opt", Type: "none", Source: "/opt", Options: []string{"rbind", "ro"}}, // bind by option
	)
	ch, err := recursiveReadOnlyBinds(s, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fields(ch), []string{`mounts["/logs"].options`, `mounts["/cfg"].options`, `mounts["/opt"].options`}; !slices.Equal(got, want) {
		t.Fatalf("changed %v, want %v", got, want)
	}
	byDest := map[string][]string{}
	for _, m := range s.Mounts {
		byDest[m.Destination] = m.Options
	}
	for dest, want := range map[string][]string{
		"/logs": {"rbind", "rprivate", "rro"}, "/cfg": {"rbind", "rro", "rw"}, "/opt": {"rbind", "rro"},
		"/one": {"bind", "ro"}, "/rw": {"rbind", "ro", "rw"}, "/rro": {"rbind", "rro"}, "/rrw": {"rbind", "ro", "rrw"},
	} {
		if !slices.Equal(byDest[dest], want) {
			t.Errorf("%s options %v, want %v", dest, byDest[dest], want)
		}
	}
	if ch[0].From.([]string)[2] != "ro" || ch[0].To.([]string)[2] != "rro" {
		t.Errorf("change %+v", ch[0])
	}
	if ch, _ := recursiveReadOnlyBinds(s, DefaultOptions()); len(ch) != 0 {
		t.Fatalf("second pass changed %v", fields(ch))
	}
}

func TestDenyDevicesByDefault(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	fuse := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(10), Minor: i64(229), Access: "rwm"}
	for _, tc := range []struct {
		name   string
		linux  *specs.Linux
		change bool
	}{
		{"no linux section", nil, true},
		{"no resources", &specs.Linux{}, true},
		{"allow rule first", &specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{fuse}}}, true},
		{"deny of one device first", &specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Major: i64(1), Access: "rwm"}, fuse}}}, true},
		{"deny-all first", &specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Access: "rwm"}, fuse}}}, false},
		{"deny-all type a with -1", &specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "a", Major: i64(-1), Minor: i64(-1), Access: "mrw"}}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &specs.Spec{Linux: tc.linux}
			var before int
			if tc.linux != nil && tc.linux.Resources != nil {
				before = len(tc.linux.Resources.Devices)
			}
			ch, err := denyDevicesByDefault(s, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got := len(ch) == 1; got != tc.change {
				t.Fatalf("changes %+v, want change %v", ch, tc.change)
			}
			d := s.Linux.Resources.Devices
			if !isDenyAll(d[0]) {
				t.Fatalf("first rule %+v", d[0])
			}
			if tc.change && (len(d) != before+1 || ch[0].Field != "linux.resources.devices") {
				t.Fatalf("rules %+v, change %+v", d, ch)
			}
		})
	}
}

func TestNilCapabilitiesFilled(t *testing.T) {
	s := criSpec()
	s.Process.Capabilities = nil
	ch, err := Apply(s, DefaultOptions(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(fields(ch), "process.capabilities") {
		t.Fatalf("changes %v", fields(ch))
	}
	c := s.Process.Capabilities
	for _, set := range [][]string{c.Bounding, c.Effective, c.Permitted} {
		if !slices.Equal(set, DefaultCapabilities) {
			t.Fatalf("capabilities %+v", c)
		}
	}
	if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Fatalf("capabilities %+v", c)
	}
	// An exec's nil set means the container's (already hardened) set in runc.
	p := &specs.Process{Args: []string{"sh"}}
	ApplyExec(p, DefaultOptions(), false)
	if p.Capabilities != nil {
		t.Fatalf("exec capabilities filled: %+v", p.Capabilities)
	}
	// Dry run leaves the spec alone.
	s = criSpec()
	s.Process.Capabilities = nil
	if _, err := Apply(s, DefaultOptions(), true); err != nil || s.Process.Capabilities != nil {
		t.Fatalf("dry run filled capabilities (%v)", err)
	}
}

func TestReadOnlySysfsLastOptionWins(t *testing.T) {
	s := criSpec()
	s.Mounts[1].Options = []string{"nosuid", "ro", "rw"} // runc: read-write
	s.Mounts[2].Options = []string{"nosuid", "rro"}      // runc ignores rro on a cgroup mount
	if _, err := readOnlySysfs(s, DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Mounts[1].Options, []string{"nosuid", "ro"}) || !slices.Equal(s.Mounts[2].Options, []string{"nosuid", "rro", "ro"}) {
		t.Fatalf("options %v %v", s.Mounts[1].Options, s.Mounts[2].Options)
	}
}

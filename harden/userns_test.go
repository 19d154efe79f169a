package harden

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestApplyUserNamespace(t *testing.T) {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1 << 31, Size: 65536}}
	s := &specs.Spec{
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev/shm", Type: "bind", Source: "/run/shm", Options: []string{"rbind", "ro"}},
			{Destination: "/etc/hosts", Source: "/var/lib/hosts", Options: []string{"bind"}},
			{Destination: "/already", Type: "bind", Source: "/x", Options: []string{"bind", "idmap"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/cache", Type: "bind", Source: "/pods/x/empty-dir/cache", Options: []string{"rbind"}},
			{Destination: "/image", Type: "bind", Source: "/image-volumes/x", Options: []string{"rbind", "rro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/var/run/netns/cni-1"}, {Type: specs.PIDNamespace}},
			Sysctl:     map[string]string{"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0", "kernel.shm_rmid_forced": "1"},
		},
	}
	changes, net := ApplyUserNamespace(s, UserNamespace{UIDMappings: m, GIDMappings: m,
		Private: map[string]bool{"/cache": true}, Unmappable: map[string]bool{"/image": true}})
	if got := s.Linux.Namespaces[len(s.Linux.Namespaces)-1]; got.Type != specs.UserNamespace || got.Path != "" {
		t.Errorf("user namespace entry %+v", got)
	}
	if !slices.Equal(s.Linux.UIDMappings, m) || !slices.Equal(s.Linux.GIDMappings, m) {
		t.Errorf("mappings %v %v", s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
	want := map[string][]string{
		"/proc": nil, "/tmp": nil,
		"/dev/shm":   {"rbind", "ro", "ridmap"},
		"/etc/hosts": {"bind", "idmap"},
		"/already":   {"bind", "idmap"},
		"/cache":     {"rbind"},
		"/image":     {"rbind", "rro"},
	}
	for _, mt := range s.Mounts {
		if !slices.Equal(mt.Options, want[mt.Destination]) {
			t.Errorf("mount %s options %v, want %v", mt.Destination, mt.Options, want[mt.Destination])
		}
	}
	if net["net.ipv4.ping_group_range"] != "2147483648 2147549183" || net["net.ipv4.ip_unprivileged_port_start"] != "0" || len(net) != 2 {
		t.Errorf("net sysctls %v", net)
	}
	if len(s.Linux.Sysctl) != 1 || s.Linux.Sysctl["kernel.shm_rmid_forced"] != "1" {
		t.Errorf("sysctls left in the spec %v", s.Linux.Sysctl)
	}
	fields := map[string]bool{}
	for _, c := range changes {
		fields[c.Field] = true
	}
	for _, f := range []string{`linux.namespaces["user"]`, "linux.uidMappings", "linux.gidMappings", `mounts["/dev/shm"].options`, `mounts["/etc/hosts"].options`, `linux.sysctl["net.ipv4.ping_group_range"]`} {
		if !fields[f] {
			t.Errorf("no change recorded for %s: %v", f, changes)
		}
	}
	if !fields[`mounts["/image"].options`] {
		t.Errorf("no change records that /image is not idmapped: %v", changes)
	}
	if fields[`mounts["/already"].options`] || fields[`mounts["/proc"].options`] || fields[`mounts["/cache"].options`] {
		t.Errorf("changes recorded for untouched mounts: %v", changes)
	}
}

func TestApplyUserNamespaceJoinKeepsOwnNetns(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{Sysctl: map[string]string{"net.ipv4.ping_group_range": "0 1"}}}
	_, net := ApplyUserNamespace(s, UserNamespace{Path: "/proc/1/ns/user"})
	if net != nil || s.Linux.Sysctl["net.ipv4.ping_group_range"] != "0 1" {
		t.Errorf("a network namespace of the container's own keeps its sysctls: %v %v", net, s.Linux.Sysctl)
	}
	if s.Linux.Namespaces[0].Path != "/proc/1/ns/user" {
		t.Errorf("join path lost: %+v", s.Linux.Namespaces)
	}
}

func TestHostGroupRange(t *testing.T) {
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	for in, want := range map[string]string{
		"0 2147483647": "100000 165535",
		"10 20":        "100010 100020",
		"70000 80000":  "1 0",
		"1 0":          "1 0",
		"junk":         "junk",
	} {
		if got := hostGroupRange(in, m); got != want {
			t.Errorf("hostGroupRange(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIDMapping(t *testing.T) {
	got := IDMapping([]specs.LinuxIDMapping{{ContainerID: 0, HostID: 5, Size: 10}, {ContainerID: 10, HostID: 50, Size: 1}})
	if got != "0:5:10,10:50:1" {
		t.Errorf("IDMapping = %q", got)
	}
}

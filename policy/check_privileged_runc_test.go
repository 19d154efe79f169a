package policy

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestPrivilegedAsRuncSeesIt: fields judged by what runc does with them.
func TestPrivilegedAsRuncSeesIt(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	rule := func(typ string, major, minor *int64, access string) func(s *specs.Spec, h *fakeHost, o *Options) {
		return func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: major, Minor: minor, Access: access})
		}
	}
	node := func(path, typ string, major, minor int64) func(s *specs.Spec, h *fakeHost, o *Options) {
		return func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: path, Type: typ, Major: major, Minor: minor})
		}
	}
	dropNS := func(kinds ...string) func(s *specs.Spec, h *fakeHost, o *Options) {
		return func(s *specs.Spec, h *fakeHost, o *Options) {
			var keep []specs.LinuxNamespace
			for _, ns := range s.Linux.Namespaces {
				drop := false
				for _, k := range kinds {
					drop = drop || string(ns.Type) == k
				}
				if !drop {
					keep = append(keep, ns)
				}
			}
			s.Linux.Namespaces = keep
		}
	}
	runCases(t, []checkCase{
		// A missing field is not a safe field.
		{name: "no capability sets at all", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Process.Capabilities = nil },
			want: "privileged", reason: "process.capabilities is absent: runc keeps every capability of the node's root", field: "process.capabilities"},
		{name: "empty capability sets are fine", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Process.Capabilities = &specs.LinuxCapabilities{} }, want: ""},
		{name: "no mount namespace", setup: dropNS("mount"),
			want: "privileged", reason: `no "mount" namespace`, field: "linux.namespaces"},
		{name: "no uts namespace", setup: dropNS("uts"), want: "privileged", reason: `no "uts" namespace`},
		{name: "no uts with hostNetwork is hostNamespaces' (CRI pairs them)", setup: dropNS("uts", "network"),
			want: "hostNamespaces", reason: "hostNetwork=true"},
		{name: "no linux section", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Linux = nil },
			want: "hostNamespaces,hostNamespaces,hostNamespaces,privileged"},

		// Device nodes: type and numbers, not paths.
		{name: "/dev/null that is /dev/mem", setup: node("/dev/null", "c", 1, 1),
			want: "privileged", reason: `"/dev/null (c 1:1)"`, field: `linux.devices["/dev/null"]`},
		{name: "default nodes are fine", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			for _, d := range [][3]any{{"/dev/null", 1, 3}, {"/dev/zero", 1, 5}, {"/dev/full", 1, 7}, {"/dev/random", 1, 8},
				{"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}, {"/dev/console", 5, 1}, {"/dev/ptmx", 5, 2}} {
				node(d[0].(string), "c", int64(d[1].(int)), int64(d[2].(int)))(s, h, o)
			}
		}, want: ""},
		{name: "unbuffered char device is a char device", setup: node("/dev/x", "u", 10, 237), want: "privileged", reason: "c 10:237"},
		{name: "fifo is fine", setup: node("/dev/fifo", "p", 0, 0), want: ""},
		{name: "tun node needs the allowlist", setup: node("/dev/net/tun", "c", 10, 200), want: "privileged", reason: "c 10:200"},
		{name: "allowlisted major covers its minors", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			node("/dev/nvidia0", "c", 195, 0)(s, h, o)
			node("/dev/nvidiactl", "c", 195, 255)(s, h, o)
			o.AllowedDevices = []string{"c 195:*"}
		}, want: ""},
		{name: "allowlisted block device", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			node("/dev/vdb", "b", 254, 16)(s, h, o)
			o.AllowedDevices = []string{"b 254:16"}
		}, want: ""},
		{name: "block and char devices in one violation", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			node("/dev/kmsg", "c", 1, 11)(s, h, o)
			node("/dev/vda", "b", 254, 0)(s, h, o)
		}, want: "privileged", reason: `host block device(s) "/dev/vda" exposed to the container; host character device(s) "/dev/kmsg (c 1:11)"`, field: `linux.devices["/dev/vda"]`},

		// Device cgroup rules, as runc's device emulator applies them.
		{name: "type a with numbers is still allow-all", setup: rule("a", i64(1), i64(3), "r"),
			want: "privileged", reason: "every host device"},
		{name: "type a mknod-only is still allow-all", setup: rule("", nil, nil, "m"), want: "privileged", reason: "every host device"},
		{name: "whole major", setup: rule("c", i64(4), nil, "rw"),
			want: "privileged", reason: "every host c device of major 4 (c 4:*)", field: "linux.resources.devices[1]"},
		{name: "whole major with -1 minor", setup: rule("c", i64(10), i64(-1), "rwm"), want: "privileged", reason: "major 10"},
		{name: "allowlisted whole major", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			rule("c", i64(195), nil, "rw")(s, h, o)
			o.AllowedDevices = []string{"c 195:*"}
		}, want: ""},
		{name: "a single minor does not allow the whole major", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			rule("c", i64(195), nil, "rw")(s, h, o)
			o.AllowedDevices = []string{"c 195:0"}
		}, want: "privileged", reason: "major 195"},
		{name: "specific device outside the default set", setup: rule("c", i64(1), i64(1), "rw"),
			want: "privileged", reason: "host device c 1:1"},
		{name: "containerd and runc default rules", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			rule("c", i64(136), nil, "rwm")(s, h, o)
			rule("c", i64(5), i64(2), "rwm")(s, h, o)
			rule("c", i64(5), i64(1), "rwm")(s, h, o)
			rule("c", i64(10), i64(200), "rwm")(s, h, o)
			rule("c", i64(1), i64(3), "rwm")(s, h, o)
		}, want: ""},
		{name: "mknod-only rules are fine (runc adds c *:* m and b *:* m)", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			rule("c", nil, nil, "m")(s, h, o)
			rule("b", i64(8), nil, "m")(s, h, o)
		}, want: ""},
		{name: "allowlisted block rule", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			rule("b", i64(254), i64(16), "rw")(s, h, o)
			o.AllowedDevices = []string{"b 254:16"}
		}, want: ""},
		{name: "block rule outside the allowlist", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			rule("b", i64(254), i64(0), "rw")(s, h, o)
			o.AllowedDevices = []string{"b 254:16"}
		}, want: "privileged", reason: "block devices"},
		{name: "deny rules are fine", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: i64(1), Access: "rwm"})
		}, want: ""},
	})
}

package policy

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestPrivileged(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	runCases(t, []checkCase{
		{name: "all capabilities", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Process.Capabilities.Bounding = allCapabilities
			s.Process.Capabilities.Effective = allCapabilities
			o.Disabled = []string{"capabilities"}
		}, want: "privileged", reason: "holds every capability", field: "process.capabilities.bounding"},
		{name: "all but one capability is not privileged", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Process.Capabilities.Bounding = allCapabilities[1:]
			o.Disabled = []string{"capabilities"}
		}, want: ""},
		{name: "every capability the node has (containerd's privileged set)", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			h.caps = append(append([]string{}, allCapabilities[:24]...), allCapabilities[25:]...) // no CAP_SYS_RESOURCE
			s.Process.Capabilities.Bounding = h.caps
			o.Disabled = []string{"capabilities"}
		}, want: "privileged", reason: "holds every capability"},
		{name: "lower-case names without prefix", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			var lc []string
			for _, c := range allCapabilities {
				lc = append(lc, c[4:])
			}
			s.Process.Capabilities.Permitted = lc
			o.Disabled = []string{"capabilities"}
		}, want: "privileged", field: "permitted"},
		{name: "sysfs read-write", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			for i := range s.Mounts {
				if s.Mounts[i].Destination == "/sys" {
					s.Mounts[i].Options = []string{"nosuid", "noexec", "nodev", "rw"}
				}
			}
		}, want: "privileged", reason: "sysfs is mounted read-write", field: `mounts["/sys"]`},
		{name: "cgroup read-write", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "rw"}})
		}, want: "privileged", reason: "cgroup", field: `mounts["/sys/fs/cgroup"]`},
		{name: "cgroup read-only is fine", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "ro"}})
		}, want: ""},
		{name: "host block device", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/vda", Type: "b", Major: 254, Minor: 0})
		}, want: "privileged", reason: `host block device(s) "/dev/vda"`, field: `linux.devices["/dev/vda"]`},
		{name: "char device from an allowlisted device plugin is fine", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229})
			o.AllowedDevices = []string{"c 10:229"}
		}, want: ""},
		{name: "allow-all device rule", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Access: "rwm"})
		}, want: "privileged", reason: "every host device", field: "linux.resources.devices"},
		{name: "specific allowlisted device rule is fine", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(10), Minor: i64(229), Access: "rwm"})
			o.AllowedDevices = []string{"c 10:*"}
		}, want: ""},
	})
}

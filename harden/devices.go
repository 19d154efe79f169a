package harden

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// denyAllDevices is the rule every device cgroup list should start with.
var denyAllDevices = specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}

// denyDevicesByDefault makes a device cgroup list start with deny-all. runc
// v1.5 needs no such rule (its device emulator starts from deny-all on
// cgroup v1, v2 and systemd alike: opencontainers/cgroups devices/v1.go
// buildEmulator, devicefilter.go deviceFilter, systemd.go "DevicePolicy
// strict"); but the spec is the contract, and a runtime that starts from the
// cgroup's inherited allow-all (cgroup v1's default) would grant every host
// device to a spec without it. Prepending it changes nothing for runc: a
// deny-all first rule is its starting state.
func denyDevicesByDefault(spec *specs.Spec, _ *Options) ([]Change, error) {
	l := linux(spec)
	if l.Resources == nil {
		l.Resources = &specs.LinuxResources{}
	}
	rules := l.Resources.Devices
	if len(rules) > 0 && isDenyAll(rules[0]) {
		return nil, nil
	}
	to := append([]specs.LinuxDeviceCgroup{denyAllDevices}, rules...)
	l.Resources.Devices = to
	return []Change{{Field: "linux.resources.devices", From: slices.Clone(rules), To: to}}, nil
}

// isDenyAll reports whether r denies every access to every device.
func isDenyAll(r specs.LinuxDeviceCgroup) bool {
	return !r.Allow && (r.Type == "" || r.Type == "a") &&
		(r.Major == nil || *r.Major < 0) && (r.Minor == nil || *r.Minor < 0) &&
		hasAll(r.Access, "rwm")
}

func hasAll(access, want string) bool {
	for _, c := range want {
		if !slices.Contains([]rune(access), c) {
			return false
		}
	}
	return true
}

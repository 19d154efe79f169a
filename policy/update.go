package policy

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// UpdateCheckID is the check ID of update refusals.
const UpdateCheckID = "updateDevices"

// EvaluateUpdate returns every device cgroup rule of an update that would
// grant access the container's spec did not already allow.
func EvaluateUpdate(container *specs.LinuxResources, update *specs.LinuxResources) []Violation {
	if update == nil {
		return nil
	}
	var have []specs.LinuxDeviceCgroup
	if container != nil {
		have = container.Devices
	}
	var vs []Violation
	for i, r := range update.Devices {
		if !r.Allow || allowedBy(have, r) {
			continue
		}
		vs = append(vs, Violation{Check: UpdateCheckID, Field: fmt.Sprintf("resources.devices[%d]", i), Value: deviceRule(r),
			Reason: fmt.Sprintf("update grants device access %q the container did not have", deviceRule(r))})
	}
	return vs
}

// allowedBy reports whether an allow rule in rules already grants r.
func allowedBy(rules []specs.LinuxDeviceCgroup, r specs.LinuxDeviceCgroup) bool {
	for _, h := range rules {
		if !h.Allow {
			continue
		}
		if (h.Type == "a" || h.Type == "" || h.Type == r.Type) &&
			(h.Major == nil || (r.Major != nil && *h.Major == *r.Major)) &&
			(h.Minor == nil || (r.Minor != nil && *h.Minor == *r.Minor)) &&
			accessWithin(r.Access, h.Access) {
			return true
		}
	}
	return false
}

func accessWithin(want, have string) bool {
	if have == "" {
		have = "rwm"
	}
	if want == "" {
		want = "rwm"
	}
	for _, c := range want {
		found := false
		for _, h := range have {
			if c == h {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func deviceRule(r specs.LinuxDeviceCgroup) string {
	num := func(p *int64) string {
		if p == nil {
			return "*"
		}
		return fmt.Sprint(*p)
	}
	t := r.Type
	if t == "" {
		t = "a"
	}
	return fmt.Sprintf("%s %s:%s %s", t, num(r.Major), num(r.Minor), r.Access)
}

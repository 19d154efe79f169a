package policy

import (
	"fmt"
	"sort"
	"strings"

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
	vs := UnifiedRefusals(update.Unified, "resources.unified", UpdateCheckID)
	for i, r := range update.Devices {
		if !r.Allow || allowedBy(have, r) {
			continue
		}
		vs = append(vs, Violation{Check: UpdateCheckID, Field: fmt.Sprintf("resources.devices[%d]", i), Value: deviceRule(r),
			Reason: fmt.Sprintf("update grants device access %q the container did not have", deviceRule(r))})
	}
	return withHints(vs, nil)
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

// unifiedControllers are the cgroup v2 controllers whose interface files a
// spec or update may write through linux.resources.unified: limits of the
// container's own cgroup. The core "cgroup.*" files are not among them:
// cgroup.procs would move any node process into the container's cgroup
// (and under its limits, freezer and kill), cgroup.kill kills, and
// cgroup.subtree_control or cgroup.type change the tree (runc's fs2 refuses
// only keys with a "/").
var unifiedControllers = []string{"cpu.", "cpuset.", "memory.", "io.", "pids.", "hugetlb.", "rdma.", "misc."}

// UnifiedRefusals returns a violation for every unified key that is not a
// controller's interface file.
func UnifiedRefusals(unified map[string]string, field, check string) []Violation {
	var keys []string
	for k := range unified {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var vs []Violation
	for _, k := range keys {
		ok := !strings.ContainsAny(k, "/\x00") && k != "." && k != ".."
		if ok {
			ok = false
			for _, c := range unifiedControllers {
				if strings.HasPrefix(k, c) && len(k) > len(c) {
					ok = true
				}
			}
		}
		if !ok {
			vs = append(vs, Violation{Check: check, Field: fmt.Sprintf("%s[%q]", field, truncate(k, 128)), Value: truncate(unified[k], 128),
				Reason: fmt.Sprintf("writes cgroup file %q, which is not a controller limit of the container's own cgroup (%s…)", truncate(k, 128), strings.Join(unifiedControllers, "…, "))})
		}
	}
	return vs
}

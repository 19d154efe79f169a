package policy

import (
	"fmt"
	"path"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func init() {
	register(Check{
		ID:          "privileged",
		Description: "Privileged containers: every capability, a read-write /sys or cgroup file system, host block devices, or a device rule allowing every device.",
		Evaluate:    checkPrivileged,
	})
}

func checkPrivileged(in *Input) []Violation {
	var vs []Violation
	add := func(field, value, reason string) {
		vs = append(vs, Violation{Check: "privileged", Field: field, Value: value, Reason: reason})
	}
	if p := in.Spec.Process; p != nil && p.Capabilities != nil {
		// containerd grants a privileged container every capability it holds
		// itself (the shim holds the same), or every one Linux defines.
		node := in.Host.Capabilities()
		for _, set := range capabilitySets(p.Capabilities) {
			caps := newCapSet(set.caps)
			if caps.holdsAll(node) || caps.holdsAll(allCapabilities) {
				add("process.capabilities."+set.name, fmt.Sprintf("%d capabilities", len(caps)),
					fmt.Sprintf("process.capabilities.%s holds every capability (securityContext.privileged=true)", set.name))
				break
			}
		}
	}
	for _, m := range in.Spec.Mounts {
		switch dest := path.Clean("/" + m.Destination); {
		case dest == "/sys" && m.Type == "sysfs" && !readOnly(m):
			add(mountField(m, "options"), "rw", `sysfs is mounted read-write at "/sys" (securityContext.privileged=true)`)
		case dest == "/sys/fs/cgroup" && (m.Type == "cgroup" || m.Type == "cgroup2") && !readOnly(m):
			add(mountField(m, "options"), "rw", `the cgroup file system is mounted read-write at "/sys/fs/cgroup" (securityContext.privileged=true)`)
		}
	}
	if l := in.Spec.Linux; l != nil {
		var block []string
		for _, d := range l.Devices {
			if d.Type == "b" {
				block = append(block, d.Path)
			}
		}
		if len(block) > 0 {
			add(fmt.Sprintf("linux.devices[%q]", block[0]), fmt.Sprint(block),
				fmt.Sprintf("host block device(s) %s exposed to the container", quoteList(block)))
		}
		if l.Resources != nil {
			for i, r := range l.Resources.Devices {
				if !r.Allow {
					continue
				}
				wildMajor := r.Major == nil || *r.Major < 0
				switch {
				case (r.Type == "" || r.Type == "a") && wildMajor:
					add(fmt.Sprintf("linux.resources.devices[%d]", i), "allow a *:* "+r.Access,
						"the device cgroup allows access to every host device")
				case r.Type == "b":
					add(fmt.Sprintf("linux.resources.devices[%d]", i), "allow b "+r.Access,
						"the device cgroup allows access to host block devices")
				case wildMajor:
					add(fmt.Sprintf("linux.resources.devices[%d]", i), "allow "+r.Type+" *:* "+r.Access,
						"the device cgroup allows access to every host "+r.Type+" device")
				}
			}
		}
		if len(l.NetDevices) > 0 {
			var names []string
			for n := range l.NetDevices {
				names = append(names, n)
			}
			sort.Strings(names)
			add("linux.netDevices", fmt.Sprint(names), fmt.Sprintf("moves host network device(s) %s into the container", quoteList(names)))
		}
	}
	return vs
}

type namedCaps struct {
	name string
	caps []string
}

func capabilitySets(c *specs.LinuxCapabilities) []namedCaps {
	return []namedCaps{
		{"bounding", c.Bounding}, {"effective", c.Effective}, {"permitted", c.Permitted},
		{"inheritable", c.Inheritable}, {"ambient", c.Ambient},
	}
}

// readOnly reports whether a mount is read-only.
func readOnly(m specs.Mount) bool {
	ro := false
	for _, o := range m.Options {
		switch o {
		case "ro", "rro":
			ro = true
		case "rw", "rrw":
			ro = false
		}
	}
	return ro
}

// mountField names a field of the mount at a destination.
func mountField(m specs.Mount, field string) string {
	return fmt.Sprintf("mounts[%q].%s", m.Destination, field)
}

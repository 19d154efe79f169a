package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func init() {
	register(Check{
		ID: "privileged",
		Description: "Privileged containers: every capability or no capability sets at all, a read-write /sys or cgroup file system (judged on the final mount tree), " +
			"no own mount or UTS namespace, host devices outside the container default set and the class allowlist, " +
			"device rules allowing every device, every device of a type or major number, or block devices.",
		Evaluate: checkPrivileged,
	})
}

func checkPrivileged(in *Input) []Violation {
	var vs []Violation
	add := func(field, value, reason string) {
		vs = append(vs, Violation{Check: "privileged", Field: field, Value: value, Reason: reason})
	}
	if p := in.Spec.Process; p != nil && p.Capabilities == nil {
		// runc (libcontainer/capabilities/capabilities.go New) returns an
		// empty Caps for a nil config, whose ApplyBoundingSet and ApplyCaps
		// do nothing: the process keeps what runc init has, the node root's
		// full set.
		add("process.capabilities", "absent",
			"process.capabilities is absent: runc keeps every capability of the node's root; set the capability sets explicitly")
	} else if p != nil {
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
	tree := newMountTree(in.Spec.Mounts)
	for _, k := range []struct {
		dest, what string
		types      []string
	}{
		{"/sys", "sysfs", []string{"sysfs"}},
		{"/sys/fs/cgroup", "the cgroup file system", []string{"cgroup", "cgroup2"}},
	} {
		if m, reason := writableKernelFS(tree, k.dest, k.what, k.types); reason != "" {
			add(mountField(m, "options"), "rw", reason)
		}
	}
	var nss []specs.LinuxNamespace
	if in.Spec.Linux != nil {
		nss = in.Spec.Linux.Namespaces
	}
	if !hasNamespace(nss, "mount") {
		add("linux.namespaces", `no "mount" namespace`,
			`linux.namespaces has no "mount" namespace: the container would run in the node's mount namespace, on the node's file systems; add one`)
	}
	// CRI gives a hostNetwork pod the node's UTS namespace too; that pod is
	// hostNamespaces' to judge (and the class's to allow), so a missing UTS
	// namespace is refused here only when the network namespace is the
	// container's own.
	if !hasNamespace(nss, "uts") && hasNamespace(nss, "network") {
		add("linux.namespaces", `no "uts" namespace`,
			`linux.namespaces has no "uts" namespace: the container would share the node's host and domain name; add one`)
	}
	if l := in.Spec.Linux; l != nil {
		checkDevices(in, l, add)
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

// writableKernelFS returns the entry that leaves the kernel file system at
// dest writable, and why: an entry of one of types mounted read-write at
// dest (even one a later mount covers: unmounting the cover exposes it), or
// a "remount" entry that turns the one visible at dest read-write.
func writableKernelFS(t *mountTree, dest, what string, types []string) (specs.Mount, string) {
	isKind := func(m specs.Mount) bool {
		for _, ty := range types {
			if m.Type == ty {
				return true
			}
		}
		return false
	}
	for _, tm := range t.mounts {
		if m := t.entry(tm); tm.dest == dest && isKind(m) && !readOnly(m) {
			return m, fmt.Sprintf("%s is mounted read-write at %q (securityContext.privileged=true)", what, dest)
		}
	}
	if tm := t.top(dest); tm != nil && tm.dest == dest && isKind(t.entry(tm)) && !tm.readOnly {
		w := t.writer(tm)
		return w, fmt.Sprintf("%s at %q is made read-write by the \"remount\" entry %s; remove it", what, dest, mountField(w, "options"))
	}
	return specs.Mount{}, ""
}

// hasNamespace reports whether the spec lists a namespace of kind (own or
// joined by path; joined ones are hostNamespaces' to judge).
func hasNamespace(nss []specs.LinuxNamespace, kind string) bool {
	for _, ns := range nss {
		if string(ns.Type) == kind {
			return true
		}
	}
	return false
}

// deviceID is a device type and number; minor -1 stands for every minor.
type deviceID struct {
	typ          string // "c" or "b"
	major, minor int64
}

func (d deviceID) String() string {
	if d.minor < 0 {
		return fmt.Sprintf("%s %d:*", d.typ, d.major)
	}
	return fmt.Sprintf("%s %d:%d", d.typ, d.major, d.minor)
}

// covers reports whether allowing a allows d (a wildcard minor covers every
// minor of its major; d with a wildcard minor needs one).
func (a deviceID) covers(d deviceID) bool {
	return a.typ == d.typ && a.major == d.major && (a.minor < 0 || a.minor == d.minor)
}

// parseDeviceID parses an allowlist entry: "c 10:229", "c 195:*", "b 8:0".
func parseDeviceID(s string) (deviceID, error) {
	f := strings.Fields(s)
	if len(f) != 2 || (f[0] != "c" && f[0] != "b") {
		return deviceID{}, fmt.Errorf("%q is not a device (want \"c MAJOR:MINOR\", \"b MAJOR:MINOR\" or a minor of \"*\")", s)
	}
	maj, min, ok := strings.Cut(f[1], ":")
	if !ok {
		return deviceID{}, fmt.Errorf("%q is not a device (want \"c MAJOR:MINOR\")", s)
	}
	d := deviceID{typ: f[0], minor: -1}
	var err error
	if d.major, err = strconv.ParseInt(maj, 10, 32); err != nil || d.major < 0 {
		return deviceID{}, fmt.Errorf("%q: the major number must be a number (a whole device type is never allowed)", s)
	}
	if min != "*" {
		if d.minor, err = strconv.ParseInt(min, 10, 32); err != nil || d.minor < 0 {
			return deviceID{}, fmt.Errorf("%q: the minor number must be a number or \"*\"", s)
		}
	}
	return d, nil
}

// defaultDeviceNodes are the device nodes every container has: runc's own
// (libcontainer/specconv/spec_linux.go AllowedDevices: null, random, full,
// tty, zero, urandom) and containerd's (oci.WithDefaultUnixDevices adds
// console and ptmx).
var defaultDeviceNodes = []deviceID{
	{"c", 1, 3}, {"c", 1, 5}, {"c", 1, 7}, {"c", 1, 8}, {"c", 1, 9}, // null, zero, full, random, urandom
	{"c", 5, 0}, {"c", 5, 1}, {"c", 5, 2}, // tty, console, ptmx
}

// defaultDeviceRules are the device cgroup rules runc appends to every
// container whatever the spec says (spec_linux.go AllowedDevices, appended in
// CreateCgroupConfig), plus containerd's console rule: a spec rule among
// them grants nothing new. /dev/pts/* (136:*) and /dev/net/tun (10:200) are
// runc's.
var defaultDeviceRules = append(append([]deviceID{}, defaultDeviceNodes...), deviceID{"c", 136, -1}, deviceID{"c", 10, 200})

func deviceAllowed(d deviceID, defaults []deviceID, allowlist []string) bool {
	for _, a := range defaults {
		if a.covers(d) {
			return true
		}
	}
	for _, s := range allowlist {
		if a, err := parseDeviceID(s); err == nil && a.covers(d) {
			return true
		}
	}
	return false
}

// checkDevices judges device nodes and device cgroup rules by type and
// number, never by path: runc creates a node with the spec's numbers at the
// spec's path (a "/dev/null" of 1:1 is /dev/mem).
func checkDevices(in *Input, l *specs.Linux, add func(field, value, reason string)) {
	allow := in.Options.AllowedDevices
	var block, char []string
	var first string
	for _, d := range l.Devices {
		switch d.Type {
		case "b":
			if !deviceAllowed(deviceID{"b", d.Major, d.Minor}, nil, allow) {
				block = append(block, d.Path)
			}
		case "c", "u": // runc: "u" (unbuffered) is a character device
			id := deviceID{"c", d.Major, d.Minor}
			if !deviceAllowed(id, defaultDeviceNodes, allow) {
				char = append(char, fmt.Sprintf("%s (%s)", d.Path, id))
				if first == "" {
					first = d.Path
				}
			}
		}
	}
	if len(block) > 0 || len(char) > 0 {
		var parts []string
		if len(block) > 0 {
			first = block[0]
			parts = append(parts, fmt.Sprintf("host block device(s) %s exposed to the container", quoteList(block)))
		}
		if len(char) > 0 {
			parts = append(parts, fmt.Sprintf("host character device(s) %s exposed to the container, outside the default set (null, zero, full, random, urandom, tty, console, ptmx)", quoteList(char)))
		}
		field := fmt.Sprintf("linux.devices[%q]", first)
		add(field, fmt.Sprint(append(block, char...)),
			field+": "+strings.Join(parts, "; ")+"; a device plugin's devices must be in the class's policy.allowed_devices")
	}
	if l.Resources == nil {
		return
	}
	for i, r := range l.Resources.Devices {
		if !r.Allow {
			continue
		}
		field := fmt.Sprintf("linux.resources.devices[%d]", i)
		wildMajor := r.Major == nil || *r.Major < 0
		wildMinor := r.Minor == nil || *r.Minor < 0
		id := deviceID{typ: r.Type, minor: -1}
		if !wildMajor {
			id.major = *r.Major
		}
		if !wildMinor {
			id.minor = *r.Minor
		}
		switch {
		case r.Type == "" || r.Type == "a":
			// runc's device emulator turns any allow rule of type "a" into
			// allow-all, whatever its numbers and access
			// (cgroups/devices/devices_emulator.go Apply and allow).
			add(field, "allow a "+r.Access, field+" allows access to every host device")
		case mknodOnly(r.Access):
			// Creating a node grants no access to it; runc appends
			// "c *:* m" and "b *:* m" to every container anyway.
		case r.Type == "b":
			if wildMajor || !deviceAllowed(id, nil, allow) {
				add(field, "allow b "+r.Access, field+" allows access to host block devices; a device plugin's devices must be in the class's policy.allowed_devices")
			}
		case wildMajor:
			add(field, "allow "+r.Type+" *:* "+r.Access, field+" allows access to every host "+r.Type+" device")
		case !deviceAllowed(id, defaultDeviceRules, allow):
			what := fmt.Sprintf("host device %s", id)
			if wildMinor {
				what = fmt.Sprintf("every host %s device of major %d (%s)", r.Type, id.major, id)
			}
			add(field, "allow "+id.String()+" "+r.Access,
				fmt.Sprintf("%s allows access to %s, outside the container default set; a device plugin's devices must be in the class's policy.allowed_devices", field, what))
		}
	}
}

// mknodOnly reports whether a device rule's access is mknod alone.
func mknodOnly(access string) bool {
	return access != "" && strings.Trim(access, "m") == ""
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

// mountField names a field of the mount at a destination.
func mountField(m specs.Mount, field string) string {
	return fmt.Sprintf("mounts[%q].%s", m.Destination, field)
}

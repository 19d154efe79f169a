package policy

import (
	"fmt"
	"path"
	"strings"
)

func init() {
	register(Check{
		ID: "cgroupsPath",
		Description: "A cgroup the container does not own: linux.cgroupsPath must end in the container's own ID (as containerd and kubelet name it), " +
			"without \"..\", in a cgroup no process is in yet, and an app container's must sit beside its pod sandbox's. Otherwise runc moves " +
			"the container into another workload's cgroup and rewrites its limits (cgroup v1 runc checks only the devices hierarchy for processes).",
		Evaluate: checkCgroupsPath,
	})
}

// CgroupHost is implemented by hosts that can look into the node's cgroup
// file systems. NodeHost does; fixtures and offline hosts need not.
type CgroupHost interface {
	// CgroupInUse returns a PID of a process in the cgroupfs path (in any
	// mounted hierarchy), or 0 when none is.
	CgroupInUse(path string) (int, error)
}

func checkCgroupsPath(in *Input) []Violation {
	l := in.Spec.Linux
	if l == nil {
		return nil
	}
	var unified []Violation
	if l.Resources != nil {
		unified = UnifiedRefusals(l.Resources.Unified, "linux.resources.unified", "cgroupsPath")
	}
	if l.CgroupsPath == "" {
		return unified // runc puts the container at /<id>: its own
	}
	return append(unified, checkCgroupsPathValue(in, l.CgroupsPath)...)
}

func checkCgroupsPathValue(in *Input, cp string) []Violation {
	var vs []Violation
	add := func(reason string) {
		vs = append(vs, Violation{Check: "cgroupsPath", Field: "linux.cgroupsPath", Value: truncate(cp, 256), Reason: reason})
	}
	// systemd driver: "slice:prefix:name" names a new scope unit,
	// prefix-name.scope; systemd refuses to create a unit that exists.
	if parts := strings.Split(cp, ":"); len(parts) == 3 {
		if parts[2] != in.ID {
			add(fmt.Sprintf("linux.cgroupsPath %q names scope %q, not the container's own ID %q", cp, parts[2], in.ID))
		}
		if strings.Contains(parts[0], "/") || strings.Contains(parts[0], "..") {
			add(fmt.Sprintf("linux.cgroupsPath %q has a slice with a path in it", cp))
		}
		return vs
	}
	if !strings.HasPrefix(cp, "/") {
		add(fmt.Sprintf("linux.cgroupsPath %q is relative: runc places it below its own cgroup", cp))
		return vs
	}
	for _, e := range strings.Split(cp, "/") {
		if e == ".." || e == "." {
			add(fmt.Sprintf("linux.cgroupsPath %q has a %q element", cp, e))
			return vs
		}
	}
	clean := path.Clean(cp)
	if path.Base(clean) != in.ID {
		add(fmt.Sprintf("linux.cgroupsPath %q does not end in the container's own ID %q: the container would share or take over another cgroup", cp, in.ID))
		return vs
	}
	if in.SandboxCgroup != "" && !in.IsSandbox() && path.Dir(clean) != path.Dir(path.Clean(in.SandboxCgroup)) {
		add(fmt.Sprintf("linux.cgroupsPath %q is not beside its pod sandbox's %q: the container would leave the pod's cgroup and its limits", cp, in.SandboxCgroup))
	}
	if u := offline(in.Host); u != nil {
		u.note("cgroup %q is taken as new (no process in it); not verified off the node", truncate(clean, 256))
	}
	if ch, ok := in.Host.(CgroupHost); ok {
		pid, err := ch.CgroupInUse(clean)
		switch {
		case err != nil:
			add(fmt.Sprintf("cannot verify that cgroup %q is new: %v", clean, err))
		case pid != 0:
			add(fmt.Sprintf("linux.cgroupsPath %q is the cgroup of running process %d: the container would take it over and rewrite its limits", cp, pid))
		}
	}
	return vs
}

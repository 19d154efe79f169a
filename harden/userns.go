package harden

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// UserNamespace is the user namespace a container is put in.
type UserNamespace struct {
	// UIDMappings and GIDMappings map container IDs to host IDs.
	UIDMappings, GIDMappings []specs.LinuxIDMapping
	// Path is the user namespace to join (an app container joins its pod
	// sandbox's); "" creates a new one with the mappings.
	Path string
	// Sysfs is a sysfs instance the caller mounted in the network
	// namespace the container joins by path (the kernel lets only that
	// namespace's owner mount one, and the node's user namespace owns a
	// network namespace CRI made): the container's sysfs mounts become
	// read-only bind mounts of it. "" leaves them.
	Sysfs string
	// Private names (by destination) the bind mounts of the pod's own
	// writable storage, which the caller gave to the pod's IDs: they are
	// not idmapped, so what the pod writes there lands on the node as its
	// mapped IDs.
	Private map[string]bool
	// Unmappable names (by destination) read-only bind mounts on a file
	// system the kernel cannot idmap (an image volume's overlay): mounted
	// as they are, their files of IDs outside the pod's range read as the
	// overflow user, and nothing can be written.
	Unmappable map[string]bool
}

// IDMapOption is the option of an idmapped bind mount: runc then maps it
// with the container's own user namespace (the mappings, or the namespace
// it joins).
func idmapOption(m specs.Mount) string {
	if hasOption(m.Options, "rbind") || m.Type == "rbind" {
		return "ridmap"
	}
	return "idmap"
}

// ApplyUserNamespace puts a container that has none into the user namespace
// u: a user entry in linux.namespaces, the mappings, and every bind mount
// but the pod's own writable storage (u.Private) idmapped with the
// container's own mapping ("idmap"/"ridmap"), so that the pod's read-only
// volumes, its containerd files and allowlisted host paths read and write as
// without the namespace (host root's files appear as container root's; the
// container's root writes as host root on the writable ones, as kubelet's
// hostUsers: false pods do). Kernel file systems (proc, tmpfs, devpts,
// mqueue, cgroup) are mounted inside the namespace by runc and need nothing;
// sysfs see u.Sysfs.
//
// It also returns the net.* sysctls it removed from the spec: a network
// namespace the container joins by path belongs to the node's user
// namespace, where the container's root may not write them; the caller
// applies them as the node's root before runc runs.
func ApplyUserNamespace(s *specs.Spec, u UserNamespace) ([]Change, map[string]string) {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	var changes []Change
	change := func(field string, from, to any) {
		changes = append(changes, Change{Field: field, From: from, To: to})
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: u.Path})
	change(`linux.namespaces["user"]`, nil, orNew(u.Path))
	change("linux.uidMappings", s.Linux.UIDMappings, u.UIDMappings)
	change("linux.gidMappings", s.Linux.GIDMappings, u.GIDMappings)
	s.Linux.UIDMappings, s.Linux.GIDMappings = u.UIDMappings, u.GIDMappings
	for i, m := range s.Mounts {
		if !IsBindMount(m) || m.UIDMappings != nil || m.GIDMappings != nil ||
			hasOption(m.Options, "idmap") || hasOption(m.Options, "ridmap") || u.Private[m.Destination] {
			continue
		}
		if u.Unmappable[m.Destination] {
			change(fmt.Sprintf("mounts[%q].options", m.Destination), m.Options,
				"not idmapped: read-only, on a file system the kernel cannot idmap (files of IDs outside the pod's range read as nobody)")
			continue
		}
		o := idmapOption(m)
		s.Mounts[i].Options = append(append([]string(nil), m.Options...), o)
		change(fmt.Sprintf("mounts[%q].options", m.Destination), m.Options, s.Mounts[i].Options)
	}
	var joinedNet bool
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace && ns.Path != "" {
			joinedNet = true
		}
	}
	var netSysctls map[string]string
	if joinedNet && u.Sysfs != "" {
		for i, m := range s.Mounts {
			if m.Type != "sysfs" {
				continue
			}
			opts := []string{"rbind", "ro", "nosuid", "nodev", "noexec"}
			s.Mounts[i] = specs.Mount{Destination: m.Destination, Type: "bind", Source: u.Sysfs, Options: opts}
			change(fmt.Sprintf("mounts[%q]", m.Destination), "sysfs", "read-only bind of a sysfs of the pod's network namespace, mounted by the shim")
		}
	}
	if joinedNet {
		for k, v := range s.Linux.Sysctl {
			if strings.HasPrefix(k, "net.") || strings.HasPrefix(k, "net/") {
				if netSysctls == nil {
					netSysctls = map[string]string{}
				}
				if k == "net.ipv4.ping_group_range" {
					v = hostGroupRange(v, u.GIDMappings)
				}
				netSysctls[k] = v
				delete(s.Linux.Sysctl, k)
				change(fmt.Sprintf("linux.sysctl[%q]", k), v, "set by the shim in the pod's network namespace")
			}
		}
	}
	return changes, netSysctls
}

// hostGroupRange translates a ping_group_range value ("low high", container
// GIDs, as the container would have written it in a network namespace of
// its own user namespace) to the host GIDs they map to: the shim writes it
// from the node's user namespace. A range that maps to no host GID becomes
// the kernel's "nobody may" default, "1 0".
func hostGroupRange(v string, ms []specs.LinuxIDMapping) string {
	var lo, hi int64
	if n, err := fmt.Sscanf(v, "%d %d", &lo, &hi); err != nil || n != 2 || lo > hi {
		return v // the kernel refuses it, naming the value
	}
	for _, m := range ms {
		a, b := max(lo, int64(m.ContainerID)), min(hi, int64(m.ContainerID)+int64(m.Size)-1)
		if a <= b {
			return fmt.Sprintf("%d %d", int64(m.HostID)+a-int64(m.ContainerID), int64(m.HostID)+b-int64(m.ContainerID))
		}
	}
	return "1 0"
}

func orNew(path string) string {
	if path == "" {
		return "new"
	}
	return path
}

// IDMapping is one container→host range for a rootfs mount option
// (containerd's uidmap=/gidmap= overlay options: "container:host:size").
func IDMapping(ms []specs.LinuxIDMapping) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%d:%d:%d", m.ContainerID, m.HostID, m.Size)
	}
	return strings.Join(parts, ",")
}

// UnjoinUserNamespace turns a user namespace the spec joins by path into a new one with the
// same mappings, for backends whose processes cannot join one by path (runsc's gofer is a
// multi-threaded Go program: setns(CLONE_NEWUSER) fails there). The container's processes
// then hold the same host IDs through a namespace of their own. A spec whose user namespace
// has no mappings to recreate it from is left as it is.
func UnjoinUserNamespace(s *specs.Spec) []Change {
	if s.Linux == nil || len(s.Linux.UIDMappings) == 0 || len(s.Linux.GIDMappings) == 0 {
		return nil
	}
	for i, ns := range s.Linux.Namespaces {
		if ns.Type == specs.UserNamespace && ns.Path != "" {
			s.Linux.Namespaces[i].Path = ""
			return []Change{{Field: `linux.namespaces["user"].path`, From: ns.Path, To: "new, with the pod's mappings"}}
		}
	}
	return nil
}

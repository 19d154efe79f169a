//go:build linux

package shim

import (
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The fuzzers' property: what no spec that comes out of the checks allowed
// and out of the hardening step may hold, for the default hardened class.
// It is written from the class's promise (README "What the hardening
// changes"), independently of policy/ and harden/: none of their code or
// tables is used here, so that a bug in them is not repeated in the oracle.

// propertyRoots are the directories whose files a pod may bind: containerd's
// and kubelet's roots and containerd's state directory (the class's
// containerd_root, kubelet_root and the state directory of the bundle).
type propertyRoots struct {
	containerdRoot, kubeletRoot, stateDir string
}

// propertyCaps is the default class's capability allowlist (CRI-O's nine).
var propertyCaps = map[string]bool{
	"CAP_CHOWN": true, "CAP_DAC_OVERRIDE": true, "CAP_FSETID": true, "CAP_FOWNER": true, "CAP_SETGID": true,
	"CAP_SETUID": true, "CAP_SETPCAP": true, "CAP_NET_BIND_SERVICE": true, "CAP_KILL": true,
}

// propertyNamespaces must each be the container's own or its pod's.
var propertyNamespaces = []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace}

// kernelMountTypes are the file systems a container may mount that hold no
// host data of their own.
var kernelMountTypes = map[string]bool{"proc": true, "tmpfs": true, "sysfs": true, "devpts": true, "mqueue": true, "cgroup": true, "cgroup2": true}

// propertyViolations lists every way an allowed, hardened spec breaks the
// class's promise.
func propertyViolations(s *specs.Spec, roots propertyRoots) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	p := s.Process
	if p == nil {
		bad("no process")
	} else {
		if !p.NoNewPrivileges {
			bad("process.noNewPrivileges is false")
		}
		if c := p.Capabilities; c != nil {
			for name, set := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted, "inheritable": c.Inheritable, "ambient": c.Ambient} {
				for _, cp := range set {
					if !propertyCaps[strings.ToUpper(cp)] {
						bad("process.capabilities.%s holds %s", name, cp)
					}
				}
			}
		}
	}
	if s.Root == nil || !s.Root.Readonly {
		bad("the root file system is writable")
	}
	if s.Hooks != nil && (len(s.Hooks.Prestart)+len(s.Hooks.CreateRuntime)+len(s.Hooks.CreateContainer)+len(s.Hooks.StartContainer)+len(s.Hooks.Poststart)+len(s.Hooks.Poststop)) > 0 {
		bad("hooks run on the host: %+v", s.Hooks)
	}
	l := s.Linux
	if l == nil {
		bad("no linux section: no namespaces, no seccomp")
		return out
	}
	if l.Seccomp == nil {
		bad("no seccomp filter")
	} else {
		switch l.Seccomp.DefaultAction {
		case specs.ActAllow, specs.ActLog, specs.ActNotify, specs.ActTrace:
			bad("seccomp default action %s lets every unlisted call through", l.Seccomp.DefaultAction)
		}
		if l.Seccomp.ListenerPath != "" {
			bad("seccomp listener %s decides for the container", l.Seccomp.ListenerPath)
		}
	}
	have := map[specs.LinuxNamespaceType]specs.LinuxNamespace{}
	for _, ns := range l.Namespaces {
		have[ns.Type] = ns
	}
	for _, t := range propertyNamespaces {
		ns, ok := have[t]
		switch {
		case !ok:
			bad("no %s namespace: the host's", t)
		case t == specs.MountNamespace && ns.Path != "":
			bad("the mount namespace joins %s", ns.Path)
		case ns.Path != "" && !podNamespacePath(ns.Path, t, roots):
			bad("the %s namespace joins %s", t, ns.Path)
		}
	}
	for _, d := range l.Devices {
		bad("device %s (%s %d:%d) added", d.Path, d.Type, d.Major, d.Minor)
	}
	if r := l.Resources; r != nil {
		for _, d := range r.Devices {
			if d.Allow && (d.Type == "" || d.Type == "a" || d.Major == nil || d.Minor == nil || *d.Major < 0 || *d.Minor < 0) {
				bad("device cgroup allows %+v", d)
			}
		}
	}
	for _, m := range s.Mounts {
		bind := m.Type == "bind" || m.Type == "rbind"
		for _, o := range m.Options {
			if o == "bind" || o == "rbind" {
				bind = true
			}
		}
		switch {
		case bind:
			if !podSource(m.Source, roots) {
				bad("mounts[%q] binds host path %q", m.Destination, m.Source)
			}
		case !kernelMountTypes[m.Type]:
			bad("mounts[%q] mounts %q of type %q", m.Destination, m.Source, m.Type)
		}
	}
	return out
}

// podSource: a bind source the pod owns: under containerd's root or state
// directory, or a pod's directory under kubelet's root, and no ".." walks
// out of it.
func podSource(src string, r propertyRoots) bool {
	if !path.IsAbs(src) || path.Clean(src) != src {
		return false
	}
	for _, root := range []string{r.containerdRoot, r.stateDir, path.Join(r.kubeletRoot, "pods")} {
		if root != "" && strings.HasPrefix(src, root+"/") {
			return true
		}
	}
	return false
}

// podNamespacePath: a namespace a container may join: a process's own
// namespace file (/proc/PID/ns/TYPE, PID above 1: its pod sandbox's), or a
// network namespace file containerd's CRI made (under its state directory,
// or /var/run/netns: never the host's).
func podNamespacePath(p string, t specs.LinuxNamespaceType, r propertyRoots) bool {
	if path.Clean(p) != p {
		return false
	}
	if t == specs.NetworkNamespace {
		for _, dir := range []string{r.stateDir, "/var/run/netns", "/run/netns"} {
			if dir != "" && strings.HasPrefix(p, dir+"/") {
				return true
			}
		}
	}
	rest, ok := strings.CutPrefix(p, "/proc/")
	if !ok {
		return false
	}
	pid, file, ok := strings.Cut(rest, "/ns/")
	if !ok || pid == "1" || pid == "self" || pid == "thread-self" || strings.TrimLeft(pid, "0123456789") != "" || pid == "" {
		return false
	}
	name := map[specs.LinuxNamespaceType]string{specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.MountNamespace: "mnt"}[t]
	return file == name
}

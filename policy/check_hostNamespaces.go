package policy

import (
	"fmt"
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func init() {
	register(Check{
		ID:          "hostNamespaces",
		Description: "Sharing the host's network, PID or IPC namespace (hostNetwork, hostPID, hostIPC), by omitting the namespace or joining the host's by path, and bind-mounting the host's /dev/shm.",
		Evaluate:    checkHostNamespaces,
	})
}

// hostNamespaceKinds are the namespaces Pod Security's hostNamespaces covers,
// with the pod field that shares each.
var hostNamespaceKinds = []struct{ kind, podField string }{
	{"network", "hostNetwork"}, {"pid", "hostPID"}, {"ipc", "hostIPC"},
}

func checkHostNamespaces(in *Input) []Violation {
	var vs []Violation
	add := func(field, value, reason string) {
		vs = append(vs, Violation{Check: "hostNamespaces", Field: field, Value: value, Reason: reason})
	}
	var nss []specs.LinuxNamespace
	if in.Spec.Linux != nil {
		nss = in.Spec.Linux.Namespaces
	}
	podField := map[string]string{}
	for _, k := range hostNamespaceKinds {
		podField[k.kind] = k.podField
		if _, ok := findNamespace(nss, k.kind); !ok {
			add("linux.namespaces", fmt.Sprintf("no %q namespace", k.kind),
				fmt.Sprintf("shares the host's %s namespace (%s=true)", k.kind, k.podField))
		}
	}
	// Joining any host namespace by path is refused, not only the three Pod
	// Security names (mount, uts, cgroup, user and time as well).
	for _, ns := range nss {
		if ns.Path == "" {
			continue
		}
		kind := string(ns.Type)
		field := fmt.Sprintf("linux.namespaces[%q].path", kind)
		id, err := in.Host.Namespace(ns.Path)
		if err != nil {
			add(field, ns.Path, fmt.Sprintf("cannot verify the %s namespace at %q: %v", kind, ns.Path, err))
			continue
		}
		hosts, err := in.Host.HostNamespaces(kind)
		if err != nil {
			add(field, ns.Path, fmt.Sprintf("cannot read the host's %s namespace: %v", kind, err))
			continue
		}
		if slices.Contains(hosts, id) {
			reason := fmt.Sprintf("joins the host's %s namespace through %q", kind, ns.Path)
			if f := podField[kind]; f != "" {
				reason += fmt.Sprintf(" (%s=true)", f)
			}
			add(field, ns.Path, reason)
		}
	}
	for _, m := range in.Spec.Mounts {
		if isHostShm(in.Host, m) {
			add(mountField(m, "source"), m.Source, fmt.Sprintf("bind-mounts the host's /dev/shm at %q (hostIPC=true)", m.Destination))
		}
	}
	return vs
}

// isHostShm reports whether m bind-mounts the host's /dev/shm.
func isHostShm(h Host, m specs.Mount) bool {
	if !isBind(m) || !filepath.IsAbs(m.Source) {
		return false
	}
	src := resolveOrClean(h, m.Source)
	return src == "/dev/shm" || src == "/run/shm"
}

func findNamespace(nss []specs.LinuxNamespace, kind string) (specs.LinuxNamespace, bool) {
	for _, ns := range nss {
		if string(ns.Type) == kind {
			return ns, true
		}
	}
	return specs.LinuxNamespace{}, false
}

// isBind reports whether a mount is a bind mount.
func isBind(m specs.Mount) bool {
	if m.Type == "bind" || m.Type == "rbind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

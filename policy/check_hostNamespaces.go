package policy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

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
	// Security names (mount, uts, cgroup, user and time as well); beyond
	// that, only the pod's own namespaces may be joined.
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
			continue
		}
		if why := notOwnNamespace(in, kind, ns.Path, id); why != "" {
			add(field, ns.Path, why)
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

// notOwnNamespace returns why joining the namespace at path is not joining
// one of the pod's own, or "" when it is. A pod sandbox may join only a
// network namespace that no process is in yet (the one the runtime created
// for it: CNI's); every other container only the namespaces of the pod
// sandbox it belongs to, as the shim serving that pod knows its process.
func notOwnNamespace(in *Input, kind, path string, id NSID) string {
	if in.IsSandbox() {
		switch {
		case kind == "network" && isRuntimeNetNSPath(in, path):
		case kind == "user" && isPinnedUserNSPath(in, path):
		case kind == "network":
			return fmt.Sprintf("a pod sandbox joins the network namespace at %q; only one the runtime created for it (%s/cni-…) may be joined", path, strings.Join(netnsDirs(in), "/cni-…, "))
		case kind == "user":
			return fmt.Sprintf("a pod sandbox joins the user namespace at %q; only the one containerd pinned for it (<state>/io.containerd.grpc.v1.cri/sandboxes/<its id>/pinned-namespaces/user) may be joined", path)
		default:
			return fmt.Sprintf("a pod sandbox joins an existing %s namespace through %q; only its network and user namespaces may be created for it beforehand", kind, path)
		}
		pid, err := in.Host.NamespaceInUse(kind, id)
		if err != nil {
			return fmt.Sprintf("cannot verify that the %s namespace at %q is new: %v", kind, path, err)
		}
		if pid != 0 {
			return fmt.Sprintf("joins the %s namespace at %q, which process %d is already in; a pod sandbox gets a %s namespace of its own", kind, path, pid, kind)
		}
		return ""
	}
	if in.SandboxPID <= 0 {
		return fmt.Sprintf("joins the %s namespace at %q, but belongs to no pod sandbox this shim serves; only a pod's own namespaces may be joined", kind, path)
	}
	own := fmt.Sprintf("/proc/%d/ns/%s", in.SandboxPID, nsFile[kind])
	want, err := in.Host.Namespace(own)
	if err != nil {
		return fmt.Sprintf("cannot read the pod sandbox's %s namespace (%s): %v", kind, own, err)
	}
	if want != id {
		return fmt.Sprintf("joins the %s namespace at %q, which is not its pod sandbox's; only the pod's own namespaces may be joined", kind, path)
	}
	return ""
}

// netnsDirs are where containerd's CRI creates pod network namespaces:
// netns_mounts_under (default /var/run/netns, a link to /run/netns) or, with
// netns_mounts_under_state_dir, under its state directory.
func netnsDirs(in *Input) []string {
	dirs := []string{"/run/netns", "/var/run/netns"}
	if in.StateDir != "" {
		dirs = append(dirs, filepath.Join(in.StateDir, "io.containerd.grpc.v1.cri", "netns"))
	}
	return dirs
}

// isRuntimeNetNSPath reports whether path is a network namespace file the
// runtime names for a pod (cni-<uuid> in one of netnsDirs).
func isRuntimeNetNSPath(in *Input, path string) bool {
	real := resolveOrClean(in.Host, path)
	if !strings.HasPrefix(filepath.Base(real), "cni-") {
		return false
	}
	for _, d := range netnsDirs(in) {
		if filepath.Dir(real) == resolveOrClean(in.Host, d) {
			return true
		}
	}
	return false
}

// isPinnedUserNSPath reports whether path is the user namespace containerd's
// CRI pinned for this pod sandbox (user-namespaced pods, hostUsers: false).
func isPinnedUserNSPath(in *Input, path string) bool {
	id := in.OwnSandboxID()
	if id == "" || in.StateDir == "" {
		return false
	}
	want := filepath.Join(resolveOrClean(in.Host, in.StateDir), "io.containerd.grpc.v1.cri", "sandboxes", id, "pinned-namespaces", "user")
	return resolveOrClean(in.Host, path) == want
}

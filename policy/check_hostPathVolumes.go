package policy

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func init() {
	register(Check{
		ID: "hostPathVolumes",
		Description: "Bind mounts of host paths. Allowed: this pod's own kubelet volume directories (emptyDir, secret, configMap, projected, downwardAPI, CSI), " +
			"its etc-hosts and termination-log files, this sandbox's containerd-managed files and image volumes, and class-allowlisted prefixes. " +
			"Refused: everything else, including another pod's directories and subPaths backed by a host directory.",
		Evaluate: checkHostPathVolumes,
	})
}

// podVolumePlugins are the kubelet volume plugins whose directories a pod
// may mount (Pod Security's restricted volume types that reach the node as
// directories).
var podVolumePlugins = map[string]bool{
	"kubernetes.io~empty-dir":    true,
	"kubernetes.io~secret":       true,
	"kubernetes.io~configmap":    true,
	"kubernetes.io~projected":    true,
	"kubernetes.io~downward-api": true,
	"kubernetes.io~csi":          true,
}

// pseudoFilesystems are kernel file systems a container may mount without a
// host source.
var pseudoFilesystems = map[string]bool{
	"proc": true, "sysfs": true, "tmpfs": true, "devpts": true, "mqueue": true,
	"cgroup": true, "cgroup2": true,
}

// kernelFSPlace is where the kernel file systems that expose the host may be
// mounted: a second proc has no masks, a second sysfs or cgroup mount no
// read-only remount.
var kernelFSPlace = map[string]string{
	"proc": "/proc", "sysfs": "/sys", "cgroup": "/sys/fs/cgroup", "cgroup2": "/sys/fs/cgroup",
}

// maxBackingDepth bounds how many bind-mount hops are followed.
const maxBackingDepth = 4

func checkHostPathVolumes(in *Input) []Violation {
	var vs []Violation
	if reason := rootRefusal(in); reason != "" {
		vs = append(vs, Violation{Check: "hostPathVolumes", Field: "root.path", Value: in.Spec.Root.Path, Reason: reason})
	}
	hp := newHostPaths(in)
	in.allowlisted, in.podPrivate = nil, nil
	for i, m := range in.Spec.Mounts {
		if !isBind(m) {
			if want, ok := kernelFSPlace[m.Type]; ok && path.Clean("/"+m.Destination) != want {
				vs = append(vs, Violation{Check: "hostPathVolumes", Field: mountField(m, "destination"), Value: m.Destination,
					Reason: fmt.Sprintf("mounts a %s file system at %q; it may only be mounted at %q, where the runtime masks it", m.Type, m.Destination, want)})
				continue
			}
			if pseudoFilesystems[m.Type] {
				continue
			}
			vs = append(vs, Violation{Check: "hostPathVolumes", Field: mountField(m, "type"), Value: m.Type,
				Reason: fmt.Sprintf("mount %q is a %q file system from %q; only kernel pseudo file systems and bind mounts of allowed paths are permitted", m.Destination, m.Type, m.Source)})
			continue
		}
		if isHostShm(in.Host, m) {
			continue // hostIPC: reported by hostNamespaces
		}
		if reason := hp.refuse(m); reason != "" {
			vs = append(vs, Violation{Check: "hostPathVolumes", Field: mountField(m, "source"), Value: m.Source,
				Reason: fmt.Sprintf("mount %q %s", m.Destination, reason)})
		} else if hp.viaAllowlist {
			in.allowlisted = append(in.allowlisted, i)
		} else if hp.private != "" {
			in.podPrivate = append(in.podPrivate, PrivateMount{Destination: m.Destination, Source: m.Source, Real: hp.real})
		}
	}
	return vs
}

// hostPaths classifies bind-mount sources for one spec.
type hostPaths struct {
	in        *Input
	kubelet   string // resolved kubelet root
	ctrdRoot  string // resolved containerd root
	ctrdState string // resolved containerd state
	podUID    string
	sandbox   string
	mounts    []*mountinfo.Info
	mountsErr error
	loaded    bool
	// cur is the mount being judged; viaAllowlist is set when it was
	// admitted through policy.allowed_host_paths (its source or, for a
	// subPath, the directory backing it).
	cur          specs.Mount
	viaAllowlist bool
	// private names the pod's own storage the current mount was found to
	// be ("emptyDir", "termination log", "shm", "hosts"…), "" for anything
	// else; real is its resolved source.
	private, real string
}

func newHostPaths(in *Input) *hostPaths {
	h := &hostPaths{
		in:        in,
		kubelet:   resolveOrClean(in.Host, in.Options.KubeletRoot),
		ctrdRoot:  resolveOrClean(in.Host, in.Options.ContainerdRoot),
		ctrdState: resolveOrClean(in.Host, in.StateDir),
		podUID:    in.OwnPodUID(),
		sandbox:   in.OwnSandboxID(),
	}
	return h
}

func resolveOrClean(h Host, p string) string {
	if p == "" {
		return ""
	}
	p = filepath.Clean(p)
	if r, err := h.Resolve(p); err == nil {
		return r
	}
	return p
}

func (h *hostPaths) mountTable() ([]*mountinfo.Info, error) {
	if !h.loaded {
		h.mounts, h.mountsErr = h.in.Host.Mounts()
		h.loaded = true
	}
	return h.mounts, h.mountsErr
}

// refuse returns why a bind mount is refused, or "" when it is allowed.
func (h *hostPaths) refuse(m specs.Mount) string {
	h.cur, h.viaAllowlist, h.private, h.real = m, false, "", ""
	if !filepath.IsAbs(m.Source) {
		return fmt.Sprintf("has a relative source %q", m.Source)
	}
	if hasDotComponent(m.Source) {
		return fmt.Sprintf("has the source %q, with a \".\" or \"..\" component (the kernel follows a symlink before \"..\"; the check cannot judge it as written)", m.Source)
	}
	if within(filepath.Clean(m.Source), "/proc") {
		// /proc/<pid>/root and /cwd are magic links into other mount
		// namespaces: no path check can follow them.
		return fmt.Sprintf("comes from %q, under /proc", m.Source)
	}
	src, err := h.in.Host.Resolve(filepath.Clean(m.Source))
	if err != nil {
		return fmt.Sprintf("comes from host path %q, which cannot be resolved: %v", m.Source, err)
	}
	if within(src, "/proc") {
		return fmt.Sprintf("comes from %q, which resolves under /proc (%q)", m.Source, src)
	}
	h.real = src
	why, ok := h.classify(src, 0)
	if ok {
		return ""
	}
	h.private = ""
	if allowed, matched := h.allowlisted(src); matched {
		return allowed
	}
	return why
}

// allowlisted judges a resolved host path by policy.allowed_host_paths: it
// reports whether an entry covers it and, if so, why the mount is refused
// ("" when allowed: a read-only entry needs a read-only mount).
func (h *hostPaths) allowlisted(real string) (string, bool) {
	for _, a := range h.in.Options.AllowedHostPaths {
		prefix := resolveOrClean(h.in.Host, a.PathPrefix)
		if !within(real, prefix) {
			continue
		}
		if a.ReadOnly && !readOnly(h.cur) {
			return fmt.Sprintf("comes from host path %q, which runtime class allows read-only only (add \"ro\")", real), true
		}
		h.viaAllowlist = true
		return "", true
	}
	return "", false
}

// classify decides whether a resolved host path is one the pod owns. It
// returns ok, or the reason it is not.
func (h *hostPaths) classify(src string, depth int) (string, bool) {
	if rel, ok := relUnder(src, filepath.Join(h.kubelet, "pods")); ok {
		return h.classifyKubelet(src, rel, depth)
	}
	if h.sandbox != "" {
		if rel, ok := relUnder(src, filepath.Join(h.ctrdRoot, "io.containerd.grpc.v1.cri", "sandboxes", h.sandbox)); ok {
			switch rel {
			case "hostname", "hosts", "resolv.conf":
				h.private = rel
				return "", true
			}
		}
		if h.ctrdState != "" {
			if rel, ok := relUnder(src, filepath.Join(h.ctrdState, "io.containerd.grpc.v1.cri", "sandboxes", h.sandbox)); ok && rel == "shm" {
				h.private = "shm"
				return "", true
			}
			if _, ok := relUnder(src, filepath.Join(h.ctrdState, "io.containerd.grpc.v1.cri", "image-volumes", h.sandbox)); ok {
				return "", true
			}
		}
	}
	if within(src, filepath.Join(h.ctrdRoot, "io.containerd.grpc.v1.cri", "sandboxes")) ||
		(h.ctrdState != "" && within(src, filepath.Join(h.ctrdState, "io.containerd.grpc.v1.cri"))) {
		return fmt.Sprintf("comes from %q, which belongs to another pod sandbox", src), false
	}
	return fmt.Sprintf("comes from host path %q", src), false
}

func (h *hostPaths) classifyKubelet(src, rel string, depth int) (string, bool) {
	if rel == "." {
		return fmt.Sprintf("comes from %q, the kubelet's pods directory", src), false
	}
	parts := strings.Split(rel, "/")
	uid := parts[0]
	if h.podUID == "" {
		return fmt.Sprintf("comes from %q, a kubelet directory of pod %q, which this container does not run in (a pod's volumes reach only the containers the shim runs in that pod)", src, uid), false
	}
	if uid != h.podUID {
		return fmt.Sprintf("comes from %q, a kubelet directory of another pod (UID %q)", src, uid), false
	}
	if len(parts) < 2 {
		return fmt.Sprintf("comes from %q, the pod's whole kubelet directory", src), false
	}
	switch parts[1] {
	case "volumes":
		if len(parts) < 4 {
			return fmt.Sprintf("comes from %q, not a single volume directory", src), false
		}
		if !podVolumePlugins[parts[2]] {
			return fmt.Sprintf("comes from %q, a %q volume, which is not an allowed volume type", src, parts[2]), false
		}
		if parts[2] == "kubernetes.io~csi" {
			if len(parts) > 5 {
				return fmt.Sprintf("comes from %q, a path inside CSI volume %q, not the volume's mount", src, parts[3]), false
			}
			return "", true
		}
		if parts[2] == "kubernetes.io~empty-dir" && len(parts) == 4 {
			h.private = "emptyDir"
		}
		if len(parts) > 4 {
			// kubelet mounts a volume's root, and a subPath through
			// volume-subpaths; a directory inside a volume belongs to the
			// pod's containers, which can swap it for a symlink between
			// this check and runc's mount.
			return fmt.Sprintf("comes from %q, a path inside volume %q rather than the volume itself; use a subPath", src, parts[3]), false
		}
		return h.checkBacking(src, depth, false)
	case "etc-hosts":
		if len(parts) == 2 {
			h.private = "etc-hosts"
			return "", true
		}
	case "containers":
		if len(parts) == 4 {
			h.private = "termination log"
			return "", true
		}
	case "volume-subpaths":
		if len(parts) < 5 {
			return fmt.Sprintf("comes from %q, not a subPath mount", src), false
		}
		return h.checkBacking(src, depth, true)
	}
	return fmt.Sprintf("comes from %q, which is not one of the pod's volumes", src), false
}

// checkBacking follows the bind mount that src lives on to the directory that
// really backs it and classifies that. A subPath must be backed by one of the
// pod's volumes; a volume directory must not be a bind of anything else.
func (h *hostPaths) checkBacking(src string, depth int, subPath bool) (string, bool) {
	if u := offline(h.in.Host); u != nil {
		what := "volume directory"
		if subPath {
			what = "subPath"
		}
		u.notePath(src, "%q: symlinks in it and what backs this %s (one of the pod's own volumes?) are not verified off the node", truncate(src, 256), what)
		return "", true
	}
	mounts, err := h.mountTable()
	if err != nil {
		return fmt.Sprintf("comes from %q, whose backing cannot be determined: %v", src, err), false
	}
	m := containingMount(mounts, src)
	if m == nil {
		return fmt.Sprintf("comes from %q, which is on no mount", src), false
	}
	podDir := filepath.Join(h.kubelet, "pods", h.podUID)
	if !within(m.Mountpoint, podDir) {
		// An ordinary directory on a node file system: the path itself is
		// what backs it. A subPath must be a mount of its own.
		if subPath {
			return fmt.Sprintf("comes from %q, a subPath that is not mounted, whose backing cannot be determined", src), false
		}
		return "", true
	}
	if m.FSType == "tmpfs" && m.Root == "/" && !subPath {
		return "", true // a memory-backed volume (secret, projected, emptyDir medium Memory)
	}
	backing, ok := backingPath(mounts, m, src)
	if !ok {
		return fmt.Sprintf("comes from %q, whose backing (device %d:%d, root %q) is not visible on the node", src, m.Major, m.Minor, m.Root), false
	}
	if depth >= maxBackingDepth {
		return fmt.Sprintf("comes from %q, behind more than %d bind mounts", src, maxBackingDepth), false
	}
	if backing == src {
		return "", true
	}
	why, ok := h.classifyVolumeBacking(backing, depth+1)
	if !ok {
		kind := "volume directory"
		if subPath {
			kind = "subPath"
		}
		return fmt.Sprintf("comes from %q, a %s really backed by %q: %s", src, kind, backing, why), false
	}
	return "", true
}

// classifyVolumeBacking accepts only the pod's own volume directories as the
// backing of a subPath or volume mount.
func (h *hostPaths) classifyVolumeBacking(backing string, depth int) (string, bool) {
	rel, ok := relUnder(backing, filepath.Join(h.kubelet, "pods", h.podUID, "volumes"))
	if !ok {
		// A subPath of an allowlisted hostPath volume is allowed like the
		// hostPath itself (kubelet bind-mounts the subdirectory).
		if why, matched := h.allowlisted(backing); matched {
			return why, why == ""
		}
		return "not one of the pod's volumes", false
	}
	parts := strings.Split(rel, "/")
	if len(parts) < 2 || !podVolumePlugins[parts[0]] {
		return "not one of the pod's allowed volumes", false
	}
	if parts[0] == "kubernetes.io~csi" {
		return "", true
	}
	if parts[0] == "kubernetes.io~empty-dir" && depth == 1 && h.private == "" {
		h.private = "emptyDir subPath"
	}
	return h.checkBacking(backing, depth, false)
}

// containingMount returns the mount whose mount point is the longest prefix
// of path (the last one mounted wins on equal mount points).
func containingMount(mounts []*mountinfo.Info, path string) *mountinfo.Info {
	var best *mountinfo.Info
	for _, m := range mounts {
		if !within(path, m.Mountpoint) {
			continue
		}
		if best == nil || len(m.Mountpoint) >= len(best.Mountpoint) {
			best = m
		}
	}
	return best
}

// backingPath maps path, which lies in bind mount m, to the path of the same
// file on a mount of the same file system whose root is a prefix of m's root
// and which is not itself under the path's mount point.
func backingPath(mounts []*mountinfo.Info, m *mountinfo.Info, path string) (string, bool) {
	rel, _ := relUnder(path, m.Mountpoint)
	fsPath := filepath.Join(m.Root, rel)
	var best *mountinfo.Info
	for _, o := range mounts {
		if o == m || o.Major != m.Major || o.Minor != m.Minor || within(o.Mountpoint, m.Mountpoint) {
			continue
		}
		if !within(fsPath, o.Root) {
			continue
		}
		if best == nil || len(o.Root) < len(best.Root) || (len(o.Root) == len(best.Root) && len(o.Mountpoint) < len(best.Mountpoint)) {
			best = o
		}
	}
	if best == nil {
		return "", false
	}
	r, _ := relUnder(fsPath, best.Root)
	return filepath.Join(best.Mountpoint, r), true
}

// within reports whether path is dir or below it, by path components.
func within(path, dir string) bool {
	_, ok := relUnder(path, dir)
	return ok
}

// relUnder returns path relative to dir when path is dir or below it.
func relUnder(path, dir string) (string, bool) {
	if dir == "" {
		return "", false
	}
	path, dir = filepath.Clean(path), filepath.Clean(dir)
	if path == dir {
		return ".", true
	}
	if dir == "/" {
		return strings.TrimPrefix(path, "/"), strings.HasPrefix(path, "/")
	}
	if strings.HasPrefix(path, dir+"/") {
		return path[len(dir)+1:], true
	}
	return "", false
}

// PrivateMount is a bind mount of the pod's own storage: an emptyDir volume
// (or a subPath of one), the container's termination log, the pod's
// /dev/shm, its hosts, hostname and resolv.conf files.
type PrivateMount struct {
	Destination, Source string
	// Real is the source's resolved path when the check judged it.
	Real string
}

// PodPrivateMounts returns the bind mounts the last Evaluate of in found to
// be the pod's own writable storage. Their contents are the pod's alone:
// the shim gives them to the pod's user namespace rather than idmapping
// them, so that what the pod writes there lands on the node as the pod's
// mapped IDs, never as the node's root.
func PodPrivateMounts(in *Input) []PrivateMount {
	return slices.Clone(in.podPrivate)
}

// AllowlistedMounts returns the indices of the bind mounts of in.Spec that
// the last Evaluate of in admitted only through policy.allowed_host_paths
// (directly, or as the backing of a subPath): directories others may write
// in, where a symlink swapped in after the check would redirect runc's
// mount. The shim pins them (harden.PinMounts). They are what the check
// decided, not a second look at the paths, which may have changed since.
func AllowlistedMounts(in *Input) []int {
	return slices.Clone(in.allowlisted)
}

// JudgePinnedSource judges mount m as if its source were real — the path of
// the object the shim has pinned — taken as it is, no symlink followed: ""
// when the class allows it.
func JudgePinnedSource(in *Input, m specs.Mount, real string) string {
	pinned := *in.withDefaults()
	real = filepath.Clean(real)
	pinned.Host = literalPaths{pinned.Host, real}
	m.Source = real
	if isHostShm(pinned.Host, m) {
		return fmt.Sprintf("mount %q now comes from the host's /dev/shm", m.Destination)
	}
	if why := newHostPaths(&pinned).refuse(m); why != "" {
		return fmt.Sprintf("mount %q %s", m.Destination, why)
	}
	return ""
}

// literalPaths is a host that takes the pinned object's path as it is: it
// has no symlink in it, and following one swapped in since would judge
// something else than what is mounted. Other paths (the class's roots and
// prefixes) resolve as on the node.
type literalPaths struct {
	Host
	literal string
}

func (h literalPaths) Resolve(p string) (string, error) {
	if p = filepath.Clean(p); p == h.literal {
		return p, nil
	}
	return h.Host.Resolve(p)
}

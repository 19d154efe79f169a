package policy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// RootfsMount is one mount of a task's root file system, as a Create request
// carries it (containerd's types.Mount): what the runc shim mounts, as the
// node's root, under <bundle>/rootfs before runc runs.
type RootfsMount struct {
	Type, Source, Target string
	Options              []string
}

// snapshotterDirPrefix is how containerd names its snapshotters' root
// directories under its root: io.containerd.snapshotter.v1.<name>.
const snapshotterDirPrefix = "io.containerd.snapshotter.v1."

// overlayPathOptions are the overlay options whose values are host paths.
var overlayPathOptions = map[string]bool{"lowerdir": true, "lowerdir+": true, "datadir+": true, "upperdir": true, "workdir": true}

// EvaluateRootfs judges the root file system mounts of a task. containerd's
// snapshotters hand a container its image as an overlay (or, for one layer,
// a bind) of directories under their own root; a raw client can send any
// mount instead: the node's "/", a host directory at a target inside the
// root file system, a second procfs. Only overlay and bind mounts of
// snapshot directories under containerd's root, mounted at the root itself,
// are allowed.
func EvaluateRootfs(ms []RootfsMount, containerdRoot string, h Host) []Violation {
	var vs []Violation
	root := resolveOrClean(h, containerdRoot)
	for i, m := range ms {
		field := fmt.Sprintf("rootfs[%d]", i)
		refuse := func(format string, args ...any) {
			vs = append(vs, Violation{Check: "hostPathVolumes", Field: field, Value: truncate(m.Type+" "+m.Source, 256),
				Reason: fmt.Sprintf("root file system mount %d ", i) + fmt.Sprintf(format, args...)})
		}
		if m.Target != "" {
			refuse("targets %q inside the root file system; a snapshot is mounted at the root itself", m.Target)
			continue
		}
		var paths []string
		switch {
		case m.Type == "overlay":
			for _, o := range m.Options {
				k, v, ok := strings.Cut(o, "=")
				switch {
				case !ok:
				case overlayPathOptions[k]:
					sep := ":"
					if strings.HasSuffix(k, "+") {
						sep = "\x00" // one path per option
					}
					paths = append(paths, strings.Split(v, sep)...)
				case strings.Contains(v, "/"):
					refuse("has overlay option %q, whose value is a path the shim does not know", truncate(o, 128))
				}
			}
			if len(paths) == 0 {
				refuse("is an overlay without layers")
			}
		case m.Type == "bind" || hasBindOption(m.Options):
			paths = []string{m.Source}
		default:
			refuse("is a %q mount of %q; only overlay and bind mounts of containerd's snapshots are allowed", m.Type, m.Source)
			continue
		}
		refused := false
		for _, p := range paths {
			if why := snapshotPathRefusal(p, root, h); why != "" {
				refuse("%s", why)
				refused = true
				break
			}
		}
		if !refused {
			if why := sharedLayerRefusal(m, h); why != "" {
				refuse("%s", why)
			}
		}
	}
	return withHints(vs, nil)
}

// sharedLayerRefusal returns why a root file system mount would share a
// writable layer with a mounted one (another container's, running), or "":
// its upper directory being that one's upper or lower directory (writing
// into another container's root file system, or under a layer it reads), a
// lower directory or bind source being that one's upper directory (reading
// another container's writes).
func sharedLayerRefusal(m RootfsMount, h Host) string {
	var upper string
	var reads []string
	if m.Type == "overlay" {
		upper, reads = overlayLayers(m.Options)
	} else {
		reads = append(reads, filepath.Clean(m.Source))
	}
	mounts, err := h.Mounts()
	if err != nil {
		return fmt.Sprintf("cannot read the node's mounts to check that its layers are its own: %v", err)
	}
	for _, mi := range mounts {
		if mi.FSType != "overlay" {
			continue
		}
		theirUpper, theirLowers := overlayLayers(strings.Split(mi.VFSOptions, ","))
		if theirUpper == "" {
			continue
		}
		switch {
		case upper != "" && upper == theirUpper:
			return fmt.Sprintf("has upper directory %q, the writable layer of the root file system mounted at %q (another container's)", upper, mi.Mountpoint)
		case upper != "" && slices.Contains(theirLowers, upper):
			return fmt.Sprintf("has upper directory %q, a layer of the root file system mounted at %q (another container's)", upper, mi.Mountpoint)
		case slices.Contains(reads, theirUpper):
			return fmt.Sprintf("reads %q, the writable layer of the root file system mounted at %q (another container's)", theirUpper, mi.Mountpoint)
		}
	}
	return ""
}

// overlayLayers returns an overlay's upper directory and the layers it
// reads (lowerdir, lowerdir+, datadir+), cleaned, from its options.
func overlayLayers(opts []string) (upper string, lowers []string) {
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "upperdir":
			upper = filepath.Clean(v)
		case "lowerdir":
			for _, l := range strings.Split(v, ":") {
				lowers = append(lowers, filepath.Clean(l))
			}
		case "lowerdir+", "datadir+":
			lowers = append(lowers, filepath.Clean(v))
		}
	}
	return upper, lowers
}

// hasDotComponent reports whether a path has a "." or ".." component: the
// kernel resolves a symlink before a following "..", which a lexical clean
// does not (a/link/.. is not a).
func hasDotComponent(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == "." || c == ".." {
			return true
		}
	}
	return false
}

func hasBindOption(opts []string) bool {
	for _, o := range opts {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// snapshotPathRefusal returns why p is not a snapshot directory under
// containerd's root, or "".
func snapshotPathRefusal(p, root string, h Host) string {
	if !filepath.IsAbs(p) {
		return fmt.Sprintf("names the relative path %q", p)
	}
	if hasDotComponent(p) {
		return fmt.Sprintf("names %q, with a \".\" or \"..\" component (the kernel follows a symlink before \"..\"; the check cannot judge it as written)", p)
	}
	real, err := h.Resolve(filepath.Clean(p))
	if err != nil {
		return fmt.Sprintf("names %q, which cannot be resolved: %v", p, err)
	}
	rel, ok := relUnder(real, root)
	if !ok || rel == "." {
		return fmt.Sprintf("comes from host path %q, not from a snapshot under containerd's root %q", real, root)
	}
	parts := strings.Split(rel, "/")
	if !strings.HasPrefix(parts[0], snapshotterDirPrefix) || len(parts) < 3 {
		return fmt.Sprintf("comes from %q, not from a snapshotter's snapshot directory under %q", real, root)
	}
	return ""
}

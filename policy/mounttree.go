package policy

import (
	"fmt"
	"path"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// This file models what runc v1.5 does with a spec's mount list, in order,
// so that checks judge the container's final mount tree instead of mount
// entries one by one. The facts it relies on (runc v1.5.2):
//
//   - Entries are mounted in list order (libcontainer/rootfs_linux.go
//     prepareRootfs); a later mount at the same destination or at a parent
//     of it covers the earlier one.
//   - A relative destination is taken relative to "/" (specconv
//     createLibcontainerMount warns and keeps it; rootfs_linux.go joins it
//     onto the rootfs).
//   - "remount" is MS_REMOUNT in runc's flag table (specconv mountFlags): the
//     entry, whatever its type, changes the mount already at its destination
//     instead of creating one. It is the only option in that table that does
//     (the others set or clear per-mount flags of the new mount; "bind" and
//     "rbind" create one; propagation options change the new mount's
//     propagation).
//   - "ro"/"rw" set MS_RDONLY on the new mount only; "rro"/"rrw"
//     (mount_setattr with AT_RECURSIVE) are applied after them, so they win,
//     and only to bind mounts (rootfs_linux.go mountToRootfs calls setRecAttr
//     in the "bind" case only: an "rro" on sysfs or tmpfs is ignored).

// mountOptions is what runc makes of a mount's options, for the flags checks
// care about.
type mountOptions struct {
	remount  bool
	roFlag   bool   // MS_RDONLY after the last "ro"/"rw"
	recRO    int    // last of "rro" (+1) / "rrw" (-1); 0 when neither
	shared   string // a shared propagation option, if any
	idmapOpt string // "idmap" or "ridmap", if any
}

func parseMountOptions(opts []string) mountOptions {
	var o mountOptions
	for _, s := range opts {
		switch s {
		case "remount":
			o.remount = true
		case "ro":
			o.roFlag = true
		case "rw":
			o.roFlag = false
		case "rro":
			o.recRO = 1
		case "rrw":
			o.recRO = -1
		case "shared", "rshared":
			o.shared = s
		case "idmap", "ridmap":
			o.idmapOpt = s
		}
	}
	return o
}

// readOnly reports whether runc leaves the mount of m itself read-only.
func readOnly(m specs.Mount) bool {
	o := parseMountOptions(m.Options)
	if o.recRO != 0 && isBind(m) {
		return o.recRO > 0
	}
	return o.roFlag
}

// ReadOnlyMount reports whether runc leaves the mount of m itself
// read-only (an rbind's submounts too, with "rro").
func ReadOnlyMount(m specs.Mount) bool { return readOnly(m) }

// mountDest is the destination as runc mounts it: absolute and clean.
func mountDest(m specs.Mount) string { return path.Clean("/" + m.Destination) }

// treeMount is one mount of the final tree.
type treeMount struct {
	// index is the spec.Mounts entry that created the mount.
	index int
	dest  string
	// readOnly is the mount's own read-only flag, after every remount.
	readOnly bool
	// changedBy is the last "remount" entry that changed the mount, or -1.
	changedBy int
}

// mountTree is the container's mount tree as runc builds it from the spec.
type mountTree struct {
	entries []specs.Mount
	// mounts are the mounts entries created, in order.
	mounts []*treeMount
	// remounts maps a "remount" entry to the mount it changes (nil: a mount
	// the spec does not show, e.g. the root file system or an image mount).
	remounts map[int]*treeMount
}

func newMountTree(entries []specs.Mount) *mountTree {
	t := &mountTree{entries: entries, remounts: map[int]*treeMount{}}
	for i, m := range entries {
		dest := mountDest(m)
		if parseMountOptions(m.Options).remount {
			var target *treeMount
			if top := t.top(dest); top != nil && top.dest == dest {
				target = top
				target.readOnly = readOnly(m)
				target.changedBy = i
			}
			t.remounts[i] = target
			continue
		}
		t.mounts = append(t.mounts, &treeMount{index: i, dest: dest, readOnly: readOnly(m), changedBy: -1})
	}
	return t
}

// top returns the mount that is visible at p in the final tree: the last
// created whose destination is p or a parent of p; nil when it is the root
// file system.
func (t *mountTree) top(p string) *treeMount {
	for i := len(t.mounts) - 1; i >= 0; i-- {
		if within(p, t.mounts[i].dest) {
			return t.mounts[i]
		}
	}
	return nil
}

// entry returns the spec entry that created tm.
func (t *mountTree) entry(tm *treeMount) specs.Mount { return t.entries[tm.index] }

// writer returns the spec entry that last set tm's read-only flag: the
// remount that changed it, or the entry that created it.
func (t *mountTree) writer(tm *treeMount) specs.Mount {
	if tm.changedBy >= 0 {
		return t.entries[tm.changedBy]
	}
	return t.entry(tm)
}

// rootRefusal judges root.path as runc resolves it, or returns "". runc
// joins a relative root onto its working directory, the bundle
// (specconv CreateLibcontainerConfig: filepath.Join(cwd, spec.Root.Path)),
// so "../../.." climbs out of it; and it refuses a root whose path holds a
// symlink (libcontainer/configs/validate/validator.go rootfs: the
// EvalSymlinks of the path must be the path), so the lexical location is
// the real one. The root must be a directory below the bundle: the bundle
// itself holds the shim's and runc's files.
func rootRefusal(in *Input) string {
	r := in.Spec.Root
	if r == nil || in.Bundle == "" {
		return "" // runc refuses a spec without a root; offline checks have no bundle
	}
	bundle := filepath.Clean(in.Bundle)
	root := filepath.Clean(r.Path)
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, r.Path)
	}
	rel, ok := relUnder(root, bundle)
	if !ok {
		rel, ok = relUnder(root, resolveOrClean(in.Host, bundle))
	}
	switch {
	case !ok:
		return fmt.Sprintf("root.path %q: the root file system is host path %q, outside the container's bundle %q; use a directory in the bundle (\"rootfs\")", r.Path, root, bundle)
	case rel == ".":
		return fmt.Sprintf("root.path %q: the root file system is the container's bundle %q itself; use a directory in the bundle (\"rootfs\")", r.Path, bundle)
	}
	return ""
}

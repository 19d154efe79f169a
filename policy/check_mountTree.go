package policy

import (
	"fmt"
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func init() {
	register(Check{
		ID: "mountTree",
		Description: "Mount entries that change the mount tree instead of adding to it, judged as runc builds it: \"remount\" entries, " +
			"shared propagation (mounts flowing back to the host), a mount over the root file system, idmapped mounts other than the " +
			"container's own user namespace mapping, and read-only allowlisted host paths made writable later in the list.",
		Evaluate: checkMountTree,
	})
}

func checkMountTree(in *Input) []Violation {
	var vs []Violation
	add := func(field, value, reason string) {
		vs = append(vs, Violation{Check: "mountTree", Field: field, Value: value, Reason: reason})
	}
	tree := newMountTree(in.Spec.Mounts)
	var uidMaps, gidMaps []specs.LinuxIDMapping
	userNS := false
	if l := in.Spec.Linux; l != nil {
		uidMaps, gidMaps = l.UIDMappings, l.GIDMappings
		userNS = hasNamespace(l.Namespaces, "user")
		switch l.RootfsPropagation {
		case "shared", "rshared":
			// runc (rootfs_linux.go prepareRoot) makes the container's
			// whole tree shared with the host's peer groups instead of a
			// slave of them: mounts made in the container appear on the
			// node. CRI sets it only for a Bidirectional mount, which
			// needs a privileged container.
			add("linux.rootfsPropagation", l.RootfsPropagation,
				fmt.Sprintf("linux.rootfsPropagation %q lets mounts made in the container propagate to the node; use \"rslave\" or leave it unset", l.RootfsPropagation))
		}
	}
	for i, m := range in.Spec.Mounts {
		o := parseMountOptions(m.Options)
		dest := mountDest(m)
		if dest == "/" {
			// runc v1.5 refuses most of these itself ("mountpoint is on the
			// top of rootfs"), but not a proc or sysfs entry, which it
			// mounts without resolving the destination.
			add(mountField(m, "destination"), m.Destination,
				fmt.Sprintf("%s: mount entry %d is mounted at \"/\", over the container's (read-only) root file system; mount it below /", mountField(m, "destination"), i))
		}
		if o.remount {
			what := "a mount the spec does not show (the root file system or an image mount point)"
			if tm := tree.remounts[i]; tm != nil {
				what = fmt.Sprintf("the %s mount of entry %d", tree.entry(tm).Type, tm.index)
			}
			add(mountField(m, "options"), "remount",
				fmt.Sprintf("%s carries \"remount\": runc changes %s at %q (e.g. read-write) instead of mounting something new; remove the entry", mountField(m, "options"), what, dest))
		}
		if isBind(m) && slices.Contains(m.Options, "rrw") {
			// mount_setattr clears the read-only flag on every submount of
			// the bind, including host mounts below the source that are
			// read-only on the node. CRI never sends it.
			add(mountField(m, "options"), "rrw",
				fmt.Sprintf("%s carries \"rrw\": runc makes every mount below %q read-write, including ones the node mounts read-only; remove it", mountField(m, "options"), m.Source))
		}
		if o.shared != "" {
			add(mountField(m, "options"), o.shared,
				fmt.Sprintf("%s has %q propagation: mounts made in the container propagate to the node (mountPropagation: Bidirectional needs a privileged container); use \"rslave\" or \"rprivate\"", mountField(m, "options"), o.shared))
		}
		if m.UIDMappings != nil || m.GIDMappings != nil || o.idmapOpt != "" {
			if reason := idmapRefusal(m, userNS, uidMaps, gidMaps); reason != "" {
				field, value := "options", o.idmapOpt
				switch {
				case m.UIDMappings != nil:
					field, value = "uidMappings", fmt.Sprint(m.UIDMappings)
				case m.GIDMappings != nil:
					field, value = "gidMappings", fmt.Sprint(m.GIDMappings)
				}
				add(mountField(m, field), value, fmt.Sprintf("%s: mount %q %s", mountField(m, field), m.Destination, reason))
			}
		}
	}
	// A read-only allowlisted host path must still be read-only on the final
	// tree (only a remount, refused above, can change that).
	var roPrefixes []string
	for _, a := range in.Options.AllowedHostPaths {
		if a.ReadOnly {
			roPrefixes = append(roPrefixes, resolveOrClean(in.Host, a.PathPrefix))
		}
	}
	for _, tm := range tree.mounts {
		m := tree.entry(tm)
		if len(roPrefixes) == 0 || tm.changedBy < 0 || tm.readOnly || !isBind(m) || !filepath.IsAbs(m.Source) {
			continue
		}
		src, err := in.Host.Resolve(filepath.Clean(m.Source))
		if err != nil {
			continue // refused by hostPathVolumes
		}
		if slices.ContainsFunc(roPrefixes, func(p string) bool { return within(src, p) }) {
			w := mountField(tree.writer(tm), "options")
			add(w, "rw", fmt.Sprintf("%s: host path %q, which the runtime class allows read-only only, is made writable at %q by this \"remount\" entry; remove it", w, src, tm.dest))
		}
	}
	return vs
}

// idmapRefusal returns why an idmapped mount is refused, or "". A mount's ID
// mapping decides which host owner the container's writes through it get;
// the only safe one is the container's own user namespace mapping (what
// containerd's CRI sets for a hostUsers: false pod). Without explicit
// mappings runc uses the container's (specconv CreateLibcontainerConfig), and
// a user namespace joined by path must then match the spec's mappings
// (specconv setupUserNamespace); without a user namespace runc refuses it.
func idmapRefusal(m specs.Mount, userNS bool, uid, gid []specs.LinuxIDMapping) string {
	if !userNS || len(uid) == 0 || len(gid) == 0 {
		return "is an idmapped mount, but the container has no user namespace mapping of its own to match; remove the mapping"
	}
	if m.UIDMappings == nil && m.GIDMappings == nil {
		return "" // "idmap"/"ridmap" alone: runc applies the container's own mapping
	}
	if !slices.Equal(m.UIDMappings, uid) || !slices.Equal(m.GIDMappings, gid) {
		return "is idmapped with a mapping other than the container's user namespace (linux.uidMappings/gidMappings): writes through it would get other host owners; use the container's mapping"
	}
	return ""
}

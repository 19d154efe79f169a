package harden

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// recursiveReadOnlyBinds turns "ro" into "rro" on every recursive read-only
// bind mount. runc applies "ro" with MS_BIND|MS_REMOUNT|MS_RDONLY to the top
// mount only (libcontainer/rootfs_linux.go mountToRootfs, "bind" case): the
// submounts an "rbind" brings along stay writable. "rro" is
// mount_setattr(MOUNT_ATTR_RDONLY, AT_RECURSIVE) on the whole new tree
// (setRecAttr), which runc 1.2+ supports on Linux 5.12+; on an older kernel
// runc fails the container rather than mount it writable.
func recursiveReadOnlyBinds(spec *specs.Spec, _ *Options) ([]Change, error) {
	var changes []Change
	for i, m := range spec.Mounts {
		if !IsBindMount(m) || !hasOption(m.Options, "rbind") || lastOf(m.Options, "ro", "rw") != "ro" || lastOf(m.Options, "rro", "rrw") != "" {
			continue
		}
		opts := make([]string, 0, len(m.Options))
		for _, o := range m.Options {
			if o == "ro" {
				o = "rro"
			}
			if o == "rro" && slices.Contains(opts, "rro") {
				continue
			}
			opts = append(opts, o)
		}
		changes = append(changes, Change{Field: fmt.Sprintf("mounts[%q].options", m.Destination), From: m.Options, To: opts})
		spec.Mounts[i].Options = opts
	}
	return changes, nil
}

// IsBindMount reports whether runc bind-mounts m (type or option).
func IsBindMount(m specs.Mount) bool {
	return m.Type == "bind" || hasOption(m.Options, "bind") || hasOption(m.Options, "rbind")
}

// lastOf returns whichever of a and b comes last in opts, or "".
func lastOf(opts []string, a, b string) string {
	last := ""
	for _, o := range opts {
		if o == a || o == b {
			last = o
		}
	}
	return last
}

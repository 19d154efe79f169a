package policy

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// NSID identifies a namespace by the device and inode of its nsfs file.
type NSID struct{ Dev, Ino uint64 }

// Host is what checks may look up on the node. NodeHost reads the real node;
// tests substitute fixtures.
type Host interface {
	// Namespace identifies the namespace file at path (e.g. /proc/123/ns/net).
	Namespace(path string) (NSID, error)
	// HostNamespaces identifies the node's namespaces of a kind ("network",
	// "pid", "ipc", ...): those of the shim itself (it runs in containerd's
	// namespaces) and, where readable, those of PID 1.
	HostNamespaces(kind string) ([]NSID, error)
	// NamespaceInUse returns the PID of a process in the namespace of kind
	// identified by id, or 0 when no (readable) process is in it.
	NamespaceInUse(kind string, id NSID) (int, error)
	// Mounts lists the mounts of the shim's (the host's) mount namespace.
	Mounts() ([]*mountinfo.Info, error)
	// FSType returns the statfs magic of the file system holding path.
	FSType(path string) (int64, error)
	// Resolve returns path with every symlink resolved.
	Resolve(path string) (string, error)
	// Mode returns the file mode of path (following symlinks).
	Mode(path string) (fs.FileMode, error)
	// AppArmorEnabled reports whether the kernel enforces AppArmor.
	AppArmorEnabled() bool
	// Capabilities returns the bounding set of the shim (which has
	// containerd's): what containerd grants a privileged container.
	Capabilities() []string
}

// TmpfsMagic is the statfs magic of tmpfs (and ramfs-backed secret volumes).
const TmpfsMagic = unix.TMPFS_MAGIC

// nsFile maps OCI namespace types to /proc/<pid>/ns file names.
var nsFile = map[string]string{
	"network": "net", "pid": "pid", "ipc": "ipc", "uts": "uts",
	"mount": "mnt", "user": "user", "cgroup": "cgroup", "time": "time",
}

// NodeHost is the real node.
type NodeHost struct{}

func (NodeHost) Namespace(path string) (NSID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return NSID{}, err
	}
	return NSID{Dev: st.Dev, Ino: st.Ino}, nil
}

func (h NodeHost) HostNamespaces(kind string) ([]NSID, error) {
	f, ok := nsFile[kind]
	if !ok {
		return nil, fmt.Errorf("unknown namespace type %q", kind)
	}
	self, err := h.Namespace(filepath.Join("/proc/self/ns", f))
	if err != nil {
		return nil, err
	}
	ids := []NSID{self}
	// PID 1 may hold capabilities the shim lacks, which makes its namespace
	// files unreadable; the shim's own namespaces are then the reference.
	if init, err := h.Namespace(filepath.Join("/proc/1/ns", f)); err == nil && init != self {
		ids = append(ids, init)
	}
	return ids, nil
}

func (h NodeHost) NamespaceInUse(kind string, id NSID) (int, error) {
	f, ok := nsFile[kind]
	if !ok {
		return 0, fmt.Errorf("unknown namespace type %q", kind)
	}
	d, err := os.Open("/proc")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		// A process that exited or whose namespaces are unreadable is
		// skipped: the host's own namespaces are compared separately.
		if got, err := h.Namespace(filepath.Join("/proc", n, "ns", f)); err == nil && got == id {
			return pid, nil
		}
	}
	return 0, nil
}

func (NodeHost) Mounts() ([]*mountinfo.Info, error) { return mountinfo.GetMounts(nil) }

func (NodeHost) FSType(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Type), nil
}

func (NodeHost) Resolve(path string) (string, error) { return filepath.EvalSymlinks(path) }

func (NodeHost) Mode(path string) (fs.FileMode, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Mode(), nil
}

func (NodeHost) AppArmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

func (NodeHost) Capabilities() []string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return allCapabilities
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			if caps, err := capsFromMask(strings.TrimSpace(v)); err == nil {
				return caps
			}
		}
	}
	return allCapabilities
}

// capsFromMask decodes a /proc/<pid>/status capability mask.
func capsFromMask(hex string) ([]string, error) {
	mask, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return nil, err
	}
	var caps []string
	for i, c := range allCapabilities {
		if mask&(1<<uint(i)) != 0 {
			caps = append(caps, c)
		}
	}
	return caps, nil
}

// CgroupInUse looks for a process in the cgroupfs path in every cgroup file
// system mounted under /sys/fs/cgroup (each v1 hierarchy, the v2 one).
func (NodeHost) CgroupInUse(path string) (int, error) {
	const base = "/sys/fs/cgroup"
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return !(m.FSType == "cgroup" || m.FSType == "cgroup2") || !within(m.Mountpoint, base), false
	})
	if err != nil {
		return 0, err
	}
	for _, m := range mounts {
		b, err := os.ReadFile(filepath.Join(m.Mountpoint, path, "cgroup.procs"))
		if err != nil {
			continue // no such cgroup in this hierarchy
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				return pid, nil
			}
		}
	}
	return 0, nil
}

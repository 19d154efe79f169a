package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// UserNamespaces reports whether the class's OCI runtime can run containers
// in a user namespace of their own with idmapped mounts (nil), or why not.
// For runc: `runc features` must report idmapped mounts, and the kernel must
// idmap a mount of the file system under dir (containerd's root, where the
// snapshots live).
//
// Every shim is a new process: the answer is kept in cacheDir (the user
// namespace allocator's directory) for this boot, this runc binary and the
// file system under dir, so that only the first pod of a node pays for the
// probe.
func UserNamespaces(c *runtimeclass.Class, dir, cacheDir string) error {
	b, err := For(c)
	if err != nil {
		return err
	}
	switch b.(type) {
	case runc:
	case runsc:
		// runsc runs its sandbox in the spec's user namespace (directfs); the root file system
		// is idmapped by containerd, so only the kernel's support matters
		if err := IDMappable(dir, cacheDir); err != nil {
			return fmt.Errorf("containerd's root %s: %w", dir, err)
		}
		return nil
	case kata:
		// the delegate applies the spec's user namespace only if the class says it does
		if !c.Kata.UserNamespaces {
			return fmt.Errorf("the delegate shim %s is not declared to apply a spec's user namespace ([kata] user_namespaces = true says it does, as runc-compatible shims do; Kata does not: set user_namespace = \"off\" for a Kata class)", c.Kata.Shim)
		}
		if err := IDMappable(dir, cacheDir); err != nil {
			return fmt.Errorf("containerd's root %s: %w", dir, err)
		}
		return nil
	default:
		return fmt.Errorf("backend %q does not support user namespaces", b.Name())
	}
	path, err := exec.LookPath(c.BinaryName)
	if err != nil {
		return fmt.Errorf("OCI runtime %q: %w", c.BinaryName, err)
	}
	probe := func() error { return runcIDMap(path) }
	if key, kerr := runcKey(path); kerr == nil {
		err = cachedProbe(cacheDir, "runc-"+key, probe, func(error) bool { return true })
	} else {
		err = probe()
	}
	if err != nil {
		return err
	}
	if err := IDMappable(dir, cacheDir); err != nil {
		return fmt.Errorf("containerd's root %s: %w", dir, err)
	}
	return nil
}

// runcKey names what runc's answer depends on: the boot and the binary
// (path, inode, size, change time).
func runcKey(runcPath string) (string, error) {
	boot, err := bootID()
	if err != nil {
		return "", err
	}
	var r unix.Stat_t
	if err := unix.Stat(runcPath, &r); err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d:%d:%d:%d.%d", boot, runcPath, r.Dev, r.Ino, r.Size, r.Ctim.Sec, r.Ctim.Nsec)
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

func bootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b)), err
}

// probeCache holds this process's answers (key → error, nil: supported).
var probeCache sync.Map

// cachedProbe returns the answer to probe kept for key: in this process,
// else in cacheDir (file support-<key>: empty for yes, the reason for no),
// else probe's, which is kept when keep says it is an answer (not a failure
// to ask).
func cachedProbe(cacheDir, key string, probe func() error, keep func(error) bool) error {
	if v, ok := probeCache.Load(key); ok {
		err, _ := v.(error)
		return err
	}
	cache := filepath.Join(cacheDir, "support-"+key)
	if cacheDir != "" {
		if b, err := os.ReadFile(cache); err == nil {
			var answer error
			if len(b) > 0 {
				answer = errors.New(string(b))
			}
			probeCache.Store(key, answer)
			return answer
		}
	}
	err := probe()
	if !keep(err) {
		return err
	}
	probeCache.Store(key, err)
	if cacheDir != "" && os.MkdirAll(cacheDir, 0o700) == nil {
		var msg string
		if err != nil {
			msg = err.Error()
		}
		tmp := fmt.Sprintf("%s.%d", cache, os.Getpid())
		if os.WriteFile(tmp, []byte(msg), 0o600) == nil {
			os.Rename(tmp, cache)
		}
	}
	return err
}

// RuncFeatures runs `path features` (runc ≥ 1.2): the OCI runtime's
// features, or why it cannot tell them.
func RuncFeatures(path string) (*features.Features, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "features").Output()
	if err != nil {
		return nil, fmt.Errorf("OCI runtime %s cannot report its features (`%s features`: %v): it is too old for idmapped mounts (runc ≥ 1.2 needed)", path, path, err)
	}
	var f features.Features
	if err := json.Unmarshal(out, &f); err != nil {
		return nil, fmt.Errorf("OCI runtime %s: unreadable features: %v", path, err)
	}
	return &f, nil
}

// IDMapError says why the OCI runtime at path, with features f, cannot
// idmap mounts, or returns nil.
func IDMapError(path string, f *features.Features) error {
	if f.Linux == nil || f.Linux.MountExtensions == nil || f.Linux.MountExtensions.IDMap == nil ||
		f.Linux.MountExtensions.IDMap.Enabled == nil || !*f.Linux.MountExtensions.IDMap.Enabled {
		return fmt.Errorf("OCI runtime %s does not support idmapped mounts (`runc features`: linux.mountExtensions.idmap.enabled is not true)", path)
	}
	return nil
}

// UsernsCreatable reports whether this process can create a user namespace
// (nil) or why not, with the probe idmapped mounts are probed with.
func UsernsCreatable() error {
	_, cleanup, err := throwawayUserns()
	if err != nil {
		return err
	}
	cleanup()
	return nil
}

// runcIDMap asks runc whether it idmaps mounts (runc ≥ 1.2 built with it).
func runcIDMap(path string) error {
	f, err := RuncFeatures(path)
	if err != nil {
		return err
	}
	return IDMapError(path, f)
}

func probeIDMap(dir string) error {
	tree, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("the kernel cannot clone a mount of %s (open_tree: %v): idmapped mounts need Linux 5.12 or newer", dir, err)
	}
	defer unix.Close(tree)
	ns, cleanup, err := throwawayUserns()
	if err != nil {
		return fmt.Errorf("probing idmapped mounts: %w", err)
	}
	defer cleanup()
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns)}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		var sfs unix.Statfs_t
		unix.Statfs(dir, &sfs)
		return fmt.Errorf("the kernel cannot idmap a mount of this file system (magic %#x): %v", sfs.Type, err)
	}
	return nil
}

// throwawayUserns returns a descriptor of a new user namespace mapping 0 to
// an unused high ID, held by a child process that is reaped by cleanup.
func throwawayUserns() (int, func(), error) {
	cat, err := exec.LookPath("cat")
	if err != nil {
		return -1, nil, err
	}
	// The child only has to exist until its namespace is opened: it blocks
	// reading a pipe.
	cmd := exec.Command(cat)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 4294900000, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 4294900000, Size: 1}},
		Pdeathsig:   unix.SIGKILL,
	}
	r, w, err := os.Pipe()
	if err != nil {
		return -1, nil, err
	}
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return -1, nil, fmt.Errorf("starting a process in a new user namespace: %w", err)
	}
	r.Close()
	cleanup := func() {
		w.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}
	fd, err := unix.Open(filepath.Join("/proc", fmt.Sprint(cmd.Process.Pid), "ns", "user"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		cleanup()
		return -1, nil, err
	}
	return fd, func() { unix.Close(fd); cleanup() }, nil
}

// ApplyNetSysctls writes net.* sysctls into the network namespace at netns
// as the node's root: a container put in a user namespace of its own cannot
// write them in a network namespace the node's user namespace owns (CRI
// creates the pod's before the sandbox runs).
func ApplyNetSysctls(netns string, sysctls map[string]string) error {
	if len(sysctls) == 0 {
		return nil
	}
	keys := make([]string, 0, len(sysctls))
	for k := range sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return inNetns(netns, func() error {
		for _, k := range keys {
			rel := k
			if !strings.Contains(rel, "/") {
				rel = strings.ReplaceAll(rel, ".", "/")
			}
			p := filepath.Join("/proc/sys", filepath.Clean("/"+rel))
			if !strings.HasPrefix(p, "/proc/sys/net/") {
				return fmt.Errorf("sysctl %s: not a network sysctl", k)
			}
			if err := os.WriteFile(p, []byte(sysctls[k]), 0); err != nil {
				return fmt.Errorf("sysctl %s=%q in the pod network namespace: %w", k, sysctls[k], err)
			}
		}
		return nil
	})
}

// inNetns runs f on an OS thread of its own that has entered the network
// namespace at netns; the thread ends with f (it is never handed back to
// the Go scheduler). Never the process's main thread: the kernel shows the
// main thread's namespaces as the process's (/proc/<pid>/ns), which the
// checks take as the node's, and Go keeps a main thread whose goroutine
// exits locked instead of ending it.
func inNetns(netns string, f func() error) error {
	target, err := os.Open(netns)
	if err != nil {
		return fmt.Errorf("pod network namespace %s: %w", netns, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	var worker func()
	worker = func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// the main thread: hold it while another thread does the
			// work, then hand it back unchanged
			done := make(chan struct{})
			go func() { worker(); close(done) }()
			<-done
			runtime.UnlockOSThread()
			return
		}
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- err
			return
		}
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering the pod network namespace %s: %w", netns, err)
			return
		}
		errc <- f()
	}
	go worker()
	return <-errc
}

// IDMappable reports whether the kernel idmaps a mount of the file system at
// path (nil) or why not. Whether a file system can be idmapped is a property
// of its type (the kernel's FS_ALLOW_IDMAP): the answer is kept per file
// system type for this boot, in memory and in cacheDir, so that a pod's new
// tmpfs and emptyDirs cost no probe.
func IDMappable(path, cacheDir string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	boot, err := bootID()
	if err != nil {
		return err
	}
	// a probe that could not clone the mount says nothing of the type
	return cachedProbe(cacheDir, fmt.Sprintf("fs-%x-%s", sfs.Type, boot), func() error { return probeIDMap(path) },
		func(err error) bool { return err == nil || strings.Contains(err.Error(), "cannot idmap") })
}

// MountSysfs mounts, at target (an empty directory the caller made), a new
// read-only sysfs instance of the network namespace at netns, as the node's
// root: a container in a user namespace of its own that joins a network
// namespace the node's user namespace owns may not mount one itself (the
// kernel ties a sysfs to the network namespace of its mounter and requires
// that namespace's owner). The mount is private: nothing propagates from
// it to the node's mounts.
func MountSysfs(netns, target string) error {
	return inNetns(netns, func() error {
		fsfd, err := unix.Fsopen("sysfs", unix.FSOPEN_CLOEXEC)
		if err != nil {
			return fmt.Errorf("fsopen sysfs: %w", err)
		}
		defer unix.Close(fsfd)
		if err := unix.FsconfigCreate(fsfd); err != nil {
			return fmt.Errorf("creating a sysfs of %s: %w", netns, err)
		}
		mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
		if err != nil {
			return fmt.Errorf("fsmount sysfs: %w", err)
		}
		defer unix.Close(mfd)
		if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("mounting a sysfs of the pod at %s: %w", target, err)
		}
		if err := unix.Mount("", target, "", unix.MS_PRIVATE, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("making %s private: %w", target, err)
		}
		return nil
	})
}

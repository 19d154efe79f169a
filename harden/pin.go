package harden

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"golang.org/x/sys/unix"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
)

// PinnedDir is the directory, in a container's bundle, where PinMounts
// mounts the pinned sources runc then bind-mounts.
const PinnedDir = "pinned"

// Pins holds the host directories and files pinned for one container: what
// the checks allowed, bind-mounted by file descriptor at a staging path in
// the bundle (root's alone) for runc to mount from. Close them once runc has
// created the container (its mounts exist by then), whatever the outcome.
type Pins struct {
	staged []string
}

// Close unmounts and removes the staging mounts. Safe on nil and more than
// once.
func (p *Pins) Close() {
	if p == nil {
		return
	}
	for _, s := range p.staged {
		unix.Unmount(s, unix.MNT_DETACH)
		os.Remove(s)
	}
	if len(p.staged) > 0 {
		os.Remove(filepath.Dir(p.staged[0]))
	}
	p.staged = nil
}

// Len is how many sources are pinned.
func (p *Pins) Len() int {
	if p == nil {
		return 0
	}
	return len(p.staged)
}

// Unpin removes what PinMounts left in a bundle when the shim died before
// closing its pins (containerd's `shim delete` cleanup).
func Unpin(bundle string) error {
	dir := filepath.Join(bundle, PinnedDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PinMounts closes the race between the check of an allowlisted host
// directory and runc's mount of it. A directory on policy.allowed_host_paths
// may be writable by others (other pods mount it read-write too): a symlink
// swapped in after the check would make runc, which resolves the source path
// as the node's root, mount whatever it points to. So each bind mount the
// class admits through the allowlist (policy.AllowlistedMounts) is opened
// (O_PATH: the kernel resolves the path once, atomically), the opened
// object's real path is judged again exactly as it is (policy.
// JudgePinnedSource: no symlink followed), the object is bind-mounted by
// its file descriptor at <bundle>/pinned/<n> (a path no pod can write), and
// the spec's source becomes that path: runc mounts the very object that was
// judged, whatever happens to the original path afterwards.
//
// It returns the pins (nil when nothing was pinned), the changes made to the
// spec, the violations when a source changed into something refused, and an
// error when pinning itself failed.
func PinMounts(in *policy.Input, bundle string) (*Pins, []Change, []policy.Violation, error) {
	idx := policy.AllowlistedMounts(in)
	if len(idx) == 0 {
		return nil, nil, nil, nil
	}
	pins := &Pins{}
	var changes []Change
	var vs []policy.Violation
	refuse := func(i int, src, why string) {
		m := in.Spec.Mounts[i]
		vs = append(vs, policy.Violation{Check: "hostPathVolumes", Field: fmt.Sprintf("mounts[%s].source", strconv.Quote(m.Destination)), Value: src, Reason: why})
	}
	dir := filepath.Join(bundle, PinnedDir)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, nil, nil, fmt.Errorf("pinning mount sources: %w", err)
	}
	fail := func(err error) (*Pins, []Change, []policy.Violation, error) {
		pins.Close()
		os.Remove(dir)
		return nil, nil, nil, fmt.Errorf("pinning mount sources: %w", err)
	}
	for n, i := range idx {
		m := in.Spec.Mounts[i]
		fd, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			refuse(i, m.Source, fmt.Sprintf("mount %q: its source %q cannot be opened to pin it for the mount: %v", m.Destination, m.Source, err))
			continue
		}
		why, isDir, err := judgePinned(in, m, fd)
		if err != nil || why != "" {
			unix.Close(fd)
			if err != nil {
				why = fmt.Sprintf("mount %q: the pinned source %q cannot be identified: %v", m.Destination, m.Source, err)
			}
			refuse(i, m.Source, why)
			continue
		}
		staged := filepath.Join(dir, strconv.Itoa(n))
		if isDir {
			err = os.Mkdir(staged, 0o700)
		} else {
			err = os.WriteFile(staged, nil, 0o600)
		}
		if err == nil {
			// The magic link resolves to the object the descriptor holds.
			err = unix.Mount(fmt.Sprintf("/proc/self/fd/%d", fd), staged, "", unix.MS_BIND|unix.MS_REC, "")
			if err == nil {
				pins.staged = append(pins.staged, staged)
				// Not a way back to the node: events under it no longer
				// propagate from the staging mount to the node's mounts.
				err = unix.Mount("", staged, "", unix.MS_SLAVE|unix.MS_REC, "")
			} else {
				os.Remove(staged)
			}
		}
		unix.Close(fd)
		if err != nil {
			return fail(fmt.Errorf("mount %q: %w", m.Destination, err))
		}
		changes = append(changes, Change{Field: fmt.Sprintf("mounts[%s].source", strconv.Quote(m.Destination)), From: m.Source, To: staged})
		in.Spec.Mounts[i].Source = staged
	}
	if len(vs) > 0 {
		pins.Close()
		os.Remove(dir)
		return nil, nil, vs, nil
	}
	return pins, changes, nil, nil
}

// judgePinned judges the object fd holds by its real path, taken as it is.
func judgePinned(in *policy.Input, m specs.Mount, fd int) (string, bool, error) {
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", false, err
	}
	if strings.HasSuffix(real, " (deleted)") || !strings.HasPrefix(real, "/") {
		return fmt.Sprintf("mount %q: its source %q was removed while it was checked", m.Destination, m.Source), false, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", false, err
	}
	if why := policy.JudgePinnedSource(in, m, real); why != "" {
		return fmt.Sprintf("%s (the source %q changed between the check and the mount)", why, m.Source), false, nil
	}
	return "", st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

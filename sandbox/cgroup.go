//go:build linux

package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// removeEmptyCgroup removes the container's cgroup (spec's cgroupfs
// cgroupsPath) from every cgroup hierarchy where it is left empty. A cgroup
// that still holds a process is not touched (it is not this failed
// container's to end); the systemd driver's cgroups are systemd's.
func removeEmptyCgroup(c *runtimeclass.Class, spec *specs.Spec) error {
	if c.SystemdCgroup || spec == nil || spec.Linux == nil {
		return nil
	}
	p := spec.Linux.CgroupsPath
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
		return nil
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		dir := filepath.Join(m, p)
		if _, err := os.Lstat(dir); err != nil {
			continue
		}
		// the kernel may still be releasing the dead processes: a second at most
		var rerr error
		for i := 0; i < 20; i++ {
			if rerr = syscall.Rmdir(dir); rerr == nil || errors.Is(rerr, syscall.ENOENT) {
				rerr = nil
				break
			}
			if !errors.Is(rerr, syscall.EBUSY) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if rerr != nil {
			errs = append(errs, fmt.Errorf("cgroup %s: %w", dir, rerr))
		}
	}
	return errors.Join(errs...)
}

// cgroupMounts lists the mount points of the cgroup and cgroup2 file systems.
func cgroupMounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, " - ")
		if i < 0 {
			continue
		}
		fields, after := strings.Fields(line[:i]), strings.Fields(line[i+3:])
		if len(fields) < 5 || len(after) < 1 || (after[0] != "cgroup" && after[0] != "cgroup2") {
			continue
		}
		out = append(out, strings.ReplaceAll(fields[4], `\040`, " "))
	}
	return out, sc.Err()
}

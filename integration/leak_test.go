//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/userns"
)

// processes returns every process's command line (arguments) by pid.
func processes() map[int][]string {
	out := map[int][]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		out[pid] = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	}
	return out
}

// shimProcesses returns the pids of shim processes (hardened or runc) that
// serve the lab's containerd, with their command lines.
func (l *lab) shimProcesses() map[int]string {
	out := map[int]string{}
	for pid, args := range processes() {
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim-") {
			continue
		}
		for i, a := range args {
			// the lab's shims, and the shims the hardened shim delegates to
			if a == "-address" && i+1 < len(args) && (args[i+1] == l.Address || args[i+1] == l.Address+delegateAddressSuffix) {
				out[pid] = strings.Join(args, " ")
			}
		}
	}
	return out
}

// shimProcessesFor returns the shim processes whose -id is id.
func (l *lab) shimProcessesFor(id string) []int {
	var pids []int
	for pid, cmd := range l.shimProcesses() {
		if strings.Contains(" "+cmd+" ", " -id "+id+" ") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// leftovers lists what remains on the host of the given container or sandbox
// ids: shim processes, mounts, cgroups, bundle directories, runc state.
func (l *lab) leftovers(ns string, ids ...string) []string {
	var found []string
	for _, id := range ids {
		if pids := l.shimProcessesFor(id); len(pids) > 0 {
			found = append(found, fmt.Sprintf("shim process(es) %v for %s", pids, id))
		}
		mi, _ := os.ReadFile(l.MountInfo)
		for _, line := range bytes.Split(mi, []byte("\n")) {
			if bytes.Contains(line, []byte(id)) {
				found = append(found, "mount: "+string(line))
			}
		}
		for _, p := range []string{
			filepath.Join(l.State, "io.containerd.runtime.v2.task", ns, id),
			filepath.Join(l.RuncRoot, ns, id),
			filepath.Join(l.RunscRoot, ns, id),
		} {
			if _, err := os.Stat(p); err == nil {
				found = append(found, "state directory: "+p)
			}
		}
		found = append(found, cgroupsNamed(id)...)
		found = append(found, processesNaming(id)...)
		for _, e := range l.usernsEntries() {
			if e.Key == ns+"/"+id {
				found = append(found, fmt.Sprintf("user namespace IDs %s of %s", e.Range, e.Key))
			}
		}
	}
	return found
}

// processesNaming lists processes other than shims whose command line names id: runsc's
// sandbox, gofer and the stand-ins of a gVisor pod's app containers.
func processesNaming(id string) []string {
	var found []string
	for pid, args := range processes() {
		cmd := strings.Join(args, " ")
		if strings.HasPrefix(filepath.Base(args[0]), "containerd-shim-hardened-") && strings.HasSuffix(args[0], "-v2") {
			continue // the shim itself (shimProcessesFor)
		}
		if strings.Contains(cmd, id) && strings.Contains(cmd, "runsc") {
			found = append(found, fmt.Sprintf("process %d: %s", pid, cmd))
		}
	}
	return found
}

// usernsEntries reads the lab's user namespace allocator state as it is on
// disk (no reconciling: a range a shim failed to release shows).
func (l *lab) usernsEntries() []userns.Entry {
	b, err := os.ReadFile(filepath.Join(l.UsernsDir, "ranges.json"))
	if err != nil {
		return nil
	}
	var st struct {
		Entries []userns.Entry `json:"entries"`
	}
	json.Unmarshal(b, &st)
	return st.Entries
}

// cgroupsNamed walks every cgroup hierarchy (bounded depth) for directories
// whose name contains id.
func cgroupsNamed(id string) []string {
	var found []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, root := range roots {
		if st, err := os.Lstat(root); err != nil || !st.IsDir() {
			continue // symlinked co-mounts such as cpu,cpuacct
		}
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if strings.Count(strings.TrimPrefix(p, root), "/") > 4 {
				return filepath.SkipDir
			}
			if strings.Contains(d.Name(), id) {
				found = append(found, "cgroup: "+p)
				return filepath.SkipDir
			}
			return nil
		})
	}
	return found
}

// assertNoLeftovers waits (bounded) for the shim to exit and the host to be
// clean of every trace of ids, then fails the test listing what is left.
func (l *lab) assertNoLeftovers(t *testing.T, ns string, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var left []string
	for {
		left = l.leftovers(ns, ids...)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("left behind after the test:\n  %s", strings.Join(left, "\n  "))
	}
}

// assertNoPodNamed checks that a refused pod left nothing: no sandbox of that
// name in the CRI, no more shim processes than before, no mount or cgroup
// naming a sandbox of it.
func (l *lab) assertNoPodNamed(t *testing.T, ctx context.Context, name string, shimsBefore int) {
	t.Helper()
	out, err := l.crictl(ctx, "pods", "--name", name, "-q")
	if err != nil {
		t.Fatal(err)
	}
	if ids := strings.Fields(out); len(ids) > 0 {
		t.Errorf("refused pod %s left sandboxes %v", name, ids)
		l.assertNoLeftovers(t, criNamespace, ids...)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(l.shimProcesses()) > shimsBefore && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(l.shimProcesses()); n > shimsBefore {
		t.Errorf("%d shim processes after the refusal, %d before: %v", n, shimsBefore, l.shimProcesses())
	}
}

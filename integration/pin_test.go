//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// raceStarts is how many containers TestAllowlistedHostPathSymlinkRace
// creates (HARDENED_RACE_STARTS overrides it for a quick local run).
func raceStarts(t *testing.T) int {
	if v := os.Getenv("HARDENED_RACE_STARTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HARDENED_RACE_STARTS=%q", v)
		}
		return n
	}
	return 1000
}

// TestAllowlistedHostPathSymlinkRace: a read-write allowlisted host directory
// is writable by others, who can swap a checked subdirectory for a symlink
// to anywhere between the check and runc's mount. The shim pins what it
// checked and hands runc the pinned object, so across 1,000 container
// creations with the swap running in a tight loop, no container ever gets a
// mount from outside the allowlist: each is either refused or mounts the
// allowlisted directory.
func TestAllowlistedHostPathSymlinkRace(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	root := l.allowlistedDir(t)
	base := filepath.Join(root, uniqueName(t))
	t.Cleanup(func() { os.RemoveAll(base) })
	allowed := base
	outside := filepath.Join(l.Run, "tmp", uniqueName(t)+"-outside")
	t.Cleanup(func() { os.RemoveAll(outside) })
	target := filepath.Join(allowed, "target")
	swap := filepath.Join(allowed, "swap")
	for _, d := range []string{target, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(target, "marker"), []byte("inside"), 0o644)
	os.WriteFile(filepath.Join(outside, "marker"), []byte("OUTSIDE"), 0o644)
	if err := os.Symlink(outside, swap); err != nil {
		t.Fatal(err)
	}
	c := rawContainer(t, ctx, &runtimeoptions.Options{}, // the node class
		oci.WithMounts([]specs.Mount{{Destination: "/data", Type: "bind", Source: target, Options: []string{"rbind", "rw"}}}))

	// The swapper: target and swap trade places atomically, as fast as it can.
	var stop, swaps atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for stop.Load() == 0 {
			if err := unix.Renameat2(unix.AT_FDCWD, target, unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE); err == nil {
				swaps.Add(1)
			}
		}
	}()
	defer func() { stop.Store(1); <-done }()

	n := raceStarts(t)
	var mountedInside, refused, reconnects int
	deadline := time.Now().Add(10 * time.Minute)
	for i := 0; i < n; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("bounded: only %d of %d creations in 10 minutes", i, n)
		}
		task, err := c.NewTask(ctx, cio.NullIO)
		if err != nil && strings.Contains(err.Error(), "ttrpc: closed") && reconnects < 5 {
			// containerd reached the previous creation's shim, which was
			// exiting, at the socket every creation of this container ID
			// shares: wait for it to be gone and create again
			reconnects++
			for j := 0; j < 100 && len(l.shimProcessesFor(c.ID())) > 0; j++ {
				time.Sleep(20 * time.Millisecond)
			}
			i--
			continue
		}
		if err != nil {
			// refused at the shim's start (containerd wraps it in "failed to
			// start shim") or at Create (PermissionDenied)
			if !strings.Contains(err.Error(), "refused by hostPathVolumes") {
				t.Fatalf("creation %d: not a policy refusal: %v", i, err)
			}
			refused++
			continue
		}
		b, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/root/data/marker", task.Pid()))
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
			t.Fatalf("creation %d: deleting the task: %v", i, err)
		}
		switch {
		case rerr != nil:
			t.Fatalf("creation %d: reading the container's /data/marker: %v", i, rerr)
		case string(b) != "inside":
			t.Fatalf("creation %d: the container mounted %q from outside the allowlist (%d swaps so far)", i, b, swaps.Load())
		}
		mountedInside++
	}
	stop.Store(1)
	<-done
	t.Logf("%d creations with %d symlink swaps running: %d mounted the allowlisted directory, %d refused, 0 mounted anything else (%d created again after reaching an exiting shim)",
		n, swaps.Load(), mountedInside, refused, reconnects)
	if mountedInside == 0 || refused == 0 {
		t.Fatalf("the race was not exercised: %d mounted, %d refused", mountedInside, refused)
	}
}

// TestCRIAllowlistedHostPathAndSubPath: through CRI, an allowlisted hostPath
// and a subPath of it (kubelet's bind mount under volume-subpaths) run, each
// mounted from the object the shim pinned; a subPath backed outside the
// allowlist is refused.
func TestCRIAllowlistedHostPathAndSubPath(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	root := l.allowlistedDir(t)
	pod := runPod(t, ctx, "hardened")
	vols := newPodVolumes(t, pod.name+"-uid")
	host := filepath.Join(root, uniqueName(t))
	if err := os.MkdirAll(filepath.Join(host, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(host) })
	os.WriteFile(filepath.Join(host, "app", "marker"), []byte("from the allowlisted subPath"), 0o644)
	subPath := vols.bind(filepath.Join(host, "app"), "volume-subpaths/data/app/0")
	outside := t.TempDir()
	badSubPath := vols.bind(outside, "volume-subpaths/data/app/1")

	for _, tc := range []struct {
		name   string
		mounts []map[string]any
		want   string // "" allowed: the marker is read through the mount
	}{
		{"hostpath", hostMount("/data", host, false), ""},
		{"subpath", hostMount("/data", subPath, false), ""},
		{"subpath-outside", hostMount("/data", badSubPath, false), "a subPath really backed by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			out, err := l.crictl(ctx, "create", pod.id, writeJSON(t, containerCfg(tc.name, tc.mounts, nil, nil)), writeJSON(t, pod.config))
			if err != nil {
				t.Fatal(err)
			}
			id := strings.TrimSpace(lastLine(out))
			pod.ctrs = append(pod.ctrs, id)
			out, err = l.crictl(ctx, "start", id)
			if tc.want != "" {
				if err == nil {
					t.Fatal("started")
				}
				wantAll(t, out, "refused by hostPathVolumes", tc.want)
				return
			}
			if err != nil {
				t.Fatalf("refused: %s", out)
			}
			defer l.stopRemove(t, ctx, id)
			file := "/data/marker"
			if tc.name == "hostpath" {
				file = "/data/app/marker"
			}
			out, err = l.crictl(ctx, "exec", id, "cat", file)
			if err != nil || !strings.Contains(out, "from the allowlisted subPath") {
				t.Fatalf("reading %s: %v %s", file, err, out)
			}
			// the audit record shows the source pinned
			found := false
			for _, r := range l.auditRecords(t, id) {
				for _, c := range r.Changes {
					if strings.HasPrefix(c.Field, `mounts["/data"].source`) && strings.Contains(fmt.Sprint(c.To), "/pinned/") {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("no audit record shows /data pinned")
			}
		})
	}
	if n := strings.Count(readFile(t, "/proc/self/mountinfo"), "/pinned/"); n != 0 {
		t.Errorf("%d staging mounts outlived the creations", n)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// allowlistedDir is the directory the lab's hardened node class allowlists
// read-write (LAB_ALLOWLISTED_DIR).
func (l *lab) allowlistedDir(t *testing.T) string {
	t.Helper()
	root := l.env["LAB_ALLOWLISTED_DIR"]
	if root == "" {
		t.Fatal("lab.env has no LAB_ALLOWLISTED_DIR: the lab predates this test (make lab-up)")
	}
	return root
}

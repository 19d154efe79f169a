//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The fault tests: the shim, runc and the audit log failing under a running
// containerd. After each, what the test made is gone from the host (shim
// processes, mounts, cgroups, bundles, runc state, ID ranges: the cleanup of
// rawContainerOf checks them by listing), and containerd's view matches.

// gatedRunc is runc that, for subcommand cmd (create, delete, …), writes its
// PID to DIR/CMD-started and waits (30 s at most) for DIR/release before it
// runs: a runc command in flight. Once released it never waits again.
func gatedRunc(t *testing.T, dir, cmd string) string {
	t.Helper()
	l := requireLab(t)
	p := filepath.Join(dir, "runc-gated-"+cmd)
	script := fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
	if [ "$a" = %[3]s ] && [ ! -e %[1]s/release ]; then
		echo $$ >%[1]s/%[3]s-started
		i=0
		while [ ! -e %[1]s/release ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
		break
	fi
done
exec %[2]s "$@"
`, dir, filepath.Join(l.Bin, "runc"), cmd)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// startTask creates and starts c's task (no stdio) and returns it with its exit.
func startTask(t *testing.T, ctx context.Context, c containerd.Container) (containerd.Task, <-chan containerd.ExitStatus) {
	t.Helper()
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return task, exit
}

// waitFile waits (bounded) for path to exist.
func waitFile(t *testing.T, path string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settled waits (60 s at most) for the result of an operation whose shim or
// runc was killed under it: it must end, not hang.
func settled(t *testing.T, errc <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-errc:
		t.Logf("%s: %v", what, err)
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("%s hangs 60 s after the kill", what)
		return nil
	}
}

// killShim kills the one shim process serving id with SIGKILL and waits for it to go.
func killShim(t *testing.T, id string) {
	t.Helper()
	l := requireLab(t)
	pids := l.shimProcessesFor(id)
	if len(pids) != 1 {
		t.Fatalf("shim processes of %s: %v, want one", id, pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Only the killed process: containerd's cleanup starts the shim's
	// delete step for the same id at once, and a test may hold that step
	// (a gated runc) until this returns.
	if !processGone(pids[0], 10*time.Second) {
		t.Fatalf("the killed shim %d of %s is still there", pids[0], id)
	}
}

// processGone waits (bounded) for pid to be gone (or a zombie reaped elsewhere).
func processGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFaultShimKilledDuringCreate: the shim dies with SIGKILL while runc
// create is in flight (held by a gated runc, then let go): the create fails
// to the client, and once the container is removed nothing of it is left
// (rawContainerOf's cleanup) — also not a container runc finished creating
// after its shim was gone.
func TestFaultShimKilledDuringCreate(t *testing.T) {
	ctx := testContext(t)
	requireLab(t).keepsInventory(t)
	dir := t.TempDir()
	shim := classShim(t, "killcreate", gatedRunc(t, dir, "create"))
	c := rawContainerOf(t, ctx, shim, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := c.NewTask(ctx, cio.NullIO)
		errc <- err
	}()
	waitFile(t, filepath.Join(dir, "create-started"), 30*time.Second)
	killShim(t, c.ID())
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if settled(t, errc, "create with its shim killed") == nil {
		t.Fatal("the task was created although its shim was killed during create")
	}
	// the released runc create may finish after containerd cleaned up: give it its time,
	// then the cleanup must still leave nothing
	time.Sleep(2 * time.Second)
}

// TestFaultRuncKilledDuringCreate: runc itself dies with SIGKILL in the
// middle of create — before it runs (the OCI runtime's process killed), and
// after it made the container's namespaces and cgroup (while it runs a
// createRuntime hook the class allows, which waits): the client gets an
// error, and nothing is left once the container is removed (the cgroup, the
// waiting `runc init` and runc's state included).
func TestFaultRuncKilledDuringCreate(t *testing.T) {
	ctx := testContext(t)
	requireLab(t).keepsInventory(t)
	l := requireLab(t)
	t.Run("before it runs", func(t *testing.T) {
		dir := t.TempDir()
		shim := classShim(t, "killrunc", gatedRunc(t, dir, "create"))
		c := rawContainerOf(t, ctx, shim, nil)
		killDuringCreate(t, ctx, c, filepath.Join(dir, "create-started"), "")
	})
	t.Run("in its createRuntime hook", func(t *testing.T) {
		dir := t.TempDir()
		hook := filepath.Join(dir, "hook")
		// runc runs the hook from `runc create`: its parent is the runc to kill
		script := fmt.Sprintf("#!/bin/sh\necho $PPID >%[1]s/hook-started\ni=0\nwhile [ ! -e %[1]s/release ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n", dir)
		if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		shim := classShim(t, "killrunchook", filepath.Join(l.Bin, "runc"), fmt.Sprintf("policy.allowed_hooks = [%q]", hook))
		c := rawContainerOf(t, ctx, shim, nil, func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: hook, Args: []string{hook}}}}
			return nil
		})
		killDuringCreate(t, ctx, c, filepath.Join(dir, "hook-started"), filepath.Join(dir, "release"))
	})
}

// killDuringCreate creates c's task, waits for pidFile, kills that PID with
// SIGKILL, creates release (if any), and requires the create to fail.
func killDuringCreate(t *testing.T, ctx context.Context, c containerd.Container, pidFile, release string) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := c.NewTask(ctx, cio.NullIO)
		errc <- err
	}()
	waitFile(t, pidFile, 30*time.Second)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if release != "" {
		if err := os.WriteFile(release, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if settled(t, errc, "create with runc killed") == nil {
		t.Fatal("the task was created although runc was killed during create")
	}
}

// TestFaultShimKilledDuringDelete: the shim dies with SIGKILL while it runs
// runc delete for an exited container (held by a gated runc): the delete
// fails or completes, and the container is then removed with nothing left
// (containerd's cleanup runs the shim's delete step).
func TestFaultShimKilledDuringDelete(t *testing.T) {
	ctx := testContext(t)
	requireLab(t).keepsInventory(t)
	dir := t.TempDir()
	shim := classShim(t, "killdelete", gatedRunc(t, dir, "delete"))
	c := rawContainerOf(t, ctx, shim, nil, oci.WithProcessArgs("true"))
	task, exit := startTask(t, ctx, c)
	<-exit
	errc := make(chan error, 1)
	go func() {
		_, err := task.Delete(ctx)
		errc <- err
	}()
	waitFile(t, filepath.Join(dir, "delete-started"), 30*time.Second)
	killShim(t, c.ID())
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	settled(t, errc, "delete with its shim killed")
}

// TestFaultShimKilledWhileRunning: a running container's shim dies with
// SIGKILL. containerd reports the task gone (its cleanup runs `shim delete`,
// which kills what the shim ran), the container's process is gone, and the
// container is removed cleanly.
func TestFaultShimKilledWhileRunning(t *testing.T) {
	ctx := testContext(t)
	requireLab(t).keepsInventory(t)
	l := requireLab(t)
	c := rawContainerOf(t, ctx, runtimeType, classOptions())
	task, exit := startTask(t, ctx, c)
	pid := int(task.Pid())
	killShim(t, c.ID())
	select {
	case st := <-exit:
		t.Logf("task exit after the shim's death: %d %v", st.ExitCode(), st.Error())
	case <-time.After(30 * time.Second):
		t.Fatal("no exit event 30 s after the shim was killed")
	}
	if !processGone(pid, 20*time.Second) {
		t.Errorf("the container's process %d outlives its killed shim", pid)
	}
	if _, err := task.Delete(ctx); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Logf("task delete after the shim's death: %v", err)
	}
	// containerd's cleanup (`shim delete`) is a short-lived shim process of its own
	deadline := time.Now().Add(10 * time.Second)
	for len(l.shimProcessesFor(c.ID())) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if pids := l.shimProcessesFor(c.ID()); len(pids) > 0 {
		t.Errorf("shim processes for %s 10 s after the cleanup: %v", c.ID(), pids)
	}
}

// TestFaultRuncFailsOrMissing: runc failing its create, and a class whose
// runc is not there: the client gets the reason, nothing is left.
func TestFaultRuncFailsOrMissing(t *testing.T) {
	ctx := testContext(t)
	requireLab(t).keepsInventory(t)
	dir := t.TempDir()
	failing := filepath.Join(dir, "runc-failing")
	// as runc reports an error: a JSON line in its --log file
	script := fmt.Sprintf(`#!/bin/sh
log=
prev=
for a in "$@"; do
	[ "$prev" = --log ] && log=$a
	prev=$a
	if [ "$a" = create ]; then
		[ -n "$log" ] && echo '{"level":"error","msg":"runc-failing: create refused by the test","time":"2026-01-01T00:00:00Z"}' >>"$log"
		exit 1
	fi
done
exec %s "$@"
`, filepath.Join(requireLab(t).Bin, "runc"))
	if err := os.WriteFile(failing, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, runc string
		want       []string
	}{
		{"failing", failing, []string{"runc-failing: create refused by the test"}},
		{"missing", filepath.Join(dir, "no-such-runc"), []string{filepath.Join(dir, "no-such-runc")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shim := classShim(t, "runc"+tc.name, tc.runc)
			c := rawContainerOf(t, ctx, shim, nil)
			_, err := c.NewTask(ctx, cio.NullIO)
			if err == nil {
				t.Fatal("the task was created")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestFaultAuditLogUnwritable: the audit log's directory full (a tmpfs below
// the class's minimum free space), read-only, or deleted while the shim
// runs. The decision stands: a refusal still reaches the client, and the
// shim's log (containerd's log here) carries the decision and the audit
// failure; an allowed container runs and execs.
func TestFaultAuditLogUnwritable(t *testing.T) {
	ctx := testContext(t)
	requireLab(t).keepsInventory(t)
	l := requireLab(t)
	containerdLog := l.envValue(t, "LAB_CONTAINERD_LOG")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		// during: done with the container already running (a deleted directory)
		during func(t *testing.T, dir string)
	}{
		{"full", func(t *testing.T, dir string) { mountTmpfs(t, dir, "size=1m") }, nil},
		{"read-only", func(t *testing.T, dir string) { mountTmpfs(t, dir, "size=1m,ro") }, nil},
		{"deleted", func(t *testing.T, dir string) {}, func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, []byte("a file where the directory was\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "audit")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, dir)
			// the class's audit log is in dir
			shim := classShim(t, "audit"+strings.ReplaceAll(tc.name, "-", ""), filepath.Join(l.Bin, "runc"),
				fmt.Sprintf("audit_log = %q", filepath.Join(dir, "audit.log")))
			ok := rawContainerOf(t, ctx, shim, nil)
			task, _ := startTask(t, ctx, ok)
			if tc.during != nil {
				tc.during(t, dir)
			}
			// an exec is a decision too: allowed, with the audit log failing
			p := &specs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"PATH=/bin"}, NoNewPrivileges: true}
			proc, err := task.Exec(ctx, "probe", p, cio.NullIO)
			if err != nil {
				t.Fatalf("an allowed exec with the audit log %s: %v", tc.name, err)
			}
			proc.Delete(ctx)
			bad := rawContainerOf(t, ctx, shim, nil, oci.WithMounts([]specs.Mount{{Destination: "/host", Type: "bind", Source: "/etc", Options: []string{"rbind", "ro"}}}))
			// the client learns that the node kept no record of the refusal
			mustRefuseTask(t, ctx, bad, nil, "refused by hostPathVolumes", "the node audit log did not record this")
			// no decision silently lost: the shim's log has the refusal and the audit failure
			deadline := time.Now().Add(10 * time.Second)
			for {
				logText, _ := os.ReadFile(containerdLog)
				var refusal, failure bool
				for _, line := range strings.Split(string(logText), "\n") {
					if strings.Contains(line, bad.ID()) && strings.Contains(line, "refused by hostPathVolumes") {
						refusal = true
					}
					if strings.Contains(line, bad.ID()) && strings.Contains(line, "writing the audit log failed") {
						failure = true
					}
				}
				if refusal && failure {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("containerd's log lacks the refusal of %s (%v) or the audit log failure (%v)", bad.ID(), refusal, failure)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

// TestFaultClassFileChangedUnderRunningContainers: the node class file is
// corrupted, then deleted, while a container of its class runs. The running
// container keeps the class it was created with (saved in its bundle): exec
// works and a privileged exec is still refused. A new container of the
// class is refused while the file is broken, naming the file and the line.
func TestFaultClassFileChangedUnderRunningContainers(t *testing.T) {
	ctx := testContext(t)
	requireLab(t).keepsInventory(t)
	l := requireLab(t)
	shim := classShim(t, "classedit", filepath.Join(l.Bin, "runc"))
	node := filepath.Join(l.ClassDir, filepath.Base(shim)+".toml")
	c := rawContainerOf(t, ctx, shim, nil)
	task, _ := startTask(t, ctx, c)
	judged := func(when string) {
		t.Helper()
		p := &specs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"PATH=/bin"}, NoNewPrivileges: true}
		proc, err := task.Exec(ctx, "ok-"+strings.ReplaceAll(when, " ", "-"), p, cio.NullIO)
		if err != nil {
			t.Errorf("%s: an allowed exec: %v", when, err)
		} else {
			proc.Delete(ctx)
		}
		if err := escalatingExecRefused(ctx, testNamespace, c.ID()); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
	judged("with the class file intact")
	if err := os.WriteFile(node, []byte("class_name = \"x\"\nbinary = 1\n[[[\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	judged("with the class file corrupted")
	c2 := rawContainerOf(t, ctx, shim, nil)
	if _, err := c2.NewTask(ctx, cio.NullIO); err == nil || !strings.Contains(err.Error(), node) {
		t.Errorf("a new container with the class file corrupted: %v, want a refusal naming %s", err, node)
	}
	if err := os.Remove(node); err != nil {
		t.Fatal(err)
	}
	judged("with the class file deleted")
}

// mountTmpfs mounts a tmpfs on dir (unmounted at the end) and, unless it is
// read-only, fills it.
func mountTmpfs(t *testing.T, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "audit-fault", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v\n%s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	if strings.Contains(opts, "ro") {
		return
	}
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cgroupsv1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// syncBuffer is a bytes.Buffer safe for the stdio copy goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testTask is one container of the hardened runtime with its task and stdio.
type testTask struct {
	id        string
	container containerd.Container
	task      containerd.Task
	stdout    *syncBuffer
	stderr    *syncBuffer
	exit      <-chan containerd.ExitStatus
}

// newTask creates (not starts) a busybox container running args under the
// hardened runtime, and registers its cleanup and leftover check.
func newTask(t *testing.T, ctx context.Context, runtimeOpts any, args ...string) *testTask {
	t.Helper()
	if runtimeOpts == nil {
		runtimeOpts = &runtimeoptions.Options{ConfigPath: classConfig}
	}
	return newTaskOn(t, ctx, runtimeType, runtimeOpts, args...)
}

// newTaskOn is newTask with another runtime (a runtime type or a shim binary
// path) and its options as given (nil: none, the shim's node class).
func newTaskOn(t *testing.T, ctx context.Context, runtime string, runtimeOpts any, args ...string) *testTask {
	t.Helper()
	l := requireLab(t)
	id := fmt.Sprintf("%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano()%1e6)
	image, err := client.GetImage(ctx, busybox)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewContainer(ctx, id,
		containerd.WithNewSnapshot(id, image),
		containerd.WithRuntime(runtime, runtimeOpts),
		containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs(args...)))
	if err != nil {
		t.Fatal(err)
	}
	tt := &testTask{id: id, container: c, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if tt.task != nil {
			_, _ = tt.task.Delete(cctx, containerd.WithProcessKill)
		}
		if err := c.Delete(cctx, containerd.WithSnapshotCleanup); err != nil {
			t.Errorf("deleting container %s: %v", id, err)
		}
		l.assertNoLeftovers(t, testNamespace, id)
	})
	task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, tt.stdout, tt.stderr), cio.WithFIFODir(l.FIFODir)))
	if err != nil {
		t.Fatal(err)
	}
	tt.task = task
	if tt.exit, err = task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	return tt
}

// start starts the task.
func (tt *testTask) start(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := tt.task.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the task to exit and returns its exit code.
func (tt *testTask) wait(t *testing.T, ctx context.Context) uint32 {
	t.Helper()
	select {
	case st := <-tt.exit:
		code, _, err := st.Result()
		if err != nil {
			t.Fatal(err)
		}
		return code
	case <-ctx.Done():
		t.Fatal("timed out waiting for the task to exit")
	}
	return 0
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want uint32
	}{
		{"zero", []string{"sh", "-c", "exit 0"}, 0},
		{"one", []string{"sh", "-c", "exit 1"}, 1},
		{"seventy-three", []string{"sh", "-c", "exit 73"}, 73},
		{"two-fifty-five", []string{"sh", "-c", "exit 255"}, 255},
		{"command not found", []string{"sh", "-c", "no-such-command"}, 127},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			tt := newTask(t, ctx, nil, tc.args...)
			tt.start(t, ctx)
			if got := tt.wait(t, ctx); got != tc.want {
				t.Fatalf("exit code %d, want %d (stderr %q)", got, tc.want, tt.stderr.String())
			}
		})
	}
}

func TestKillSIGKILLReports137(t *testing.T) {
	ctx := testContext(t)
	tt := newTask(t, ctx, nil, "sleep", "600")
	tt.start(t, ctx)
	if err := tt.task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if got := tt.wait(t, ctx); got != 137 {
		t.Fatalf("exit code %d, want 137", got)
	}
	st, err := tt.task.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != containerd.Stopped {
		t.Fatalf("status %q after kill, want stopped", st.Status)
	}
}

func TestStdoutAndStderr(t *testing.T) {
	ctx := testContext(t)
	tt := newTask(t, ctx, nil, "sh", "-c", "echo to-stdout; echo to-stderr >&2")
	tt.start(t, ctx)
	if code := tt.wait(t, ctx); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	// The stdio copy finishes after the exit event; Delete closes and waits for it.
	if _, err := tt.task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	tt.task = nil
	if got := tt.stdout.String(); got != "to-stdout\n" {
		t.Errorf("stdout %q", got)
	}
	if got := tt.stderr.String(); got != "to-stderr\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestExec(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	tt := newTask(t, ctx, nil, "sleep", "600")
	tt.start(t, ctx)
	spec, err := tt.container.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pspec := *spec.Process
	pspec.Args = []string{"sh", "-c", "echo exec-out; echo exec-err >&2; exit 7"}
	var out, errb syncBuffer
	p, err := tt.task.Exec(ctx, "exec1", &pspec, cio.NewCreator(cio.WithStreams(nil, &out, &errb), cio.WithFIFODir(l.FIFODir)))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st := <-ch
	if code, _, _ := st.Result(); code != 7 {
		t.Errorf("exec exit code %d, want 7", code)
	}
	if _, err := p.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if out.String() != "exec-out\n" || errb.String() != "exec-err\n" {
		t.Errorf("exec stdout %q stderr %q", out.String(), errb.String())
	}
	// sleep as PID 1 ignores SIGTERM: kill it.
	if err := tt.task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := tt.wait(t, ctx); code != 137 {
		t.Errorf("exit code after SIGKILL %d, want 137", code)
	}
}

func TestPauseResume(t *testing.T) {
	ctx := testContext(t)
	tt := newTask(t, ctx, nil, "sh", "-c", "while true; do sleep 0.1; done")
	tt.start(t, ctx)
	if err := tt.task.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := tt.task.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != containerd.Paused {
		t.Fatalf("status %q after pause", st.Status)
	}
	if err := tt.task.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err = tt.task.Status(ctx); err != nil || st.Status != containerd.Running {
		t.Fatalf("status %q (%v) after resume", st.Status, err)
	}
	if err := tt.task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := tt.wait(t, ctx); code != 137 {
		t.Fatalf("exit code %d, want 137", code)
	}
}

func TestStats(t *testing.T) {
	ctx := testContext(t)
	tt := newTask(t, ctx, nil, "sleep", "600")
	tt.start(t, ctx)
	m, err := tt.task.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	stats, ok := v.(*cgroupsv1.Metrics)
	if !ok {
		t.Fatalf("metrics of type %T, want cgroup v1 metrics on this host", v)
	}
	if stats.GetMemory().GetUsage().GetUsage() == 0 {
		t.Errorf("memory usage 0 in %v", stats.GetMemory())
	}
	if stats.GetPids().GetCurrent() < 1 {
		t.Errorf("pids.current %d", stats.GetPids().GetCurrent())
	}
	pids, err := tt.task.Pids(ctx)
	if err != nil || len(pids) != 1 || pids[0].Pid != tt.task.Pid() {
		t.Errorf("Pids() = %v, %v; want the init pid %d", pids, err, tt.task.Pid())
	}
	if err := tt.task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tt.wait(t, ctx)
}

// TestRuncStyleOptions runs the hardened runtime with runc shim options, as a
// client configured for runc would send them: the node class file of the
// shim binary applies, with runc's binary and root on top.
func TestRuncStyleOptions(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	tt := newTask(t, ctx, &runcoptions.Options{BinaryName: l.Bin + "/runc", Root: l.RuncRoot}, "sh", "-c", "exit 5")
	tt.start(t, ctx)
	if got := tt.wait(t, ctx); got != 5 {
		t.Fatalf("exit code %d, want 5", got)
	}
}

// TestLeftoverCheckSeesALiveContainer proves the leftover check can fail: a
// running container must show its shim, rootfs mount, cgroups and state.
func TestLeftoverCheckSeesALiveContainer(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	tt := newTask(t, ctx, nil, "sleep", "600")
	tt.start(t, ctx)
	left := strings.Join(l.leftovers(testNamespace, tt.id), "\n")
	for _, want := range []string{"shim process", "mount:", "cgroup:", "state directory:"} {
		if !strings.Contains(left, want) {
			t.Errorf("leftover check of a live container lacks %q:\n%s", want, left)
		}
	}
	if err := tt.task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tt.wait(t, ctx)
}

// checkExecs runs two execs in the running task: one that would clear no_new_privs must be
// refused by execEscalation before it reaches the runtime (the task's processes stay as they
// were), and an allowed one must report its output and exit code 7.
func (tt *testTask) checkExecs(t *testing.T, ctx context.Context) {
	t.Helper()
	l := requireLab(t)
	execOut := &syncBuffer{}
	_, err := tt.task.Exec(ctx, "escalate", &specs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"PATH=/bin"}},
		cio.NewCreator(cio.WithStreams(nil, execOut, execOut), cio.WithFIFODir(l.FIFODir)))
	if err == nil || !strings.Contains(err.Error(), "refused by execEscalation") {
		t.Errorf("an exec clearing noNewPrivileges: %v, want a refusal by execEscalation", err)
	}
	// the runtime never got it: it knows no such exec (a count of the container's
	// processes would race its own shell's children)
	if _, err := tt.task.LoadProcess(ctx, "escalate", nil); !errdefs.IsNotFound(err) {
		t.Errorf("after the refused exec the runtime answers for it: %v, want not found", err)
	}
	ep, err := tt.task.Exec(ctx, "probe", &specs.Process{Args: []string{"sh", "-c", "echo exec-ok; exit 7"}, Cwd: "/", Env: []string{"PATH=/bin"}, NoNewPrivileges: true},
		cio.NewCreator(cio.WithStreams(nil, execOut, execOut), cio.WithFIFODir(l.FIFODir)))
	if err != nil {
		t.Fatal(err)
	}
	eexit, err := ep.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ep.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := (<-eexit).Result(); code != 7 {
		t.Errorf("exec exit code %d, want 7", code)
	}
	ep.Delete(ctx)
	if !strings.Contains(execOut.String(), "exec-ok") {
		t.Errorf("exec output %q", execOut.String())
	}
}

// finish waits for the task to exit, deletes it (the stdio copy finishes after the exit
// event; Delete closes and waits for it) and returns its exit code and output.
func (tt *testTask) finish(t *testing.T, ctx context.Context) (uint32, string) {
	t.Helper()
	code := tt.wait(t, ctx)
	if _, err := tt.task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	tt.task = nil
	return code, tt.stdout.String()
}

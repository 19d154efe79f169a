//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// gvisorHandler is the lab's hardened class with runtime = "runsc".
const gvisorHandler = "hardened-gvisor"

// runscStateOf lists the runsc root's container state entries of a namespace.
func (l *lab) runscStateOf(ns string) []string {
	entries, _ := os.ReadDir(filepath.Join(l.RunscRoot, ns))
	var names []string
	for _, e := range entries {
		if e.Name() != "null-netns" { // runsc's own, one per root
			names = append(names, e.Name())
		}
	}
	return names
}

// hostUIDOf returns the host UID of the first process whose command starts with prefix and
// names id, or -1.
func hostUIDOf(prefix, id string) int {
	for pid, args := range processes() {
		if !strings.HasPrefix(args[0], prefix) || !strings.Contains(strings.Join(args, " "), id) {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
				uid, _ := strconv.Atoi(f[1])
				return uid
			}
		}
	}
	return -1
}

// TestGVisorCtr: through containerd's client, a container of the gVisor class runs in
// gVisor's kernel, in a user namespace of its own (the sandbox holds host IDs from 2^31 up),
// with the class's hardening, exact exit codes, exec, and nothing left.
func TestGVisorCtr(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	shim := l.env["LAB_HARDENED_GVISOR_SHIM"]
	if shim == "" {
		t.Fatal("lab.env has no LAB_HARDENED_GVISOR_SHIM")
	}
	tt := newTaskOn(t, ctx, shim, nil, "sh", "-c", `uname -r; grep -E "^(NoNewPrivs|CapEff):" /proc/self/status; touch /x 2>&1; sleep 2; exit 3`)
	tt.start(t, ctx)
	if uid := hostUIDOf("runsc-sandbox", tt.id); uid < 1<<31 {
		t.Errorf("gVisor's sandbox process runs as host UID %d, want one of the class's range (>= 2^31)", uid)
	}
	// exec: the exec checks apply (an exec that would clear no_new_privs is refused before
	// runsc sees it); an allowed one reports its exit code and output
	execOut := &syncBuffer{}
	_, err := tt.task.Exec(ctx, "escalate", &specs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"PATH=/bin"}},
		cio.NewCreator(cio.WithStreams(nil, execOut, execOut), cio.WithFIFODir(l.FIFODir)))
	if err == nil || !strings.Contains(err.Error(), "refused by execEscalation") {
		t.Errorf("an exec clearing noNewPrivileges: %v, want a refusal by execEscalation", err)
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
	code := tt.wait(t, ctx)
	// the stdio copy finishes after the exit event; Delete closes and waits for it
	if _, err := tt.task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	tt.task = nil
	out := tt.stdout.String()
	if code != 3 {
		t.Errorf("exit code %d, want 3; output %q", code, out)
	}
	for _, want := range []string{"-gvisor\n", "NoNewPrivs:\t1", "Read-only file system"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q (gVisor's kernel version, the class's no_new_privs and read-only root): %q", want, out)
		}
	}
}

// TestGVisorCRIPod: a pod of the gVisor class is one sandbox whose app containers are real
// processes to containerd: a container that exits at once reports its exit code, a stopped
// one its signal, exec and logs work, and the pod leaves nothing behind.
func TestGVisorCRIPod(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	pod := runPod(t, ctx, gvisorHandler)
	long := pod.createContainer(t, ctx, "long", "sh", "-c", "echo long-started; exec sleep 600")
	quick := pod.createContainer(t, ctx, "quick", "sh", "-c", "echo quick-ran; exit 5")
	if out, err := l.crictl(ctx, "start", long, quick); err != nil {
		t.Fatalf("starting: %v\n%s", err, out)
	}
	state := func(id string) (string, string) {
		out, err := l.crictl(ctx, "inspect", "-o", "go-template", "--template", "{{.status.state}} {{.status.exitCode}}", id)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(lastLine(out))
		if len(f) < 2 {
			t.Fatalf("inspect %s: %q", id, out)
		}
		return f[0], f[1]
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, _ := state(quick); st == "CONTAINER_EXITED" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, code := state(quick); st != "CONTAINER_EXITED" || code != "5" {
		t.Errorf("the container that exits at once: %s, exit code %s; want CONTAINER_EXITED, 5", st, code)
	}
	if st, _ := state(long); st != "CONTAINER_RUNNING" {
		t.Errorf("the long container: %s", st)
	}
	out, err := l.crictl(ctx, "exec", long, "sh", "-c", "echo exec-in-gvisor; uname -r; exit 4")
	if err == nil || !strings.Contains(out, "exec-in-gvisor") || !strings.Contains(out, "-gvisor") || !strings.Contains(out, "exit code 4") {
		t.Errorf("exec: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"long": "long-started", "quick": "quick-ran"} {
		b, _ := os.ReadFile(filepath.Join(pod.logDir, name+".log"))
		if !strings.Contains(string(b), want) {
			t.Errorf("log of %s: %q, want %q", name, b, want)
		}
	}
	if uid := hostUIDOf("runsc-sandbox", pod.id); uid < 1<<31 {
		t.Errorf("the pod's gVisor sandbox runs as host UID %d, want one of the class's range (>= 2^31)", uid)
	}
	// pausing one app container would freeze the whole gVisor kernel: refused, named
	if out, err := l.ctr(ctx, "-n", criNamespace, "task", "pause", long); err == nil || !strings.Contains(out, "gVisor would pause every container of the pod") {
		t.Errorf("pausing an app container of a gVisor pod: %v\n%s", err, out)
	}
	if st, _ := state(long); st != "CONTAINER_RUNNING" {
		t.Errorf("after the refused pause the long container is %s", st)
	}
	// the app container's metrics come from inside the sandbox, not from its stand-in
	out, err = l.crictl(ctx, "stats", "-o", "json", "--id", long)
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Stats []struct {
			CPU struct {
				UsageCoreNanoSeconds struct{ Value string } `json:"usageCoreNanoSeconds"`
			} `json:"cpu"`
			Memory struct {
				WorkingSetBytes struct{ Value string } `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &stats); err != nil || len(stats.Stats) != 1 {
		t.Fatalf("crictl stats: %v\n%s", err, out)
	}
	if mem, _ := strconv.ParseUint(stats.Stats[0].Memory.WorkingSetBytes.Value, 10, 64); mem == 0 {
		t.Errorf("the app container's working set is 0: %s", out)
	}
	if cpu, _ := strconv.ParseUint(stats.Stats[0].CPU.UsageCoreNanoSeconds.Value, 10, 64); cpu == 0 {
		t.Errorf("the app container's CPU usage is 0: %s", out)
	}
	if _, err := l.crictl(ctx, "stop", "--timeout", "2", long); err != nil {
		t.Fatal(err)
	}
	if st, code := state(long); st != "CONTAINER_EXITED" || (code != "143" && code != "137") {
		t.Errorf("the stopped container: %s, exit code %s; want CONTAINER_EXITED, 143 (SIGTERM) or 137", st, code)
	}
	// pod.remove (cleanup) checks that no shim, runsc process, stand-in, mount, cgroup,
	// runsc state or ID range of the pod or its containers is left
}

// TestGVisorRefusalsNeverReachRunsc: a pod or container the class refuses never gets a runsc
// process or runsc state; the message names the check, like the runc classes'.
func TestGVisorRefusalsNeverReachRunsc(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	before := fmt.Sprint(l.runscStateOf(criNamespace))
	_, out, err := tryRunPod(t, ctx, gvisorHandler, map[string]any{"security_context": map[string]any{"privileged": true}})
	if err == nil {
		t.Fatalf("privileged pod started: %s", out)
	}
	wantAll(t, out, "refused by privileged:", `(runtime class \"hardened-gvisor\", mode enforce)`)
	if after := fmt.Sprint(l.runscStateOf(criNamespace)); after != before {
		t.Errorf("a refused pod reached runsc: its root holds %s, before %s", after, before)
	}

	// a safe sysctl runc would apply: gVisor's kernel would silently keep its own value
	_, out, err = tryRunPod(t, ctx, gvisorHandler, map[string]any{"sysctls": map[string]string{"net.ipv4.ip_unprivileged_port_start": "80"}})
	if err == nil {
		t.Fatalf("a pod with a sysctl gVisor does not apply started: %s", out)
	}
	wantAll(t, out, `refused by backend: gVisor does not apply sysctl net.ipv4.ip_unprivileged_port_start from the spec`)
	if after := fmt.Sprint(l.runscStateOf(criNamespace)); after != before {
		t.Errorf("a refused pod reached runsc: its root holds %s, before %s", after, before)
	}

	pod := runPod(t, ctx, gvisorHandler)
	before = fmt.Sprint(l.runscStateOf(criNamespace))
	cfg := containerCfg("etc", hostMount("/host", "/etc", true), nil, nil)
	out, err = l.crictl(ctx, "create", pod.id, writeJSON(t, cfg), writeJSON(t, pod.config))
	if err == nil {
		id := strings.TrimSpace(lastLine(out))
		pod.ctrs = append(pod.ctrs, id)
		out, err = l.crictl(ctx, "start", id)
	}
	if err == nil {
		t.Fatalf("a hostPath /etc container started: %s", out)
	}
	wantAll(t, out, `refused by hostPathVolumes: mount \"/host\" comes from host path \"/etc\"`)
	if after := fmt.Sprint(l.runscStateOf(criNamespace)); after != before {
		t.Errorf("a refused container reached runsc: its root holds %s, before %s", after, before)
	}
}

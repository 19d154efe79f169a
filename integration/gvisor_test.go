//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
	tt := newTaskOn(t, ctx, l.envValue(t, "LAB_HARDENED_GVISOR_SHIM"), nil, "sh", "-c", `uname -r; grep -E "^(NoNewPrivs|CapEff):" /proc/self/status; touch /x 2>&1; sleep 2; exit 3`)
	tt.start(t, ctx)
	if uid := hostUIDOf("runsc-sandbox", tt.id); uid < 1<<31 {
		t.Errorf("gVisor's sandbox process runs as host UID %d, want one of the class's range (>= 2^31)", uid)
	}
	// exec: the exec checks apply (an exec that would clear no_new_privs is refused before
	// runsc sees it); an allowed one reports its exit code and output
	tt.checkExecs(t, ctx)
	code, out := tt.finish(t, ctx)
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
	pod, long, _ := runLongAndQuick(t, ctx, gvisorHandler)
	out, err := l.crictl(ctx, "exec", long, "sh", "-c", "echo exec-in-gvisor; uname -r; exit 4")
	if err == nil || !strings.Contains(out, "exec-in-gvisor") || !strings.Contains(out, "-gvisor") || !strings.Contains(out, "exit code 4") {
		t.Errorf("exec: %v\n%s", err, out)
	}
	pod.checkLogs(t, map[string]string{"long": "long-started", "quick": "quick-ran"})
	if uid := hostUIDOf("runsc-sandbox", pod.id); uid < 1<<31 {
		t.Errorf("the pod's gVisor sandbox runs as host UID %d, want one of the class's range (>= 2^31)", uid)
	}
	// pausing one app container would freeze the whole gVisor kernel: refused, named
	if out, err := l.ctr(ctx, "-n", criNamespace, "task", "pause", long); err == nil || !strings.Contains(out, "gVisor would pause every container of the pod") {
		t.Errorf("pausing an app container of a gVisor pod: %v\n%s", err, out)
	}
	if st, _ := l.containerState(t, ctx, long); st != "CONTAINER_RUNNING" {
		t.Errorf("after the refused pause the long container is %s", st)
	}
	// the app container's metrics come from inside the sandbox, not from its stand-in
	if cpu, mem := l.containerStats(t, ctx, long); cpu == 0 || mem == 0 {
		t.Errorf("the app container's CPU usage %d ns, working set %d bytes: want both above 0", cpu, mem)
	}
	l.stopAndCheckSignal(t, ctx, long)
	// an app container with a terminal: its stdio is the terminal runsc sent at create, its
	// output reaches the log, its exit code is exact
	cfg := containerCfg("tty", nil, nil, map[string]any{"tty": true,
		"command": []string{"sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo stdio-is-a-terminal; exit 6"}})
	out, err = l.crictl(ctx, "create", pod.id, writeJSON(t, cfg), writeJSON(t, pod.config))
	if err != nil {
		t.Fatalf("creating a tty container: %v\n%s", err, out)
	}
	tty := strings.TrimSpace(lastLine(out))
	pod.ctrs = append(pod.ctrs, tty)
	if out, err := l.crictl(ctx, "start", tty); err != nil {
		t.Fatalf("starting a tty container: %v\n%s", err, out)
	}
	if st, code := l.waitExited(t, ctx, tty); st != "CONTAINER_EXITED" || code != "6" {
		t.Errorf("the tty container: %s, exit code %s; want CONTAINER_EXITED, 6", st, code)
	}
	pod.checkLogs(t, map[string]string{"tty": "stdio-is-a-terminal"})
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
	pod.checkHostEtcRefused(t, ctx)
	if after := fmt.Sprint(l.runscStateOf(criNamespace)); after != before {
		t.Errorf("a refused container reached runsc: its root holds %s, before %s", after, before)
	}
}

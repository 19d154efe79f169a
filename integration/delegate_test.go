//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// delegateHandler is the lab's hardened class with runtime = "kata" and containerd's own
// containerd-shim-runc-v2 as the delegate shim.
const delegateHandler = "hardened-delegate"

// delegateAddressSuffix is what the hardened shim appends to containerd's address for the
// shims it delegates to (sandbox.delegateAddressSuffix).
const delegateAddressSuffix = ".hardened-delegate"

// delegateShims returns the delegate shim processes (pid → command line) the hardened shims
// started for the lab's containerd.
func (l *lab) delegateShims() map[int]string {
	out := map[int]string{}
	for pid, cmd := range l.shimProcesses() {
		if strings.Contains(cmd, " -address "+l.Address+delegateAddressSuffix) {
			out[pid] = cmd
		}
	}
	return out
}

// delegateShimFor returns the pid of the delegate shim started for container or pod id, or 0.
func (l *lab) delegateShimFor(id string) int {
	for pid, cmd := range l.delegateShims() {
		if strings.Contains(" "+cmd+" ", " -id "+id+" ") {
			return pid
		}
	}
	return 0
}

// hardenedShimFor returns the pid of the hardened shim serving container or pod id, or 0.
func (l *lab) hardenedShimFor(id string) int {
	for _, pid := range l.shimProcessesFor(id) {
		if args := processes()[pid]; len(args) > 0 && strings.HasPrefix(filepath.Base(args[0]), "containerd-shim-hardened-") {
			return pid
		}
	}
	return 0
}

// TestDelegateCtr: through containerd's client, a container of the delegation class is
// checked and hardened by the hardened shim and run by the delegate shim (containerd's runc
// shim): the hardening shows inside, exit codes and exec go through, a refused exec never
// reaches the delegate, and nothing is left.
func TestDelegateCtr(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	tt := newTaskOn(t, ctx, l.envValue(t, "LAB_HARDENED_DELEGATE_SHIM"), nil, "sh", "-c", `grep -E "^(NoNewPrivs|CapEff|Seccomp):" /proc/self/status; cat /proc/self/uid_map; touch /x 2>&1; sleep 3; exit 3`)
	tt.start(t, ctx)
	delegate := l.delegateShimFor(tt.id)
	if delegate == 0 {
		t.Fatalf("no delegate shim for %s; shims: %v", tt.id, l.shimProcesses())
	}
	if args := processes()[delegate]; filepath.Base(args[0]) != "containerd-shim-runc-v2" {
		t.Errorf("the delegate is %q, want containerd-shim-runc-v2", args[0])
	}
	if l.hardenedShimFor(tt.id) == 0 {
		t.Errorf("no hardened shim serves %s: containerd must talk to it, not to the delegate", tt.id)
	}
	tt.checkExecs(t, ctx)
	code, out := tt.finish(t, ctx)
	if code != 3 {
		t.Errorf("exit code %d, want 3; output %q", code, out)
	}
	for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2", "CapEff:\t00000000000005fb", "Read-only file system"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q (the class's no_new_privs, seccomp, capabilities, read-only root): %q", want, out)
		}
	}
	if m := regexp.MustCompile(`(?m)^\s*0\s+(\d+)\s+65536$`).FindStringSubmatch(out); m == nil {
		t.Errorf("no uid_map line mapping root to a range of 65536: %q", out)
	} else if host, _ := strconv.ParseUint(m[1], 10, 64); host < 1<<31 {
		t.Errorf("container root is host UID %d, want one of the class's range (>= 2^31)", host)
	}
	// newTaskOn's cleanup checks that neither shim, nor runc state, mount, cgroup or ID
	// range of the container is left
}

// TestDelegateCRIPod: a pod of the delegation class is one hardened shim and one delegate
// shim; its app containers report exit codes, signals, logs, exec, stats, pause and resume
// through the hardened shim; exec and update checks still apply; nothing is left.
func TestDelegateCRIPod(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	pod, long, _ := runLongAndQuick(t, ctx, delegateHandler)
	// one delegate shim serves the pod (started for its sandbox), one hardened shim fronts it
	var podDelegates []int
	for pid, cmd := range l.delegateShims() {
		for _, id := range append([]string{pod.id}, pod.ctrs...) {
			if strings.Contains(" "+cmd+" ", " -id "+id+" ") {
				podDelegates = append(podDelegates, pid)
			}
		}
	}
	if len(podDelegates) != 1 || l.delegateShimFor(pod.id) == 0 {
		t.Errorf("delegate shims of the pod: %v, want one, started for the sandbox %s", podDelegates, pod.id)
	}
	out, err := l.crictl(ctx, "exec", long, "sh", "-c", "echo exec-delegated; grep NoNewPrivs /proc/self/status; exit 4")
	if err == nil || !strings.Contains(out, "exec-delegated") || !strings.Contains(out, "NoNewPrivs:\t1") || !strings.Contains(out, "exit code 4") {
		t.Errorf("exec: %v\n%s", err, out)
	}
	pod.checkLogs(t, map[string]string{"long": "long-started", "quick": "quick-ran"})
	// an exec asking for a capability the container does not have, and an update opening
	// every device: refused by the hardened shim, named
	refuseEscalation(t, ctx, criNamespace, long)
	// pause and resume go to the delegate (runc pauses one container of a pod)
	if out, err := l.ctr(ctx, "-n", criNamespace, "task", "pause", long); err != nil {
		t.Errorf("pause: %v\n%s", err, out)
	}
	if out, _ := l.ctr(ctx, "-n", criNamespace, "task", "ls"); !strings.Contains(out, long) || !strings.Contains(lineWith(out, long), "PAUSED") {
		t.Errorf("after pause: %s", out)
	}
	if out, err := l.ctr(ctx, "-n", criNamespace, "task", "resume", long); err != nil {
		t.Errorf("resume: %v\n%s", err, out)
	}
	if _, mem := l.containerStats(t, ctx, long); mem == 0 {
		t.Errorf("the app container's working set is 0")
	}
	l.stopAndCheckSignal(t, ctx, long)
	// pod.remove (cleanup) checks that no hardened or delegate shim, mount, cgroup, runc
	// state or ID range of the pod or its containers is left
}

// lineWith returns the first line of s that contains sub.
func lineWith(s, sub string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}

// TestDelegateRefusalsNeverReachDelegate: a pod or container the class refuses never starts
// a delegate shim or reaches it; the message names the check, like the runc classes'.
func TestDelegateRefusalsNeverReachDelegate(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	before := len(l.delegateShims())
	_, out, err := tryRunPod(t, ctx, delegateHandler, map[string]any{"security_context": map[string]any{"privileged": true}})
	if err == nil {
		t.Fatalf("privileged pod started: %s", out)
	}
	wantAll(t, out, "refused by privileged:", `(runtime class \"hardened-delegate\", mode enforce)`)
	if after := len(l.delegateShims()); after != before {
		t.Errorf("a refused pod started a delegate shim: %d delegates, %d before", after, before)
	}
	pod := runPod(t, ctx, delegateHandler)
	delegate := l.delegateShimFor(pod.id)
	if delegate == 0 {
		t.Fatalf("no delegate shim for the pod %s", pod.id)
	}
	pod.checkHostEtcRefused(t, ctx)
	// the delegate's runc root holds the pod sandbox alone
	if entries := l.runcStateOf(criNamespace, pod.id); len(entries) != 0 {
		t.Errorf("a refused container reached the delegate's runc: %v", entries)
	}
	if l.delegateShimFor(pod.id) != delegate {
		t.Errorf("the pod's delegate shim changed after the refusal")
	}
}

// runcStateOf lists the runc root's state entries of a namespace other than keep.
func (l *lab) runcStateOf(ns string, keep ...string) []string {
	entries, _ := os.ReadDir(filepath.Join(l.RuncRoot, ns))
	var names []string
	for _, e := range entries {
		if !contains(keep, e.Name()) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestDelegateHardenedShimKilled: when the hardened shim dies, containerd's cleanup (`shim
// delete`) goes through the delegate: the container is gone, the delegate shim exits, the
// client sees the exit, and nothing is left.
func TestDelegateHardenedShimKilled(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	tt := newTaskOn(t, ctx, l.envValue(t, "LAB_HARDENED_DELEGATE_SHIM"), nil, "sleep", "600")
	tt.start(t, ctx)
	hardened, delegate := l.hardenedShimFor(tt.id), l.delegateShimFor(tt.id)
	if hardened == 0 || delegate == 0 {
		t.Fatalf("shims of %s: hardened %d, delegate %d", tt.id, hardened, delegate)
	}
	if err := syscall.Kill(hardened, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-tt.exit:
		if code, _, _ := st.Result(); code == 0 {
			t.Errorf("exit status %d after the shim was killed, want non-zero", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit reported 30 s after the hardened shim was killed")
	}
	deadline := time.Now().Add(15 * time.Second)
	for processes()[delegate] != nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if args := processes()[delegate]; args != nil {
		t.Errorf("the delegate shim %d still runs after containerd's cleanup: %v", delegate, args)
	}
	_, _ = tt.task.Delete(ctx)
	tt.task = nil
	// newTaskOn's cleanup checks what is left
}

//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// criNamespace is containerd's namespace for CRI objects.
const criNamespace = "k8s.io"

// criPod is a pod sandbox created through crictl, removed (with a leftover
// check) when the test ends.
type criPod struct {
	id      string
	name    string
	handler string
	logDir  string
	config  map[string]any
	ctrs    []string
}

// remove stops and removes the pod and checks that nothing of it is left.
func (p *criPod) remove(t *testing.T) {
	t.Helper()
	l := requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := l.crictl(ctx, "stopp", p.id); err != nil {
		t.Errorf("stopping pod: %v", err)
	}
	if _, err := l.crictl(ctx, "rmp", p.id); err != nil {
		t.Errorf("removing pod: %v", err)
	}
	os.RemoveAll(p.logDir)
	l.assertNoLeftovers(t, criNamespace, append([]string{p.id}, p.ctrs...)...)
}

func writeJSON(t *testing.T, v any) string {
	t.Helper()
	f, err := os.CreateTemp(requireLab(t).Run, "cri-*.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := json.NewEncoder(f).Encode(v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	return f.Name()
}

// uniqueName is a name for the test's containers and pods that containerd
// accepts as an identifier: lower-case letters, digits and single dashes,
// at most 63 characters.
func uniqueName(t *testing.T) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(t.Name()) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.TrimSuffix(b.String(), "-")
	if len(name) > 55 {
		name = strings.TrimSuffix(name[:55], "-")
	}
	return fmt.Sprintf("%s-%06d", name, time.Now().UnixNano()%1e6)
}

// podConfig is a minimal CRI PodSandboxConfig.
func podConfig(name, logDir string) map[string]any {
	return map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "hardened-test", "uid": name + "-uid", "attempt": 1},
		"log_directory": logDir,
		"linux":         map[string]any{},
	}
}

// runPod starts a pod sandbox with the given runtime handler.
func runPod(t *testing.T, ctx context.Context, handler string) *criPod {
	t.Helper()
	p, out, err := tryRunPod(t, ctx, handler, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return p
}

// createContainer creates a busybox container running args in the pod.
func (p *criPod) createContainer(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	l := requireLab(t)
	cfg := map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": busybox},
		"command":  args,
		"log_path": name + ".log",
		"linux":    map[string]any{},
	}
	out, err := l.crictl(ctx, "create", p.id, writeJSON(t, cfg), writeJSON(t, p.config))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(lastLine(out))
	p.ctrs = append(p.ctrs, id)
	return id
}

// stopRemove stops and removes a CRI container.
func (l *lab) stopRemove(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	if _, err := l.crictl(ctx, "stop", "--timeout", "1", id); err != nil {
		t.Fatal(err)
	}
	if _, err := l.crictl(ctx, "rm", id); err != nil {
		t.Fatal(err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// containerPid returns the host pid of a CRI container's init process.
func containerPid(t *testing.T, ctx context.Context, id string) int {
	t.Helper()
	out, err := requireLab(t).crictl(ctx, "inspect", "-o", "json", id)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Info struct {
			Pid int `json:"pid"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Info.Pid == 0 {
		t.Fatalf("no pid in crictl inspect (%v): %s", err, out)
	}
	return v.Info.Pid
}

func parentPid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name may contain spaces; fields after ")" are fixed.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}

func TestCRIPodSharesOneShim(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	pod := runPod(t, ctx, "hardened")
	a := pod.createContainer(t, ctx, "first", "sh", "-c", "echo first-log-line; exec sleep 600")
	b := pod.createContainer(t, ctx, "second", "sh", "-c", "echo second-log-line >&2; exec sleep 600")
	for _, id := range []string{a, b} {
		if _, err := l.crictl(ctx, "start", id); err != nil {
			t.Fatal(err)
		}
	}

	shims := l.shimProcessesFor(pod.id)
	if len(shims) != 1 {
		t.Fatalf("want exactly one shim process for pod %s, got %v (all: %v)", pod.id, shims, l.shimProcesses())
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", shims[0]))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(exe) != "containerd-shim-hardened-v2" {
		t.Fatalf("pod's shim runs %s, want containerd-shim-hardened-v2", exe)
	}
	for _, id := range []string{a, b} {
		if pp := parentPid(t, containerPid(t, ctx, id)); pp != shims[0] {
			t.Errorf("container %s is a child of pid %d, want the pod's shim %d", id, pp, shims[0])
		}
	}

	out, err := l.crictl(ctx, "exec", a, "sh", "-c", "echo exec-ok; hostname")
	if err != nil || !strings.Contains(out, "exec-ok") {
		t.Errorf("exec: %q, %v", out, err)
	}
	if _, err := l.crictl(ctx, "exec", a, "sh", "-c", "exit 3"); err == nil || !strings.Contains(err.Error(), "command terminated with exit code 3") {
		t.Errorf("exec exit code: %v", err)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		la, _ := l.crictl(ctx, "logs", a)
		lb, _ := l.crictl(ctx, "logs", b)
		if strings.Contains(la, "first-log-line") && strings.Contains(lb, "second-log-line") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs: first %q, second %q", la, lb)
		}
		time.Sleep(200 * time.Millisecond)
	}

	for _, id := range []string{a, b} {
		if _, err := l.crictl(ctx, "stop", "--timeout", "2", id); err != nil {
			t.Fatal(err)
		}
		out, err := l.crictl(ctx, "inspect", "-o", "go-template", "--template", "{{.status.state}} {{.status.exitCode}}", id)
		if err != nil || !strings.Contains(out, "CONTAINER_EXITED") {
			t.Errorf("state after stop: %q, %v", out, err)
		}
		if _, err := l.crictl(ctx, "rm", id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCRIRuntimeHandlerFeatures checks that containerd's CRI sees the same
// runtime features for the hardened handler as for runc (user namespaces,
// recursive read-only mounts), which it learns from the shim's -info.
func TestCRIRuntimeHandlerFeatures(t *testing.T) {
	features := requireLab(t).handlerFeatures(t, testContext(t))
	runc, hardened := features["runc"], features["hardened"]
	if runc == nil || hardened == nil {
		t.Fatalf("runtime handlers %v lack runc or hardened", features)
	}
	for _, f := range []string{"recursive_read_only_mounts", "user_namespaces"} {
		if hardened[f] != true {
			t.Errorf("hardened handler feature %s = %v, want true (runc: %v)", f, hardened[f], runc[f])
		}
	}
	if !reflect.DeepEqual(runc, hardened) {
		t.Errorf("features differ: runc %v, hardened %v", runc, hardened)
	}
}

// handlerFeatures is the CRI's runtime handlers' features (crictl info), by handler.
func (l *lab) handlerFeatures(t *testing.T, ctx context.Context) map[string]map[string]any {
	t.Helper()
	out, err := l.crictl(ctx, "info", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		RuntimeHandlers []struct {
			Name     string         `json:"name"`
			Features map[string]any `json:"features"`
		} `json:"runtimeHandlers"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	features := map[string]map[string]any{}
	for _, h := range info.RuntimeHandlers {
		features[h.Name] = h.Features
	}
	return features
}

// TestCRIClassFromEveryConfigSource runs a pod through each way a class can
// be configured: node class file (hardened, hardened-audit), inline options
// (hardened-inline) and a ConfigPath file (hardened-file). The audit log names
// the class each decision was made under.
func TestCRIClassFromEveryConfigSource(t *testing.T) {
	for _, tc := range []struct{ handler, class, mode string }{
		{"hardened", "hardened", "enforce"},
		{"hardened-audit", "hardened-audit", "audit"},
		{"hardened-inline", "hardened-inline", "enforce"},
		{"hardened-file", "hardened-file", "enforce"},
	} {
		t.Run(tc.handler, func(t *testing.T) {
			ctx := testContext(t)
			l := requireLab(t)
			pod := runPod(t, ctx, tc.handler)
			id := pod.createContainer(t, ctx, "app", "sh", "-c", "echo ok; exec sleep 600")
			if _, err := l.crictl(ctx, "start", id); err != nil {
				t.Fatal(err)
			}
			recs := l.auditRecords(t, id)
			if len(recs) == 0 {
				t.Fatalf("no audit record for container %s", id)
			}
			r := recs[len(recs)-1]
			if r.Class != tc.class || string(r.Mode) != tc.mode || r.Decision != "allowed" || r.Event != "create" {
				t.Fatalf("audit record %+v, want class %s mode %s allowed at create", r, tc.class, tc.mode)
			}
			// Every hardening change is recorded, from what to what (in audit
			// mode as the changes enforce mode would make).
			changed := map[string]bool{}
			for _, c := range r.Changes {
				changed[c.Field] = true
			}
			for _, f := range []string{"linux.seccomp", "root.readonly", "process.noNewPrivileges", "process.capabilities.bounding", `mounts["/tmp"]`} {
				if !changed[f] {
					t.Errorf("audit record lacks the change of %s: %+v", f, r.Changes)
				}
			}
			// Enforce mode applies them; audit mode only records them.
			want := "NoNewPrivs:\t1 Seccomp:\t2"
			if tc.mode == "audit" {
				want = "NoNewPrivs:\t0 Seccomp:\t0"
			}
			out, err := l.crictl(ctx, "exec", id, "sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr '\\n' ' '")
			if err != nil || !strings.Contains(out, want) {
				t.Errorf("status in the container %q (%v), want %q", out, err, want)
			}
			l.stopRemove(t, ctx, id)
		})
	}
}

// TestCRIBrokenClassFileRefused breaks the hardened-file handler's class file:
// the pod fails before anything runs, with an error naming the file and key.
func TestCRIBrokenClassFileRefused(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	good, err := os.ReadFile(l.FileClassConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(l.FileClassConfig, good, 0o644); err != nil {
			t.Error(err)
		}
	})
	if err := os.WriteFile(l.FileClassConfig, append(append([]byte{}, good...), []byte("\n# the file ends with its [policy] table\nlevel = \"lenient\"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	name := uniqueName(t)
	logDir := filepath.Join(l.Run, "pod-logs", name)
	shimsBefore := len(l.shimProcesses())
	out, err := l.crictl(ctx, "runp", "--runtime", "hardened-file", writeJSON(t, podConfig(name, logDir)))
	if err == nil {
		id := strings.TrimSpace(lastLine(out))
		l.crictl(ctx, "stopp", id)
		l.crictl(ctx, "rmp", id)
		t.Fatalf("pod started with a broken class file")
	}
	for _, want := range []string{l.FileClassConfig, "policy.level", "lenient", "is not a level"} {
		if !strings.Contains(out, want) {
			t.Errorf("error does not mention %q:\n%s", want, out)
		}
	}
	os.RemoveAll(logDir)
	l.assertNoPodNamed(t, ctx, name, shimsBefore)
}

// containerState returns a CRI container's state and exit code as crictl inspect shows them.
func (l *lab) containerState(t *testing.T, ctx context.Context, id string) (state, exitCode string) {
	t.Helper()
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

// waitExited waits (at most 20 s) for a CRI container to be CONTAINER_EXITED and returns its
// state and exit code.
func (l *lab) waitExited(t *testing.T, ctx context.Context, id string) (state, exitCode string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		state, exitCode = l.containerState(t, ctx, id)
		if state == "CONTAINER_EXITED" || time.Now().After(deadline) {
			return state, exitCode
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// containerStats returns a CRI container's CPU usage (ns) and working set (bytes) from
// crictl stats.
func (l *lab) containerStats(t *testing.T, ctx context.Context, id string) (cpu, workingSet uint64) {
	t.Helper()
	out, err := l.crictl(ctx, "stats", "-o", "json", "--id", id)
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
	i := strings.Index(out, "{")
	if i < 0 {
		t.Fatalf("crictl stats: %s", out)
	}
	if err := json.Unmarshal([]byte(out[i:]), &stats); err != nil || len(stats.Stats) != 1 {
		t.Fatalf("crictl stats: %v\n%s", err, out)
	}
	cpu, _ = strconv.ParseUint(stats.Stats[0].CPU.UsageCoreNanoSeconds.Value, 10, 64)
	workingSet, _ = strconv.ParseUint(stats.Stats[0].Memory.WorkingSetBytes.Value, 10, 64)
	return cpu, workingSet
}

// checkLogs fails the test unless each container's log (by name, in the pod's log directory)
// contains its wanted text.
func (p *criPod) checkLogs(t *testing.T, want map[string]string) {
	t.Helper()
	for name, w := range want {
		b, _ := os.ReadFile(filepath.Join(p.logDir, name+".log"))
		if !strings.Contains(string(b), w) {
			t.Errorf("log of %s: %q, want %q", name, b, w)
		}
	}
}

// runLongAndQuick runs a pod of handler with two containers: "long" (sleeps) and "quick"
// (exits 5 at once); it checks that quick reports exit code 5 and long runs.
func runLongAndQuick(t *testing.T, ctx context.Context, handler string) (pod *criPod, long, quick string) {
	t.Helper()
	l := requireLab(t)
	pod = runPod(t, ctx, handler)
	long = pod.createContainer(t, ctx, "long", "sh", "-c", "echo long-started; exec sleep 600")
	quick = pod.createContainer(t, ctx, "quick", "sh", "-c", "echo quick-ran; exit 5")
	if out, err := l.crictl(ctx, "start", long, quick); err != nil {
		t.Fatalf("starting: %v\n%s", err, out)
	}
	if st, code := l.waitExited(t, ctx, quick); st != "CONTAINER_EXITED" || code != "5" {
		t.Errorf("the container that exits at once: %s, exit code %s; want CONTAINER_EXITED, 5", st, code)
	}
	if st, _ := l.containerState(t, ctx, long); st != "CONTAINER_RUNNING" {
		t.Errorf("the long container: %s", st)
	}
	return pod, long, quick
}

// stopAndCheckSignal stops a running CRI container (2 s grace) and checks that it reports
// the signal: exit code 143 (SIGTERM) or 137 (SIGKILL).
func (l *lab) stopAndCheckSignal(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	if _, err := l.crictl(ctx, "stop", "--timeout", "2", id); err != nil {
		t.Fatal(err)
	}
	if st, code := l.containerState(t, ctx, id); st != "CONTAINER_EXITED" || (code != "143" && code != "137") {
		t.Errorf("the stopped container: %s, exit code %s; want CONTAINER_EXITED, 143 (SIGTERM) or 137", st, code)
	}
}

// checkHostEtcRefused creates and starts a container mounting the host's /etc in the pod: it
// must be refused by hostPathVolumes, naming the mount.
func (p *criPod) checkHostEtcRefused(t *testing.T, ctx context.Context) {
	t.Helper()
	p.checkRefused(t, ctx, containerCfg("etc", hostMount("/host", "/etc", true), nil, nil),
		`refused by hostPathVolumes: mount \"/host\" comes from host path \"/etc\"`)
}

// checkRefused creates and starts a container of config cfg in the pod: create or start must
// fail with a message containing every want.
func (p *criPod) checkRefused(t *testing.T, ctx context.Context, cfg map[string]any, want ...string) {
	t.Helper()
	l := requireLab(t)
	out, err := l.crictl(ctx, "create", p.id, writeJSON(t, cfg), writeJSON(t, p.config))
	if err == nil {
		id := strings.TrimSpace(lastLine(out))
		p.ctrs = append(p.ctrs, id)
		out, err = l.crictl(ctx, "start", id)
	}
	if err == nil {
		t.Fatalf("container %v started: %s", cfg["metadata"], out)
	}
	wantAll(t, out, want...)
}

//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
)

// loadCycles is how many mixed cycles TestLoadMixedCycles runs: LAB_LOAD_CYCLES
// (make soak: 1000), else 160 (make test).
func loadCycles() int {
	if n, err := strconv.Atoi(os.Getenv("LAB_LOAD_CYCLES")); err == nil && n > 0 {
		return n
	}
	return 160
}

// loadWorkers is how many cycles run at a time.
const loadWorkers = 8

// inventory is what the lab's containerd has on the host, by kind: shim
// processes, mounts under its paths, cgroups of its k8s.io namespace,
// bundles, runc state, network namespaces and user namespace ranges.
func (l *lab) inventory() map[string][]string {
	inv := map[string][]string{}
	for pid, cmd := range l.shimProcesses() {
		inv["shim"] = append(inv["shim"], fmt.Sprintf("%d %s", pid, cmd))
	}
	mi, _ := os.ReadFile(l.MountInfo)
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (strings.HasPrefix(f[4], l.Run+"/") || strings.HasPrefix(f[4], l.ContainerdRoot+"/") || strings.HasPrefix(f[4], l.State+"/")) {
			inv["mount"] = append(inv["mount"], f[4])
		}
	}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + criNamespace)
	for _, root := range roots {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if e.IsDir() {
				inv["cgroup"] = append(inv["cgroup"], filepath.Join(root, e.Name()))
			}
		}
	}
	for kind, dir := range map[string]string{
		"bundle": filepath.Join(l.State, "io.containerd.runtime.v2.task", criNamespace),
		"runc":   filepath.Join(l.RuncRoot, criNamespace),
		"netns":  filepath.Join(l.State, "io.containerd.grpc.v1.cri", "netns"),
	} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			inv[kind] = append(inv[kind], e.Name())
		}
	}
	if dir := l.env["LAB_SHIM_SOCKET_DIR"]; dir != "" {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			inv["socket"] = append(inv["socket"], e.Name())
		}
	}
	for _, e := range l.usernsEntries() {
		inv["userns"] = append(inv["userns"], e.Key+" "+e.Range.String())
	}
	for _, v := range inv {
		sort.Strings(v)
	}
	return inv
}

// keepsInventory fails the test if, once every cleanup registered after this
// call has run, the lab holds anything it did not hold before.
func (l *lab) keepsInventory(t *testing.T) {
	t.Helper()
	before := l.inventory()
	t.Cleanup(func() {
		var diff []string
		deadline := time.Now().Add(10 * time.Second)
		for {
			if diff = inventoryDiff(before, l.inventory()); len(diff) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if len(diff) > 0 {
			t.Errorf("left behind:\n  %s", strings.Join(diff, "\n  "))
		}
	})
}

// inventoryDiff lists what after holds that before did not.
func inventoryDiff(before, after map[string][]string) []string {
	var out []string
	for kind, items := range after {
		had := map[string]bool{}
		for _, it := range before[kind] {
			had[it] = true
		}
		for _, it := range items {
			if !had[it] {
				out = append(out, kind+": "+it)
			}
		}
	}
	sort.Strings(out)
	return out
}

// shimResources is a shim process's open file descriptors and proportional
// set size (kB).
func shimResources(t *testing.T, pid int) (fds int, pssKB int) {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			pssKB, _ = strconv.Atoi(f[1])
		}
	}
	return len(entries), pssKB
}

// cycleKinds are the mixed cycles, in turn.
var cycleKinds = []string{"allowed", "refused-pod", "refused-container", "killed"}

// TestLoadMixedCycles: allowed pods (a container, an allowed exec and a
// refused one), refused pods, refused containers and killed containers,
// loadWorkers at a time through CRI, while one long-lived pod takes an exec
// from every cycle. Afterwards: nothing the cycles made is left (the lab's
// inventory is as before), the long-lived shim's descriptors and memory did
// not grow, and the audit log has exactly one well-formed line per
// decision.
func TestLoadMixedCycles(t *testing.T) {
	l := requireLab(t)
	n := loadCycles()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*3*time.Second+5*time.Minute)
	defer cancel()
	// checked last (cleanups run in reverse): after the long-lived pod is removed
	l.keepsInventory(t)

	long := runPod(t, ctx, "hardened")
	longCtr := long.startContainer(t, ctx, containerCfg("long", nil, nil, nil))
	shims := l.shimProcessesFor(long.id)
	if len(shims) != 1 {
		t.Fatalf("shim processes of the long-lived pod: %v", shims)
	}
	var (
		mu         sync.Mutex
		failures   []string
		pods       = map[string]string{} // pod name -> kind
		longExecs  int
		fds0, pss0 int
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	cycle := func(i int) {
		kind := cycleKinds[i%len(cycleKinds)]
		name := fmt.Sprintf("load-%d-%s-%d", i, kind, time.Now().UnixNano()%1e6)
		mu.Lock()
		pods[name] = kind
		mu.Unlock()
		cfg := podConfig(name, filepath.Join(l.Run, "pod-logs", name))
		os.MkdirAll(filepath.Join(l.Run, "pod-logs", name), 0o755)
		defer os.RemoveAll(filepath.Join(l.Run, "pod-logs", name))
		if out, err := l.crictl(ctx, "exec", longCtr, "true"); err != nil {
			fail("cycle %d: exec in the long-lived pod: %v %s", i, err, out)
		} else {
			mu.Lock()
			longExecs++
			mu.Unlock()
		}
		if kind == "refused-pod" {
			cfg["linux"] = map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}}
			if out, err := l.crictl(ctx, "runp", "--runtime", "hardened", writeJSON(t, cfg)); err == nil || !strings.Contains(out, "refused by hostNamespaces") {
				fail("cycle %d: a hostNetwork pod: %v %s", i, err, out)
			}
			return
		}
		out, err := l.crictl(ctx, "runp", "--runtime", "hardened", writeJSON(t, cfg))
		if err != nil {
			fail("cycle %d: runp: %v %s", i, err, out)
			return
		}
		pod := strings.TrimSpace(lastLine(out))
		defer func() {
			l.crictl(ctx, "stopp", pod)
			if out, err := l.crictl(ctx, "rmp", pod); err != nil {
				fail("cycle %d: rmp: %v %s", i, err, out)
			}
		}()
		ccfg := containerCfg("app", nil, nil, nil)
		if kind == "refused-container" {
			ccfg = containerCfg("etc", hostMount("/host", "/etc", true), nil, nil)
		}
		out, err = l.crictl(ctx, "create", pod, writeJSON(t, ccfg), writeJSON(t, cfg))
		if err == nil {
			id := strings.TrimSpace(lastLine(out))
			out, err = l.crictl(ctx, "start", id)
			if err == nil && kind == "refused-container" {
				fail("cycle %d: the hostPath /etc container started", i)
				return
			}
			if err == nil && kind == "allowed" {
				if out, err := l.crictl(ctx, "exec", id, "true"); err != nil {
					fail("cycle %d: allowed exec: %v %s", i, err, out)
				}
				if err := refusedExecErr(ctx, id); err != nil {
					fail("cycle %d: %v", i, err)
				}
			}
			if err == nil && kind == "killed" {
				if out, err := l.crictl(ctx, "stop", "-t", "0", id); err != nil {
					fail("cycle %d: kill: %v %s", i, err, out)
				}
			}
		}
		if kind == "refused-container" {
			if err == nil || !strings.Contains(out, "refused by hostPathVolumes") {
				fail("cycle %d: the hostPath /etc container: %v %s", i, err, out)
			}
		} else if err != nil {
			fail("cycle %d: create/start: %v %s", i, err, out)
		}
	}
	run := func(from, to int) {
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < loadWorkers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					cycle(i)
				}
			}()
		}
		for i := from; i < to; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	// warm-up, then the long-lived shim's baseline
	warm := 2 * loadWorkers
	run(0, warm)
	fds0, pss0 = shimResources(t, shims[0])
	start := time.Now()
	run(warm, n)
	elapsed := time.Since(start)
	fds1, pss1 := shimResources(t, shims[0])
	t.Logf("%d cycles (%d measured) in %s, %d at a time: %.1f cycles/s; long-lived shim: fds %d -> %d, Pss %d -> %d kB after %d execs",
		n, n-warm, elapsed.Round(time.Second), loadWorkers, float64(n-warm)/elapsed.Seconds(), fds0, fds1, pss0, pss1, longExecs)
	for _, f := range failures {
		t.Error(f)
	}
	// a leak per cycle would show as one descriptor per cycle; ±4 is containerd's
	// connections coming and going
	if fds1 > fds0+4 {
		t.Errorf("the long-lived shim's open descriptors grew from %d to %d", fds0, fds1)
	}
	if pss1 > pss0+pss0/4+2048 {
		t.Errorf("the long-lived shim's Pss grew from %d to %d kB", pss0, pss1)
	}

	// one well-formed audit line per decision
	byPod := map[string][]audit.Record{}
	recs := l.allAuditRecords(t)
	for _, r := range recs {
		if _, ok := pods[r.Pod]; ok {
			byPod[r.Pod] = append(byPod[r.Pod], r)
		}
	}
	want := map[string][]string{
		"allowed":           {"create allowed pod sandbox", "create allowed container", "exec allowed exec", "exec refused exec"},
		"refused-pod":       {"start refused pod sandbox"},
		"refused-container": {"create allowed pod sandbox", "create refused container"},
		"killed":            {"create allowed pod sandbox", "create allowed container"},
	}
	bad := 0
	for name, kind := range pods {
		var got []string
		for _, r := range byPod[name] {
			what := strings.Fields(r.Subject)[0]
			if what == "pod" {
				what = "pod sandbox"
			}
			got = append(got, fmt.Sprintf("%s %s %s", r.Event, r.Decision, what))
		}
		sort.Strings(got)
		w := append([]string(nil), want[kind]...)
		sort.Strings(w)
		if strings.Join(got, "|") != strings.Join(w, "|") {
			bad++
			if bad <= 5 {
				t.Errorf("pod %s (%s): audit records %q, want %q", name, kind, got, w)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d cycles have not exactly one audit line per decision", bad, len(pods))
	}
}

// refusedExecErr runs a privileged exec (CAP_SYS_ADMIN) in a CRI container
// through containerd: nil when it is refused.
func refusedExecErr(ctx context.Context, id string) error {
	return escalatingExecRefused(ctx, criNamespace, id)
}

//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
)

const (
	probeImage     = "hardened.test/probe:latest"
	webserverImage = "hardened.test/webserver:latest"
)

// probeReport is what the probe prints.
type probeReport struct {
	Status   map[string]string `json:"status"`
	Attempts []probeAttempt    `json:"attempts"`
}

type probeAttempt struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Errno  string `json:"errno"`
	Detail string `json:"detail"`
}

// runToExit runs a container in pod p until it exits and returns its stdout.
func (p *criPod) runToExit(t *testing.T, ctx context.Context, cfg map[string]any) string {
	t.Helper()
	l := requireLab(t)
	out, err := l.crictl(ctx, "create", p.id, writeJSON(t, cfg), writeJSON(t, p.config))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(lastLine(out))
	p.ctrs = append(p.ctrs, id)
	if out, err := l.crictl(ctx, "start", id); err != nil {
		t.Fatalf("start: %s", out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _ := l.crictl(ctx, "inspect", "-o", "go-template", "--template", "{{.status.state}}", id)
		if strings.Contains(st, "CONTAINER_EXITED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s did not exit: %s", id, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// crictl logs reads the CRI log file; keep stdout lines only.
	logPath := filepath.Join(p.logDir, cfg["log_path"].(string))
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		// CRI log format: <time> <stream> <tag> <message>
		parts := strings.SplitN(line, " ", 4)
		if len(parts) == 4 && parts[1] == "stdout" {
			stdout.WriteString(parts[3])
			if parts[2] == "F" {
				stdout.WriteString("\n")
			}
		}
	}
	if _, err := l.crictl(ctx, "rm", id); err != nil {
		t.Error(err)
	}
	return stdout.String()
}

// runProbe runs the probe in a fresh pod of handler and returns its report.
func runProbe(t *testing.T, ctx context.Context, handler string, linux map[string]any, args ...string) probeReport {
	t.Helper()
	l := requireLab(t)
	if _, err := l.crictl(ctx, "pull", probeImage); err != nil {
		t.Fatal(err)
	}
	pod := runPod(t, ctx, handler)
	if linux == nil {
		linux = map[string]any{}
	}
	cfg := map[string]any{
		"metadata": map[string]any{"name": "probe"},
		"image":    map[string]any{"image": probeImage},
		"args":     args,
		"log_path": "probe.log",
		"linux":    linux,
	}
	out := pod.runToExit(t, ctx, cfg)
	var r probeReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("probe output under %s is not a report (%v):\n%s", handler, err, out)
	}
	return r
}

func (r probeReport) attempt(name string) (probeAttempt, bool) {
	for _, a := range r.Attempts {
		if a.Name == name {
			return a, true
		}
	}
	return probeAttempt{}, false
}

// runtimeDefault asks CRI for containerd's RuntimeDefault seccomp profile.
var runtimeDefault = map[string]any{"security_context": map[string]any{"seccomp": map[string]any{"profile_type": 0}}}

// TestHardeningProbe runs the probe under the hardened class and under the
// stock runc shim with RuntimeDefault, in the same run, asserts every
// outcome under hardened and writes the side-by-side table.
func TestHardeningProbe(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	hardened := runProbe(t, ctx, "hardened", nil)
	stock := runProbe(t, ctx, "runc", runtimeDefault)
	nonRoot := map[string]any{"security_context": map[string]any{"run_as_user": map[string]any{"value": 65534}}}
	hardenedNR := runProbe(t, ctx, "hardened", nonRoot, "-only", "setuid-gain")
	stockNR := runProbe(t, ctx, "runc", map[string]any{"security_context": map[string]any{
		"run_as_user": map[string]any{"value": 65534}, "seccomp": map[string]any{"profile_type": 0}}}, "-only", "setuid-gain")
	// the same class on the other backends: gVisor's kernel, and containerd's runc shim as
	// the delegate
	gvisor := runProbe(t, ctx, gvisorHandler, nil)
	gvisorNR := runProbe(t, ctx, gvisorHandler, nonRoot, "-only", "setuid-gain")
	delegated := runProbe(t, ctx, delegateHandler, nil)
	delegatedNR := runProbe(t, ctx, delegateHandler, nonRoot, "-only", "setuid-gain")

	// Status: the hardened class's capabilities, no_new_privs, seccomp filter.
	wantStatus := map[string]string{
		"CapEff": "00000000000005fb", "CapBnd": "00000000000005fb", "CapAmb": "0000000000000000",
		"NoNewPrivs": "1", "Seccomp": "2",
	}
	for k, v := range wantStatus {
		if got := hardened.Status[k]; got != v {
			t.Errorf("hardened /proc/self/status %s = %q, want %q", k, got, v)
		}
	}
	if stock.Status["Seccomp"] != "2" {
		t.Errorf("the stock run has no seccomp filter (Seccomp %q): RuntimeDefault was not applied", stock.Status["Seccomp"])
	}

	// Every attempt is blocked under hardened, with the errno the mechanism
	// that blocks it returns; io_uring-fallback is the real program that must
	// keep working.
	want := map[string][]string{
		"unshare-userns-mount": {"EPERM"},
		"cgroup-release-agent": {"EPERM", "EROFS", "EACCES", "ENOENT"},
		"fsopen":               {"EPERM"},
		"io_uring_setup":       {"ENOSYS"},
		"userfaultfd":          {"EPERM"},
		"bpf":                  {"EPERM"},
		"perf_event_open":      {"EPERM"},
		"keyctl":               {"EPERM"},
		"add_key":              {"EPERM"},
		"ptrace-sibling":       {"EPERM"},
		"af-packet":            {"EPERM"},
		"af-vsock":             {"EPERM"},
		"af-alg":               {"EPERM"},
		"sysrq-trigger":        {"EROFS", "EACCES", "EPERM", "ENOENT"},
		"proc-kcore":           {"ENOENT", "EPERM", "EACCES", ""},
		"mknod-block":          {"EPERM", "EROFS"},
		"open_by_handle_at":    {"EPERM"},
		"write-rootfs":         {"EROFS"},
	}
	for name, errnos := range want {
		a, ok := hardened.attempt(name)
		if !ok {
			t.Errorf("probe did not report %s", name)
			continue
		}
		if a.OK {
			t.Errorf("hardened: %s succeeded (%s)", name, a.Detail)
			continue
		}
		if !slices.Contains(errnos, a.Errno) {
			t.Errorf("hardened: %s failed with %q (%s), want one of %v", name, a.Errno, a.Detail, errnos)
		}
	}
	if a, ok := hardened.attempt("host-root"); !ok || a.OK || !strings.Contains(a.Detail, "container root is host uid ") {
		t.Errorf("hardened: container root must not be host root: %+v", a)
	}
	if a, ok := stock.attempt("host-root"); !ok || !a.OK {
		t.Errorf("stock runc: container root is host root, the probe says otherwise: %+v", a)
	}
	if a, ok := hardened.attempt("io_uring-fallback"); !ok || !a.OK || !strings.Contains(a.Detail, "fell back") {
		t.Errorf("hardened: io_uring-fallback %+v: a program that falls back on ENOSYS must keep working", a)
	}
	if a, ok := hardenedNR.attempt("setuid-gain"); !ok || a.OK {
		t.Errorf("hardened: a setuid binary gained privilege: %+v", a)
	}

	// Hardened blocks everything the stock runtime blocks.
	for _, a := range stock.Attempts {
		if h, ok := hardened.attempt(a.Name); ok && !a.OK && h.OK && a.Name != "io_uring-fallback" {
			t.Errorf("%s is blocked by runc RuntimeDefault (%s) but not by hardened", a.Name, a.Errno)
		}
	}
	// The class is never weaker on another backend: gVisor blocks every attempt the runc
	// backend blocks but for what gVisor answers from its own kernel (gvisorOwn); the
	// delegate runs exactly the hardened spec, so every outcome is the runc backend's.
	for _, b := range []struct {
		name         string
		report, nonR probeReport
		same         bool
	}{{gvisorHandler, gvisor, gvisorNR, false}, {delegateHandler, delegated, delegatedNR, true}} {
		for _, h := range hardened.Attempts {
			o, ok := b.report.attempt(h.Name)
			if h.Name == "setuid-gain" {
				h, _ = hardenedNR.attempt(h.Name)
				o, ok = b.nonR.attempt(h.Name)
			}
			own, isOwn := gvisorOwn[h.Name]
			switch {
			case !ok:
				t.Errorf("%s: the probe did not report %s", b.name, h.Name)
			case !b.same && isOwn:
				if !own.match(o) {
					t.Errorf("%s: %s %+v, want gVisor's own answer: %s", b.name, h.Name, o, own.note)
				}
			case h.Name == "io_uring-fallback":
				if !o.OK {
					t.Errorf("%s: io_uring-fallback %+v: a program that falls back must keep working", b.name, o)
				}
			case !h.OK && o.OK:
				t.Errorf("%s: %s succeeded (%s), blocked by the runc backend (%s)", b.name, h.Name, o.Detail, h.Errno)
			case b.same && h.Name != "host-root" && (h.OK != o.OK || h.Errno != o.Errno):
				t.Errorf("%s: %s %+v, the runc backend %+v: the delegate must run the same spec", b.name, h.Name, o, h)
			}
		}
		for k, v := range wantStatus {
			if b.same && b.report.Status[k] != v {
				t.Errorf("%s: /proc/self/status %s = %q, want %q", b.name, k, b.report.Status[k], v)
			}
		}
	}

	// The side-by-side table for the README.
	var rows []string
	cell := func(a probeAttempt, ok bool) string {
		switch {
		case !ok:
			return "not run"
		case a.OK:
			return "allowed"
		case a.Errno != "":
			return "blocked (" + a.Errno + ")"
		default:
			return "blocked"
		}
	}
	names := make([]string, 0, len(hardened.Attempts))
	for _, a := range hardened.Attempts {
		names = append(names, a.Name)
	}
	sort.Strings(names)
	columns := []struct{ all, nonRoot probeReport }{{hardened, hardenedNR}, {gvisor, gvisorNR}, {delegated, delegatedNR}, {stock, stockNR}}
	for _, n := range names {
		row := "| `" + n + "` |"
		for i, c := range columns {
			a, ok := c.all.attempt(n)
			if n == "setuid-gain" {
				a, ok = c.nonRoot.attempt(n)
			}
			cl := cell(a, ok)
			if n == "io_uring-fallback" { // a real program: did it keep working?
				if cl = "fails (" + a.Errno + ": no fallback)"; a.OK {
					cl = "works (" + a.Detail + ")"
				}
			}
			if own, isOwn := gvisorOwn[n]; i == 1 && isOwn {
				cl += ": " + own.note
			}
			row += " " + cl + " |"
		}
		rows = append(rows, row)
	}
	status := "| `/proc/self/status` |"
	for _, c := range columns {
		status += fmt.Sprintf(" CapEff %s, NoNewPrivs %s, Seccomp %s |", c.all.Status["CapEff"], c.all.Status["NoNewPrivs"], c.all.Status["Seccomp"])
	}
	table := "| attempt | hardened class (runc) | hardened-gvisor (runsc) | hardened-delegate (containerd-shim-runc-v2 as delegate) | stock runc shim + RuntimeDefault |\n|---|---|---|---|---|\n" + status + "\n" + strings.Join(rows, "\n") + "\n"
	path := filepath.Join(l.Dir, "reports", "probe-comparison.md")
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("probe comparison (%s):\n%s", path, table)
}

// gvisorOwn are the probe's attempts that gVisor answers from its own kernel, differently
// from the runc backend, with the answer expected and why it is not a way out.
var gvisorOwn = map[string]gvisorAnswer{
	"sysrq-trigger":     {ok: true, note: "gVisor's own /proc/sysrq-trigger; a write reaches only gVisor's kernel, which ignores it"},
	"host-root":         {ok: true, note: "the probe sees gVisor's kernel's identity map; on the host the sandbox runs as the pod's IDs, 2³¹ up (TestGVisorCRIPod)"},
	"io_uring-fallback": {errno: "EPERM", note: "runsc --oci-seccomp answers every denied call with EPERM, ignoring the profile's errnoRet (ENOSYS here): a program that falls back only on ENOSYS breaks"},
}

// gvisorAnswer is an outcome gVisor gives from its own kernel, and why.
type gvisorAnswer struct {
	ok    bool
	errno string
	note  string
}

func (own gvisorAnswer) match(a probeAttempt) bool {
	return a.OK == own.ok && (own.ok || a.Errno == own.errno)
}

// TestRealProgramsKeepWorking: a busybox shell pipeline and a static Go HTTP
// server serving on a pod port run under the default hardened class.
func TestRealProgramsKeepWorking(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	pod := runPod(t, ctx, "hardened")
	t.Run("busybox pipeline", func(t *testing.T) {
		out := pod.runToExit(t, ctx, map[string]any{
			"metadata": map[string]any{"name": "pipeline"},
			"image":    map[string]any{"image": busybox},
			"command": []string{"sh", "-c", "seq 1 500 | sort -rn | head -n 3 | tr '\\n' ' ' > /tmp/out && " +
				"cat /tmp/out && grep -c . /etc/passwd >/dev/null && echo pipeline-ok"},
			"log_path": "pipeline.log",
			"linux":    map[string]any{},
		})
		if !strings.Contains(out, "500 499 498") || !strings.Contains(out, "pipeline-ok") {
			t.Fatalf("pipeline output %q", out)
		}
	})
	t.Run("static Go HTTP server on a pod port", func(t *testing.T) {
		if _, err := l.crictl(ctx, "pull", webserverImage); err != nil {
			t.Fatal(err)
		}
		out, err := l.crictl(ctx, "create", pod.id, writeJSON(t, map[string]any{
			"metadata": map[string]any{"name": "web"},
			"image":    map[string]any{"image": webserverImage},
			"log_path": "web.log",
			"linux":    map[string]any{},
		}), writeJSON(t, pod.config))
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimSpace(lastLine(out))
		pod.ctrs = append(pod.ctrs, id)
		if out, err := l.crictl(ctx, "start", id); err != nil {
			t.Fatalf("start: %s", out)
		}
		ip, err := l.crictl(ctx, "inspectp", "-o", "go-template", "--template", "{{.status.network.ip}}", pod.id)
		if err != nil || strings.TrimSpace(ip) == "" {
			t.Fatalf("pod IP: %q %v", ip, err)
		}
		url := "http://" + strings.TrimSpace(ip) + ":" + webserverPort
		var body string
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
			if err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					body = string(b)
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v", url, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if body == "" {
			t.Fatalf("empty response from %s", url)
		}
		l.stopRemove(t, ctx, id)
	})
}

// webserverPort is where the webserver image listens (its default command).
const webserverPort = "8080"

// TestSandboxPaysOnlyForWhatItUses: a hardened pod's sandbox (pause)
// container has a read-only root and no writable tmpfs paths (it never
// writes), and keeps everything that confines it: seccomp, no_new_privs,
// read-only /sys, its own user namespace. Its app container still gets the
// class's writable paths.
func TestSandboxPaysOnlyForWhatItUses(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	pod := runPod(t, ctx, "hardened")
	app := pod.createContainer(t, ctx, "app", "sleep", "600")
	if _, err := l.crictl(ctx, "start", app); err != nil {
		t.Fatal(err)
	}
	out, err := l.crictl(ctx, "inspectp", "-o", "go-template", "--template", "{{.info.pid}}", pod.id)
	if err != nil {
		t.Fatal(err)
	}
	sandbox, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || sandbox <= 0 {
		t.Fatalf("sandbox pid %q: %v", out, err)
	}
	// mounts of a process by mount point (the last one at each)
	mounts := func(pid int) map[string]*mountinfo.Info {
		f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", pid))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		infos, err := mountinfo.GetMountsFromReader(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*mountinfo.Info{}
		for _, i := range infos {
			m[i.Mountpoint] = i
		}
		return m
	}
	readOnly := func(i *mountinfo.Info) bool { return i != nil && slices.Contains(strings.Split(i.Options, ","), "ro") }
	tmpfs := func(i *mountinfo.Info) bool { return i != nil && i.FSType == "tmpfs" }
	sm, am := mounts(sandbox), mounts(containerPid(t, ctx, app))
	if !readOnly(sm["/"]) {
		t.Errorf("sandbox root is not read-only: %+v", sm["/"])
	}
	for _, p := range []string{"/tmp", "/run", "/var/run"} {
		if tmpfs(sm[p]) {
			t.Errorf("sandbox has a writable tmpfs at %s: %+v", p, sm[p])
		}
	}
	if !tmpfs(am["/tmp"]) || !tmpfs(am["/run"]) {
		t.Errorf("app container lacks the class's writable paths: /tmp %+v, /run %+v", am["/tmp"], am["/run"])
	}
	if !readOnly(sm["/sys"]) {
		t.Errorf("sandbox /sys is not read-only: %+v", sm["/sys"])
	}
	status := readFile(t, fmt.Sprintf("/proc/%d/status", sandbox))
	for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(status, want) {
			t.Errorf("sandbox status lacks %q", want)
		}
	}
	if self, err := os.Readlink("/proc/self/ns/user"); err != nil {
		t.Fatal(err)
	} else if own, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", sandbox)); err != nil || own == self {
		t.Errorf("sandbox user namespace %q (%v), the host's is %q", own, err, self)
	}
	l.stopRemove(t, ctx, app)
}

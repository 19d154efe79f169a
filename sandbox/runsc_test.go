package sandbox

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cgroupsv1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroupsv2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

func TestSplitRuncArgs(t *testing.T) {
	// what go-runc passes (Runc.args()) before the subcommand
	global, cmd, rest := splitRuncArgs([]string{"--root", "/run/r", "--log", "/b/log.json", "--log-format", "json", "--systemd-cgroup",
		"create", "--bundle", "/b", "--pid-file", "/b/init.pid", "--console-socket", "/s.sock", "c1"})
	if want := []string{"--root", "/run/r", "--log", "/b/log.json", "--log-format", "json", "--systemd-cgroup"}; !slices.Equal(global, want) {
		t.Errorf("global %q, want %q", global, want)
	}
	if cmd != "create" {
		t.Errorf("command %q", cmd)
	}
	bundle, pidFile, id, terminal := createArgs(rest)
	if bundle != "/b" || pidFile != "/b/init.pid" || id != "c1" || !terminal {
		t.Errorf("createArgs: bundle %q pid-file %q id %q terminal %v", bundle, pidFile, id, terminal)
	}
	if b, p, i, term := createArgs([]string{"--bundle=/x", "--pid-file=/x/p", "c2"}); b != "/x" || p != "/x/p" || i != "c2" || term {
		t.Errorf("createArgs with =: %q %q %q %v", b, p, i, term)
	}
}

func TestRunscSettingsArgs(t *testing.T) {
	s := RunscSettings{Binary: "runsc", Platform: "ptrace", Flags: map[string]string{"net-raw": "false", "directfs": "true"}}
	want := []string{"--platform=ptrace", "--oci-seccomp", "--directfs=true", "--net-raw=false"}
	if got := s.args(); !slices.Equal(got, want) {
		t.Errorf("args %q, want %q (platform and oci-seccomp first, flags sorted)", got, want)
	}
}

// Classes whose runsc settings differ get different wrappers, so a shared root never mixes
// their flags; the same settings share one.
func TestWrapperPerSettings(t *testing.T) {
	root := t.TempDir()
	class := func(platform string, flags map[string]string) *runtimeclass.Class {
		c := &runtimeclass.Class{}
		c.Runtime, c.BinaryName, c.Root = runtimeclass.BackendRunsc, "runsc", root
		c.Runsc.Platform, c.Runsc.Flags = platform, flags
		return c
	}
	a, _ := wrapperPath(class("systrap", nil))
	b, _ := wrapperPath(class("ptrace", nil))
	c, _ := wrapperPath(class("systrap", map[string]string{"net-raw": "false"}))
	a2, _ := wrapperPath(class("systrap", nil))
	if a == b || a == c || b == c || a != a2 {
		t.Errorf("wrapper paths %q %q %q %q", a, b, c, a2)
	}
	if err := (runsc{}).Prepare(class("ptrace", map[string]string{"net-raw": "false"})); err != nil {
		t.Fatal(err)
	}
	w, _ := wrapperPath(class("ptrace", map[string]string{"net-raw": "false"}))
	if !IsRunscWrapper(w) {
		t.Errorf("%s is not recognised as the wrapper", w)
	}
	s, err := loadSettings(w)
	if err != nil || s.Platform != "ptrace" || s.Flags["net-raw"] != "false" {
		t.Errorf("settings beside the wrapper: %+v %v", s, err)
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	if target, _ := os.Readlink(w); target != exe {
		t.Errorf("wrapper -> %q, want the running executable %q", target, exe)
	}
	if o := (runsc{}).RuncOptions(class("ptrace", map[string]string{"net-raw": "false"})); o.BinaryName != w || o.Root != root {
		t.Errorf("runc options %+v", o)
	}
}

func TestIsSubcontainer(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]bool{
		`{"annotations":{"io.kubernetes.cri.container-type":"container"}}`: true,
		`{"annotations":{"io.kubernetes.cri.container-type":"sandbox"}}`:   false,
		`{}`: false,
	} {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := isSubcontainer(dir); got != want {
			t.Errorf("%s: %v, want %v", body, got, want)
		}
	}
	if isSubcontainer(filepath.Join(dir, "absent")) || isSubcontainer("") {
		t.Error("a bundle without a spec is a subcontainer")
	}
}

func TestRunscFlagRefused(t *testing.T) {
	for _, name := range []string{"platform", "oci-seccomp", "root", "log", "allow-flag-override", "rootless", "ignore-cgroups", "TESTONLY-x", "unsafe-foo"} {
		if runtimeclass.RunscFlagRefused(name) == "" {
			t.Errorf("flag %q is not refused", name)
		}
	}
	for _, name := range []string{"net-raw", "directfs", "overlay2", "network"} {
		if why := runtimeclass.RunscFlagRefused(name); why != "" {
			t.Errorf("flag %q refused: %s", name, why)
		}
	}
	if !strings.Contains(runtimeclass.RunscFlagRefused("allow-flag-override"), "annotations") {
		t.Error("allow-flag-override's reason does not name the annotations")
	}
}

// Check refuses a flag the class's runsc binary does not list (`runsc flags`), naming it.
func TestCheckRunscFlags(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "runsc")
	script := "#!/bin/sh\n[ \"$1\" = flags ] || exit 2\nprintf '  -net-raw\\n    \\tenable raw sockets\\n  -directfs\\n    \\tdirect fs (default true)\\n'\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &runtimeclass.Class{}
	c.Runtime, c.BinaryName, c.Root, c.Runsc.Platform = runtimeclass.BackendRunsc, fake, dir, "systrap"
	c.Userns.StateDir = filepath.Join(dir, "userns") // where the answer is kept
	c.Runsc.Flags = map[string]string{"net-raw": "false", "directfs": "false"}
	if err := (runsc{}).Check(c); err != nil {
		t.Errorf("known flags refused: %v", err)
	}
	c.Runsc.Flags = map[string]string{"net-rwa": "false"}
	if err := (runsc{}).Check(c); err == nil || !strings.Contains(err.Error(), `"runsc.flags.net-rwa"`) || !strings.Contains(err.Error(), "--net-rwa") {
		t.Errorf("an unknown flag: %v", err)
	}
	// the answers are kept on disk: a shim started later does not run `runsc flags` again
	if kept, _ := filepath.Glob(filepath.Join(dir, "userns", "support-runsc-flags-*")); len(kept) != 2 {
		t.Errorf("kept answers %q, want one per set of flag names", kept)
	}
	c.BinaryName = filepath.Join(dir, "absent")
	if err := (runsc{}).Check(c); err == nil {
		t.Error("a missing runsc binary passed the check")
	}
}

func TestRunscMetrics(t *testing.T) {
	var ev runscEvent
	in := `{"type":"stats","id":"c1","data":{"cpu":{"usage":{"kernel":2000,"user":3000,"total":5000,"percpu":[5000]}},"memory":{"cache":7,"usage":{"limit":100,"usage":42,"max":50,"failcnt":1}},"pids":{"current":3,"limit":10}}}`
	if err := json.Unmarshal([]byte(in), &ev); err != nil {
		t.Fatal(err)
	}
	switch m := runscMetrics(&ev).(type) {
	case *cgroupsv1.Metrics:
		if m.CPU.Usage.Total != 5000 || m.CPU.Usage.User != 3000 || m.Memory.Usage.Usage != 42 || m.Memory.Usage.Limit != 100 || m.Memory.Cache != 7 || m.Pids.Current != 3 {
			t.Errorf("v1 metrics %+v", m)
		}
	case *cgroupsv2.Metrics:
		if m.CPU.UsageUsec != 5 || m.Memory.Usage != 42 || m.Memory.UsageLimit != 100 || m.Pids.Current != 3 {
			t.Errorf("v2 metrics %+v", m)
		}
	default:
		t.Fatalf("metrics of type %T", m)
	}
}

func TestRunscUnsupported(t *testing.T) {
	if err := (runsc{}).Unsupported("pause", true); err == nil || !strings.Contains(err.Error(), "every container of the pod") {
		t.Errorf("pause of an app container: %v", err)
	}
	for _, tc := range []struct {
		op  string
		app bool
	}{{"pause", false}, {"resume", false}, {"kill", true}} {
		if err := (runsc{}).Unsupported(tc.op, tc.app); err != nil {
			t.Errorf("%s (app %v): %v", tc.op, tc.app, err)
		}
	}
	if err := (runc{}).Unsupported("pause", true); err != nil {
		t.Errorf("runc: %v", err)
	}
}

func TestRunscGaps(t *testing.T) {
	spec := &specs.Spec{Linux: &specs.Linux{Sysctl: map[string]string{"net.ipv4.ip_unprivileged_port_start": "80", "fs.nr_open": "1024", "net.ipv4.ping_group_range": "0 2147483647"}, RootfsPropagation: "rslave",
		MaskedPaths: []string{"/proc/kcore", "/sys/firmware", "/bin/ls"}, ReadonlyPaths: []string{"/proc/sys", "/tmp"}},
		Mounts: []specs.Mount{{Destination: "/data", Options: []string{"rbind", "rshared"}}, {Destination: "/ok", Options: []string{"rbind", "rprivate"}}}}
	var fields []string
	for _, v := range (runsc{}).Gaps(spec) {
		if v.Check != BackendCheckID || v.Reason == "" || v.Hint == "" {
			t.Errorf("violation %+v", v)
		}
		fields = append(fields, v.Field)
	}
	want := []string{`linux.sysctl["net.ipv4.ip_unprivileged_port_start"]`, "linux.maskedPaths", "linux.readonlyPaths", "linux.rootfsPropagation", `mounts["/data"].options`}
	if !slices.Equal(fields, want) {
		t.Errorf("gaps %q, want %q", fields, want)
	}
	if vs := (runc{}).Gaps(spec); vs != nil {
		t.Errorf("runc gaps %v", vs)
	}
}

// A stand-in is recognised only as a child of the wrapper's parent (the shim) running the
// shim's executable: a process elsewhere that names itself like one is not.
func TestOwnStandIn(t *testing.T) {
	// this process: a child of its parent, running its own executable
	if !ownStandIn(os.Getpid()) {
		t.Error("a child of the wrapper's parent running the same executable is not recognised")
	}
	// a child of this process running another executable: the wrong parent and program
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sleeper.Process.Kill()
		sleeper.Wait()
	}()
	if ownStandIn(sleeper.Process.Pid) {
		t.Error("a process that is not the shim's child is taken for a stand-in")
	}
	if findStandIn("") != 0 || findStandIn("no-such-container") != 0 {
		t.Error("a stand-in found for no container")
	}
}

//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	apitypes "github.com/containerd/containerd/api/types"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/sandbox"
)

// The compatibility tests: what must hold under every containerd the shim
// supports. integration/lab/compat.sh runs them (with a chosen set of the
// other tests) against containerd v2.0.14, v2.1.9, v2.2.9, v2.3.7 and
// v2.4.2, each started beside the lab's; the lab's own integration run
// covers its containerd with them too.

// introspectsOtherRuntimes: the CRI of containerd 2.0 and 2.1 asks only
// runc-type runtimes for their features (internal/cri/server/service.go,
// introspectRuntimeFeatures); from 2.2 on it asks every runtime's shim
// (-info).
func introspectsOtherRuntimes(version string) bool {
	return !strings.HasPrefix(version, "v2.0.") && !strings.HasPrefix(version, "v2.1.")
}

// TestCompatDaemonVersion: the daemon under test is the version the lab says.
func TestCompatDaemonVersion(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	want := l.envValue(t, "LAB_CONTAINERD_VERSION")
	v, err := client.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// built from the module proxy: "2.0.14+unknown"
	if v.Version != strings.TrimPrefix(want, "v") && !strings.HasPrefix(v.Version, strings.TrimPrefix(want, "v")+"+") {
		t.Fatalf("containerd at %s is %s, want %s", l.Address, v.Version, want)
	}
	t.Logf("containerd %s (%s)", v.Version, v.Revision)
}

// TestCompatRuntimeInfo: the shim answers -info whatever runtime options the
// daemon sends (none, a ConfigPath, runc options) with runc's features and
// the options as sent; CRI reports the handler's features like runc's where
// the daemon asks a non-runc shim at all.
func TestCompatRuntimeInfo(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	for _, tc := range []struct {
		name    string
		args    []string
		options string
	}{
		{"no options", nil, "null"},
		{"ConfigPath", []string{"--runtime-config-path", l.FileClassConfig}, l.FileClassConfig},
		// ctr sends runc options only to io.containerd.runc.v2: the Go client does what it does
		{"runc options", nil, filepath.Join(l.Bin, "runc")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out string
			if tc.name == "runc options" {
				out = runtimeInfoWithRuncOptions(t, ctx, &runcoptions.Options{BinaryName: filepath.Join(l.Bin, "runc"), Root: l.RuncRoot})
			} else {
				var err error
				if out, err = l.ctr(ctx, append([]string{"plugins", "inspect-runtime", "--runtime", l.ShimPath}, tc.args...)...); err != nil {
					t.Fatal(err)
				}
				// ctr of containerd 2.2+ warns about cgroup v1 on stderr first
				if i := strings.Index(out, "\n{"); i >= 0 {
					out = out[i+1:]
				}
			}
			var info struct {
				Name     string
				Options  json.RawMessage
				Features features.Features
			}
			if err := json.Unmarshal([]byte(out), &info); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if info.Name != runtimeType {
				t.Errorf("name %q, want %s", info.Name, runtimeType)
			}
			if !strings.Contains(strings.Join(info.Features.MountOptions, " "), "rro") {
				t.Errorf("features lack the rro mount option: %v", info.Features.MountOptions)
			}
			if err := sandbox.IDMapError(l.ShimPath, &info.Features); err != nil {
				t.Errorf("%v: %s", err, out)
			}
			if !strings.Contains(string(info.Options), tc.options) {
				t.Errorf("options reported as %s, want them as sent (%s)", info.Options, tc.options)
			}
		})
	}
	features := l.handlerFeatures(t, ctx)
	version := l.envValue(t, "LAB_CONTAINERD_VERSION")
	if features["runc"] == nil {
		t.Fatalf("CRI reports no features for runc: %v", features)
	}
	for _, h := range []string{"hardened", "hardened-audit"} {
		switch {
		case introspectsOtherRuntimes(version) && !reflect.DeepEqual(features[h], features["runc"]):
			t.Errorf("containerd %s: handler %s features %v, runc's %v", version, h, features[h], features["runc"])
		case !introspectsOtherRuntimes(version) && len(features[h]) > 0 && !reflect.DeepEqual(features[h], map[string]any{}):
			t.Errorf("containerd %s reports features %v for %s: it was not expected to ask a non-runc shim (update introspectsOtherRuntimes)", version, features[h], h)
		}
	}
}

// TestCompatPodExecAndRefusals: a pod of the hardened class with a
// container and an exec; a pod refused at its start and a container refused
// at its create, the shim's reason reaching the client; nothing left.
func TestCompatPodExecAndRefusals(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	pod := runPod(t, ctx, "hardened")
	id := pod.startContainer(t, ctx, containerCfg("app", nil, nil, nil))
	out := l.exec(t, ctx, id, "grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status")
	if f := strings.Fields(out); !reflect.DeepEqual(f, []string{"NoNewPrivs:", "1", "Seccomp:", "2"}) {
		t.Errorf("exec in the hardened container: %q, want NoNewPrivs 1 and Seccomp 2", out)
	}
	if m := strings.Fields(l.exec(t, ctx, id, "cat", "/proc/self/uid_map")); len(m) != 3 || m[0] != "0" || m[1] == "0" {
		t.Errorf("uid_map %v: container root must not be host root", m)
	}
	refuseEscalation(t, ctx, criNamespace, id)
	pod.checkHostEtcRefused(t, ctx)

	_, out, err := tryRunPod(t, ctx, "hardened", map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}})
	if err == nil {
		t.Fatal("a hostNetwork pod of the hardened class ran")
	}
	wantAll(t, out, "refused by hostNamespaces: shares the host's network namespace (hostNetwork=true)")
}

// TestCompatLiveUpgrade: the shim binary is replaced (as an installer does:
// a new file renamed over the old) while pods run, then containerd restarts.
// The running containers keep their shim processes, which keep serving and
// judging exec; new pods run the new build; everything is removed cleanly.
func TestCompatLiveUpgrade(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	next := l.envValue(t, "LAB_SHIM_NEXT")
	oldVersion, newVersion := shimVersion(t, l.ShimPath), shimVersion(t, next)
	if oldVersion == newVersion {
		t.Fatalf("the second build reports the same version %q as the installed one", oldVersion)
	}

	pod := runPod(t, ctx, "hardened")
	old := pod.startContainer(t, ctx, containerCfg("app", nil, nil, nil))
	tt := newTask(t, ctx, nil, "sleep", "600")
	tt.start(t, ctx)
	oldShims := map[string][]int{pod.id: l.shimProcessesFor(pod.id), tt.id: l.shimProcessesFor(tt.id)}
	for id, pids := range oldShims {
		if len(pids) != 1 {
			t.Fatalf("shim processes of %s: %v, want one", id, pids)
		}
	}

	saved := filepath.Join(t.TempDir(), "shim-before")
	copyFile(t, l.ShimPath, saved)
	installOver(t, next, l.ShimPath)
	t.Cleanup(func() { installOver(t, saved, l.ShimPath) })
	l.exec(t, ctx, old, "true")

	restartContainerd(t, ctx, "LAB_RESTART_CONTAINERD", tt)

	for id, pids := range oldShims {
		if now := l.shimProcessesFor(id); !reflect.DeepEqual(now, pids) {
			t.Errorf("shim processes of %s after the upgrade: %v, before %v", id, now, pids)
		}
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pids[0])); !strings.HasSuffix(exe, " (deleted)") {
			t.Errorf("the shim of %s runs %q, want the replaced (deleted) build", id, exe)
		}
	}
	stillServed(t, ctx, old, "the restart")
	tt.checkExecs(t, ctx)

	pod2 := runPod(t, ctx, "hardened")
	pod2.startContainer(t, ctx, containerCfg("app", nil, nil, nil))
	pids := l.shimProcessesFor(pod2.id)
	if len(pids) != 1 {
		t.Fatalf("shim processes of the new pod: %v", pids)
	}
	if v := shimVersion(t, fmt.Sprintf("/proc/%d/exe", pids[0])); v != newVersion {
		t.Errorf("the new pod's shim is version %q, want the new build %q", v, newVersion)
	}
	if err := tt.task.Kill(ctx, 9); err != nil {
		t.Fatal(err)
	}
	tt.finish(t, ctx)
}

// runtimeInfoWithRuncOptions asks containerd for the shim's runtime info
// with runc options (as ctr plugins inspect-runtime does), as JSON.
func runtimeInfoWithRuncOptions(t *testing.T, ctx context.Context, opts *runcoptions.Options) string {
	t.Helper()
	l := requireLab(t)
	optsAny, err := typeurl.MarshalAnyToProto(opts)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.IntrospectionService().PluginInfo(ctx, "io.containerd.runtime.v2", "task",
		&apitypes.RuntimeRequest{RuntimePath: l.ShimPath, Options: optsAny})
	if err != nil {
		t.Fatal(err)
	}
	var info apitypes.RuntimeInfo
	if err := typeurl.UnmarshalTo(resp.Extra, &info); err != nil {
		t.Fatal(err)
	}
	features, err := typeurl.UnmarshalAny(info.Features)
	if err != nil {
		t.Fatal(err)
	}
	options, err := typeurl.UnmarshalAny(info.Options)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"Name": info.Name, "Options": options, "Features": features})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCompatContainerdKilled: containerd dies with SIGKILL while hardened
// pods and a container of no pod run, and starts again. It reconnects to
// their shims: the containers still run, exec works and is still judged
// (a privileged exec refused), and they are removed cleanly.
func TestCompatContainerdKilled(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	pod := runPod(t, ctx, "hardened")
	id := pod.startContainer(t, ctx, containerCfg("app", nil, nil, nil))
	tt := newTask(t, ctx, nil, "sleep", "600")
	tt.start(t, ctx)
	shims := map[string][]int{pod.id: l.shimProcessesFor(pod.id), tt.id: l.shimProcessesFor(tt.id)}
	restartContainerd(t, ctx, "LAB_KILL_RESTART_CONTAINERD", tt)
	for owner, pids := range shims {
		if now := l.shimProcessesFor(owner); len(pids) != 1 || !reflect.DeepEqual(now, pids) {
			t.Errorf("shim processes of %s after containerd's crash: %v, before %v", owner, now, pids)
		}
	}
	stillServed(t, ctx, id, "containerd's crash")
	tt.checkExecs(t, ctx)
	if err := tt.task.Kill(ctx, 9); err != nil {
		t.Fatal(err)
	}
	tt.finish(t, ctx)
}

// shimVersion is the Version line of a shim binary's --version.
func shimVersion(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", path, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Version:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("%s --version prints no version: %s", path, out)
	return ""
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// installOver puts a copy of from at to the way installers do: a new file
// beside it, renamed over it (running processes keep the old file).
func installOver(t *testing.T, from, to string) {
	t.Helper()
	tmp := to + ".new"
	copyFile(t, from, tmp)
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// restartContainerd runs the lab.env command envKey (compat.sh restart, with
// or without --kill), waits for the CRI and the Go client to reach the new
// containerd, and waits for tt's exit again (the old wait went down with
// the connection).
func restartContainerd(t *testing.T, ctx context.Context, envKey string, tt *testTask) {
	t.Helper()
	restart := strings.Fields(requireLab(t).envValue(t, envKey))
	if out, err := exec.CommandContext(ctx, restart[0], restart[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(restart, " "), err, out)
	}
	waitCRI(t, ctx)
	waitClient(t, ctx)
	var err error
	if tt.exit, err = tt.task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitCRI waits (bounded) until the CRI answers with the runtime and network ready.
func waitCRI(t *testing.T, ctx context.Context) {
	t.Helper()
	l := requireLab(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := l.crictl(ctx, "info", "-o", "json")
		var info struct {
			Status struct {
				Conditions []struct {
					Type   string `json:"type"`
					Status bool   `json:"status"`
				} `json:"conditions"`
			} `json:"status"`
		}
		ready := 0
		if err == nil && json.Unmarshal([]byte(out), &info) == nil {
			for _, c := range info.Status.Conditions {
				if (c.Type == "RuntimeReady" || c.Type == "NetworkReady") && c.Status {
					ready++
				}
			}
		}
		if ready == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRI not ready 60 s after the restart: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// escalatingExecRefused runs an exec holding CAP_SYS_ADMIN (which the
// container does not) in container ns/id through containerd: nil when it is
// refused by execEscalation, naming the capability, and the runtime knows no
// such exec afterwards.
func escalatingExecRefused(ctx context.Context, ns, id string) error {
	ctx = namespaces.WithNamespace(ctx, ns)
	c, err := client.LoadContainer(ctx, id)
	if err != nil {
		return err
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return err
	}
	caps := []string{"CAP_SYS_ADMIN"}
	execID := fmt.Sprintf("escalate-%d", time.Now().UnixNano())
	_, err = task.Exec(ctx, execID, &specs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"PATH=/bin"}, NoNewPrivileges: true,
		Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}}, cio.NullIO)
	if err == nil || !strings.Contains(err.Error(), "refused by execEscalation") || !strings.Contains(err.Error(), "CAP_SYS_ADMIN") {
		return fmt.Errorf("an exec holding CAP_SYS_ADMIN in %s: %v, want a refusal by execEscalation naming it", id, err)
	}
	if _, err := task.LoadProcess(ctx, execID, nil); !errdefs.IsNotFound(err) {
		return fmt.Errorf("after the refused exec in %s the runtime answers for it: %v, want not found", id, err)
	}
	return nil
}

// waitClient waits (bounded) until the Go client reaches containerd again.
func waitClient(t *testing.T, ctx context.Context) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := client.Version(ctx)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Go client does not reach containerd 30 s after the restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stillServed checks that CRI container id, running before event, still
// runs and is still served by its shim after it: an exec works and a
// privileged exec and a device update are still refused.
func stillServed(t *testing.T, ctx context.Context, id, event string) {
	t.Helper()
	l := requireLab(t)
	if state, _ := l.containerState(t, ctx, id); state != "CONTAINER_RUNNING" {
		t.Errorf("container %s is %s after %s", id, state, event)
	}
	if out := l.exec(t, ctx, id, "echo", "still-served"); !strings.Contains(out, "still-served") {
		t.Errorf("exec in %s after %s: %q", id, event, out)
	}
	refuseEscalation(t, ctx, criNamespace, id)
}

// refuseEscalation: a privileged exec into a CRI container (one holding
// CAP_SYS_ADMIN, which the container does not) is refused, and the runtime
// never gets it. (An exec that only clears noNewPrivileges is not refused in
// a CRI container: CRI copies the container's process as it asked for it,
// and the shim hardens the exec like the container.) An update opening every
// device is refused too; a memory update is allowed.
func refuseEscalation(t *testing.T, ctx context.Context, ns, id string) {
	t.Helper()
	l := requireLab(t)
	ctx = namespaces.WithNamespace(ctx, ns)
	c, err := client.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := escalatingExecRefused(ctx, ns, id); err != nil {
		t.Error(err)
	}
	err = task.Update(ctx, containerd.WithResources(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}}))
	if err == nil || !strings.Contains(err.Error(), "refused by updateDevices") {
		t.Errorf("an update allowing every device in %s: %v, want a refusal by updateDevices", id, err)
	}
	if out, err := l.crictl(ctx, "update", "--memory", "268435456", id); err != nil {
		t.Errorf("an update of the memory limit of %s (allowed): %v\n%s", id, err, out)
	}
}

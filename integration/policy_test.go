//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// tryRunPod runs a pod sandbox with a custom linux section and returns its ID
// or the error; a started pod is removed (with a leftover check) at cleanup.
func tryRunPod(t *testing.T, ctx context.Context, handler string, linux map[string]any) (*criPod, string, error) {
	t.Helper()
	l := requireLab(t)
	name := uniqueName(t)
	logDir := filepath.Join(l.Run, "pod-logs", name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(logDir) })
	cfg := podConfig(name, logDir)
	if linux != nil {
		cfg["linux"] = linux
	}
	shimsBefore := len(l.shimProcesses())
	out, err := l.crictl(ctx, "runp", "--runtime", handler, writeJSON(t, cfg))
	if err != nil {
		l.assertNoPodNamed(t, ctx, name, shimsBefore)
		return nil, out, err
	}
	p := &criPod{id: strings.TrimSpace(lastLine(out)), name: name, handler: handler, logDir: logDir, config: cfg}
	t.Cleanup(func() { p.remove(t) })
	return p, out, nil
}

// wantAll fails the test unless s contains every string in want. crictl
// prints gRPC errors with quotes escaped; both sides are unescaped first.
func wantAll(t *testing.T, s string, want ...string) {
	t.Helper()
	s = strings.ReplaceAll(s, `\"`, `"`)
	for _, w := range want {
		w = strings.ReplaceAll(w, `\"`, `"`)
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q:\n%s", w, s)
		}
	}
}

// TestPolicyRefusesPods: pod-level violations are refused at the shim's start,
// before any shim daemon or container process exists, with the message in the
// CRI error; nothing is left behind. In audit mode the same pods run and the
// audit log records the would-be refusal.
func TestPolicyRefusesPods(t *testing.T) {
	ns := func(kind string) map[string]any {
		return map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{kind: 2}}}
	}
	for _, tc := range []struct {
		name  string
		linux map[string]any
		want  []string
	}{
		{"privileged", map[string]any{"security_context": map[string]any{"privileged": true}}, []string{"refused by privileged:"}},
		{"hostNetwork", ns("network"), []string{"refused by hostNamespaces: shares the host's network namespace (hostNetwork=true)"}},
		{"hostPID", ns("pid"), []string{"hostNamespaces: shares the host's pid namespace (hostPID=true)"}},
		{"hostIPC", ns("ipc"), []string{"hostNamespaces: shares the host's ipc namespace (hostIPC=true)"}},
		{"unsafe sysctl", map[string]any{"sysctls": map[string]string{"kernel.msgmax": "65536"}}, []string{`refused by sysctls: sysctl \"kernel.msgmax\" is not in the safe set`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			_, out, err := tryRunPod(t, ctx, "hardened", tc.linux)
			if err == nil {
				t.Fatalf("pod started: %s", out)
			}
			wantAll(t, out, append(tc.want, "pod sandbox", `(runtime class \"hardened\", mode enforce)`)...)
		})
	}
	t.Run("audit mode allows and records", func(t *testing.T) {
		ctx := testContext(t)
		l := requireLab(t)
		p, out, err := tryRunPod(t, ctx, "hardened-audit", ns("network"))
		if err != nil {
			t.Fatalf("audit mode refused: %s", out)
		}
		recs := l.auditRecords(t, p.id)
		if len(recs) == 0 || recs[len(recs)-1].Decision != "audited" || recs[len(recs)-1].Violations[0].Check != "hostNamespaces" {
			t.Fatalf("audit records %+v", recs)
		}
	})
}

// podVolumes prepares kubelet-style volume directories for a pod under the
// lab's kubelet root and removes them (unmounting what it mounted) at cleanup.
type podVolumes struct {
	t       *testing.T
	root    string // <kubelet>/pods/<uid>
	mounted []string
}

func newPodVolumes(t *testing.T, podUID string) *podVolumes {
	l := requireLab(t)
	v := &podVolumes{t: t, root: filepath.Join(l.KubeletRoot, "pods", podUID)}
	t.Cleanup(func() {
		for i := len(v.mounted) - 1; i >= 0; i-- {
			if err := syscall.Unmount(v.mounted[i], syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", v.mounted[i], err)
			}
		}
		os.RemoveAll(v.root)
	})
	return v
}

// dir creates <pod>/<rel> and returns it.
func (v *podVolumes) dir(rel string) string {
	p := filepath.Join(v.root, rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		v.t.Fatal(err)
	}
	return p
}

// tmpfs mounts a tmpfs at <pod>/<rel> (as kubelet does for secret volumes).
func (v *podVolumes) tmpfs(rel string) string {
	p := v.dir(rel)
	if err := syscall.Mount("tmpfs", p, "tmpfs", 0, "size=1m"); err != nil {
		v.t.Fatal(err)
	}
	v.mounted = append(v.mounted, p)
	return p
}

// bind bind-mounts src at <pod>/<rel> (as kubelet does for subPaths).
func (v *podVolumes) bind(src, rel string) string {
	p := v.dir(rel)
	if out, err := exec.Command("mount", "--bind", src, p).CombinedOutput(); err != nil {
		v.t.Fatalf("mount --bind %s %s: %v %s", src, p, err, out)
	}
	v.mounted = append(v.mounted, p)
	return p
}

// containerCfg is a busybox container config with mounts.
func containerCfg(name string, mounts []map[string]any, linux map[string]any, extra map[string]any) map[string]any {
	cfg := map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": busybox},
		"command":  []string{"sh", "-c", "echo started; exec sleep 600"},
		"log_path": name + ".log",
		"mounts":   mounts,
		"linux":    linux,
	}
	if linux == nil {
		cfg["linux"] = map[string]any{}
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

func hostMount(dest, src string, ro bool) []map[string]any {
	return []map[string]any{{"container_path": dest, "host_path": src, "readonly": ro}}
}

// TestPolicyContainers: container-level violations are refused at Create with
// gRPC PermissionDenied and leave nothing behind; every safe volume type runs.
func TestPolicyContainers(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	pod := runPod(t, ctx, "hardened")
	uid := pod.name + "-uid"
	vols := newPodVolumes(t, uid)
	other := newPodVolumes(t, "another-pod-uid")

	emptyDir := vols.dir("volumes/kubernetes.io~empty-dir/cache")
	vols.dir("volumes/kubernetes.io~empty-dir/cache/sub")
	secretTmpfs := vols.tmpfs("volumes/kubernetes.io~secret/token")
	projected := vols.tmpfs("volumes/kubernetes.io~projected/kube-api-access")
	configMap := vols.dir("volumes/kubernetes.io~configmap/settings")
	downward := vols.dir("volumes/kubernetes.io~downward-api/podinfo")
	etcHosts := filepath.Join(vols.root, "etc-hosts")
	if err := os.WriteFile(etcHosts, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	goodSubPath := vols.bind(filepath.Join(emptyDir, "sub"), "volume-subpaths/cache/ok/0")
	badSubPath := vols.bind("/etc", "volume-subpaths/cache/evil/0")
	secretOnDisk := vols.dir("volumes/kubernetes.io~secret/on-disk")
	otherPodDir := other.dir("volumes/kubernetes.io~empty-dir/data")
	tmpHost := t.TempDir()
	symlinkToEtc := filepath.Join(emptyDir, "link-to-etc")
	if err := os.Symlink("/etc", symlinkToEtc); err != nil {
		t.Fatal(err)
	}

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			mounts []map[string]any
			linux  map[string]any
			extra  map[string]any
			want   []string
		}{
			{"hostPath /", hostMount("/host", "/", true), nil, nil, []string{`hostPathVolumes: mount "/host" comes from host path "/"`}},
			{"hostPath /etc", hostMount("/host-etc", "/etc", true), nil, nil, []string{`comes from host path "/etc"`}},
			{"containerd socket", hostMount("/run/containerd.sock", l.Address, false), nil, nil, []string{`comes from host path "` + l.Address + `"`}},
			{"host tmp dir", hostMount("/data", tmpHost, false), nil, nil, []string{`comes from host path "` + tmpHost + `"`}},
			{"another pod's volume", hostMount("/steal", otherPodDir, false), nil, nil, []string{"a kubelet directory of another pod"}},
			{"subPath backed by /etc", hostMount("/sub", badSubPath, false), nil, nil, []string{`a subPath really backed by "/etc"`}},
			{"symlink into /etc", hostMount("/link", symlinkToEtc, true), nil, nil, []string{`comes from host path "/etc"`}},
			{"secret on disk", hostMount("/secret", secretOnDisk, true), nil, nil, []string{"secretsInMemory:", "stored on disk"}},
			{"SYS_ADMIN", nil, map[string]any{"security_context": map[string]any{"capabilities": map[string]any{"add_capabilities": []string{"SYS_ADMIN"}}}}, nil,
				[]string{`capabilities: process.capabilities.bounding holds "CAP_SYS_ADMIN"`}},
			{"cwd in /proc/self/fd", nil, nil, map[string]any{"working_dir": "/proc/self/fd/7"}, []string{"procFdCwd:", "CVE-2024-21626"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testContext(t)
				name := strings.ReplaceAll(strings.ReplaceAll(tc.name, " ", "-"), "'", "")
				name = strings.ReplaceAll(strings.ToLower(name), "/", "slash")
				out, err := l.crictl(ctx, "create", pod.id, writeJSON(t, containerCfg(name, tc.mounts, tc.linux, tc.extra)), writeJSON(t, pod.config))
				if err != nil {
					t.Fatal(err)
				}
				id := strings.TrimSpace(lastLine(out))
				out, err = l.crictl(ctx, "start", id)
				if err == nil {
					t.Errorf("container started")
				}
				wantAll(t, out, append(tc.want, "code = PermissionDenied", `container \"`+name+`\" refused by`, `(runtime class \"hardened\", mode enforce)`)...)
				l.assertNoLeftovers(t, criNamespace, id)
				if _, err := l.crictl(ctx, "rm", id); err != nil {
					t.Error(err)
				}
			})
		}
	})

	t.Run("allowed", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			mounts []map[string]any
		}{
			{"emptydir", hostMount("/cache", emptyDir, false)},
			{"secret-tmpfs", hostMount("/var/run/secrets/token", secretTmpfs, true)},
			{"projected-tmpfs", hostMount("/var/run/secrets/kubernetes.io/serviceaccount", projected, true)},
			{"configmap", hostMount("/etc/settings", configMap, true)},
			{"downward-api", hostMount("/etc/podinfo", downward, true)},
			{"etc-hosts", hostMount("/etc/hosts", etcHosts, false)},
			{"subpath-of-emptydir", hostMount("/sub", goodSubPath, false)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testContext(t)
				out, err := l.crictl(ctx, "create", pod.id, writeJSON(t, containerCfg(tc.name, tc.mounts, nil, nil)), writeJSON(t, pod.config))
				if err != nil {
					t.Fatal(err)
				}
				id := strings.TrimSpace(lastLine(out))
				pod.ctrs = append(pod.ctrs, id)
				if out, err := l.crictl(ctx, "start", id); err != nil {
					t.Fatalf("refused: %s", out)
				}
				if out, err := l.crictl(ctx, "exec", id, "ls", tc.mounts[0]["container_path"].(string)); err != nil {
					t.Errorf("mount not usable: %s", out)
				}
				l.stopRemove(t, ctx, id)
			})
		}
	})
}

// TestPolicySafeSysctlsAllowed: a pod with safe sysctls runs.
func TestPolicySafeSysctlsAllowed(t *testing.T) {
	ctx := testContext(t)
	_, out, err := tryRunPod(t, ctx, "hardened", map[string]any{"sysctls": map[string]string{
		"net.ipv4.ip_unprivileged_port_start": "0", "kernel.shm_rmid_forced": "1"}})
	if err != nil {
		t.Fatalf("refused: %s", out)
	}
}

// TestPolicyExecEscalation: through the containerd API, an exec process with
// more privilege than its container is refused (PermissionDenied); an exec
// like the container's runs.
func TestPolicyExecEscalation(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	id := uniqueName(t)
	image, err := client.GetImage(ctx, busybox)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewContainer(ctx, id,
		containerd.WithNewSnapshot(id, image),
		containerd.WithRuntime(runtimeType, classOptions()),
		containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("sleep", "600"),
			oci.WithUIDGID(1000, 1000), oci.WithNoNewPrivileges))
	if err != nil {
		t.Fatal(err)
	}
	var task containerd.Task
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if task != nil {
			task.Delete(cctx, containerd.WithProcessKill)
		}
		c.Delete(cctx, containerd.WithSnapshotCleanup)
		l.assertNoLeftovers(t, testNamespace, id)
	})
	task, err = c.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name   string
		mutate func(p *specs.Process)
		want   string
	}{
		{"same as the container", func(p *specs.Process) {}, ""},
		{"adds CAP_SYS_ADMIN", func(p *specs.Process) {
			p.Capabilities.Effective = append(p.Capabilities.Effective, "CAP_SYS_ADMIN")
			p.Capabilities.Permitted = append(p.Capabilities.Permitted, "CAP_SYS_ADMIN")
			p.Capabilities.Bounding = append(p.Capabilities.Bounding, "CAP_SYS_ADMIN")
		}, `holds "CAP_SYS_ADMIN", which the container does not`},
		{"runs as root", func(p *specs.Process) { p.User.UID = 0 }, "exec runs as uid 0, the container as uid 1000"},
		{"clears noNewPrivileges", func(p *specs.Process) { p.NoNewPrivileges = false }, "exec clears noNewPrivileges"},
		{"cwd in /proc/self/fd", func(p *specs.Process) { p.Cwd = "/proc/self/fd/3" }, "CVE-2024-21626"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := *spec.Process
			caps := *p.Capabilities
			caps.Effective = append([]string(nil), caps.Effective...)
			caps.Permitted = append([]string(nil), caps.Permitted...)
			caps.Bounding = append([]string(nil), caps.Bounding...)
			p.Capabilities = &caps
			p.Args = []string{"true"}
			tc.mutate(&p)
			proc, err := task.Exec(ctx, fmt.Sprintf("exec-%d", i), &p, cio.NullIO)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("allowed exec refused: %v", err)
				}
				ch, _ := proc.Wait(ctx)
				if err := proc.Start(ctx); err != nil {
					t.Fatal(err)
				}
				if st := <-ch; st.ExitCode() != 0 {
					t.Errorf("exec exit %d", st.ExitCode())
				}
				proc.Delete(ctx)
				return
			}
			if err == nil {
				proc.Delete(ctx)
				t.Fatal("escalating exec was accepted")
			}
			if !errdefs.IsPermissionDenied(err) {
				t.Errorf("error %v is not PermissionDenied", err)
			}
			wantAll(t, err.Error(), "execEscalation:", tc.want, `runtime class "hardened-test", mode enforce`)
		})
	}
	t.Run("update granting every device", func(t *testing.T) {
		err := task.Update(ctx, containerd.WithResources(&specs.LinuxResources{
			Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}}))
		if err == nil || !errdefs.IsPermissionDenied(err) {
			t.Fatalf("update: %v", err)
		}
		wantAll(t, err.Error(), "updateDevices:", `grants device access "a *:* rwm"`)
	})
	t.Run("update of memory is allowed", func(t *testing.T) {
		limit := int64(256 << 20)
		if err := task.Update(ctx, containerd.WithResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})); err != nil {
			t.Fatalf("update: %v", err)
		}
	})
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The tests in this file play a hostile raw containerd client (what ctr, a
// node agent or an NRI plugin can send): specs, runtime options, stdio and
// exec requests that kubelet never produces. Each must be refused before
// anything of the container runs, and leave nothing behind.

// rawContainer creates a busybox container of the hardened runtime with the
// given spec options and runtime options (nil: the test class), registers
// its removal and leftover check, and returns it.
func rawContainer(t *testing.T, ctx context.Context, runtimeOpts any, opts ...oci.SpecOpts) containerd.Container {
	t.Helper()
	if runtimeOpts == nil {
		runtimeOpts = classOptions()
	}
	return rawContainerOf(t, ctx, runtimeType, runtimeOpts, opts...)
}

// rawContainerOf is rawContainer for another runtime (a name or a shim
// binary's path), with runtime options as given (nil: none).
func rawContainerOf(t *testing.T, ctx context.Context, runtime string, runtimeOpts any, opts ...oci.SpecOpts) containerd.Container {
	t.Helper()
	l := requireLab(t)
	id := uniqueName(t)
	image, err := client.GetImage(ctx, busybox)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]oci.SpecOpts{oci.WithImageConfig(image), oci.WithProcessArgs("sleep", "600")}, opts...)
	c, err := client.NewContainer(ctx, id,
		containerd.WithNewSnapshot(id, image),
		containerd.WithRuntime(runtime, runtimeOpts),
		containerd.WithNewSpec(all...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if task, err := c.Task(cctx, nil); err == nil {
			task.Delete(cctx, containerd.WithProcessKill)
		}
		if err := c.Delete(cctx, containerd.WithSnapshotCleanup); err != nil {
			t.Errorf("deleting %s: %v", id, err)
		}
		l.assertNoLeftovers(t, testNamespace, id)
	})
	return c
}

// mustRefuseTask creates the container's task and requires a policy refusal
// whose message holds every want.
func mustRefuseTask(t *testing.T, ctx context.Context, c containerd.Container, creator cio.Creator, want ...string) {
	t.Helper()
	if creator == nil {
		creator = cio.NullIO
	}
	task, err := c.NewTask(ctx, creator)
	if err == nil {
		task.Delete(ctx, containerd.WithProcessKill)
		t.Fatalf("container %s was created; want a refusal mentioning %q", c.ID(), want)
	}
	wantAll(t, err.Error(), want...)
}

// marker is a host file a hostile request would create; it must not exist.
func marker(t *testing.T) string {
	p := filepath.Join(requireLab(t).Run, "tmp", uniqueName(t)+".pwned")
	os.MkdirAll(filepath.Dir(p), 0o755)
	t.Cleanup(func() { os.Remove(p) })
	return p
}

func assertAbsent(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Stat(p); err == nil {
		t.Fatalf("%s exists: the host-side action ran", p)
	}
}

func TestRawSpecHostActionsRefused(t *testing.T) {
	ctx := testContext(t)
	for _, kind := range []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"} {
		t.Run("hook "+kind, func(t *testing.T) {
			m := marker(t)
			h := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + m}}
			c := rawContainer(t, ctx, nil, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
				if s.Hooks == nil {
					s.Hooks = &specs.Hooks{}
				}
				switch kind {
				case "prestart":
					s.Hooks.Prestart = []specs.Hook{h} //nolint:staticcheck // what a raw client sends
				case "createRuntime":
					s.Hooks.CreateRuntime = []specs.Hook{h}
				case "createContainer":
					s.Hooks.CreateContainer = []specs.Hook{h}
				case "startContainer":
					s.Hooks.StartContainer = []specs.Hook{h}
				case "poststart":
					s.Hooks.Poststart = []specs.Hook{h}
				case "poststop":
					s.Hooks.Poststop = []specs.Hook{h}
				}
				return nil
			})
			mustRefuseTask(t, ctx, c, nil, "hostActions", "hooks."+kind+"[0]")
			assertAbsent(t, m)
		})
	}
	t.Run("seccomp listenerPath", func(t *testing.T) {
		c := rawContainer(t, ctx, nil, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/containerd/containerd.sock",
				Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}}
			return nil
		})
		mustRefuseTask(t, ctx, c, nil, "hostActions", "listenerPath")
	})
	t.Run("binary:// stdio", func(t *testing.T) {
		m := marker(t)
		script := filepath.Join(filepath.Dir(m), uniqueName(t)+".sh")
		os.WriteFile(script, []byte("#!/bin/sh\ntouch "+m+"\n"), 0o755)
		t.Cleanup(func() { os.Remove(script) })
		c := rawContainer(t, ctx, nil)
		mustRefuseTask(t, ctx, c, cio.BinaryIO(script, nil), "hostActions", "binary://", "allowed_log_binaries")
		assertAbsent(t, m)
	})
	t.Run("file:// stdio", func(t *testing.T) {
		m := marker(t)
		c := rawContainer(t, ctx, nil)
		mustRefuseTask(t, ctx, c, cio.LogFile(m), "hostActions", "file://", "allowed_log_dirs")
		assertAbsent(t, m)
	})
	t.Run("plain path to a host file", func(t *testing.T) {
		victim := marker(t)
		os.WriteFile(victim, []byte("host data\n"), 0o600)
		c := rawContainer(t, ctx, nil, oci.WithProcessArgs("echo", "appended"))
		mustRefuseTask(t, ctx, c, fixedIO(cio.Config{Stdout: victim}), "hostActions", "stdout", "outside containerd's state and FIFO directories")
		if b, _ := os.ReadFile(victim); string(b) != "host data\n" {
			t.Fatalf("host file changed: %q", b)
		}
	})
}

// fixedIO is a cio.Creator that hands containerd the stdio paths of cfg as
// they are: what a raw client can send.
func fixedIO(cfg cio.Config) cio.Creator {
	return func(string) (cio.IO, error) { return &rawIO{cfg: cfg}, nil }
}

type rawIO struct{ cfg cio.Config }

func (r *rawIO) Config() cio.Config { return r.cfg }
func (r *rawIO) Cancel()            {}
func (r *rawIO) Wait()              {}
func (r *rawIO) Close() error       { return nil }

func TestRawSpecMountsAndRootRefused(t *testing.T) {
	ctx := testContext(t)
	for _, tc := range []struct {
		name string
		opt  oci.SpecOpts
		want []string
	}{
		{"relative root escaping the bundle", func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Root.Path = "../../../../../../../.."
			return nil
		}, []string{"hostPathVolumes", "root.path"}},
		{"remount of /sys read-write", func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys", Type: "mqueue", Source: "mqueue", Options: []string{"remount", "rw"}})
			return nil
		}, []string{"remount"}},
		{"shared propagation", func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Linux.RootfsPropagation = "rshared"
			return nil
		}, []string{"rootfsPropagation"}},
		{"tmpfs over the root", func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/", Type: "tmpfs", Source: "tmpfs"})
			return nil
		}, []string{`mounts["/"]`}},
		{"no capabilities field", func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Process.Capabilities = nil
			return nil
		}, []string{"privileged", "process.capabilities"}},
		{"no uts namespace", func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			var nss []specs.LinuxNamespace
			for _, ns := range s.Linux.Namespaces {
				if ns.Type != specs.UTSNamespace {
					nss = append(nss, ns)
				}
			}
			s.Linux.Namespaces = nss
			return nil
		}, []string{`"uts"`}},
		{"/dev/kmsg device node", func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			mode := os.FileMode(0o666)
			maj, mnr := int64(1), int64(11)
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/kmsg", Type: "c", Major: maj, Minor: mnr, FileMode: &mode})
			return nil
		}, []string{"privileged", "1:11"}},
		{"/dev/mem disguised as /dev/null", func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/null2", Type: "c", Major: 1, Minor: 1})
			return nil
		}, []string{"privileged", "1:1"}},
		{"device rule for a whole major", func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			maj := int64(4)
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &maj, Access: "rw"})
			return nil
		}, []string{"privileged", "linux.resources.devices"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawContainer(t, ctx, nil, tc.opt)
			mustRefuseTask(t, ctx, c, nil, append([]string{"refused by"}, tc.want...)...)
		})
	}
}

// TestRawSpecNamespaceJoinRefused: a container that is not part of a pod
// this shim serves may join no namespace by path — here one of a host
// process of its own (not the shim's, which the old check compared with).
func TestRawSpecNamespaceJoinRefused(t *testing.T) {
	ctx := testContext(t)
	host := exec.Command("unshare", "--ipc", "--uts", "sleep", "120")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })
	// unshare execs sleep in the new namespaces.
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", host.Process.Pid))
		b, _ := os.Readlink("/proc/self/ns/ipc")
		if a != b || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, kind := range []specs.LinuxNamespaceType{specs.IPCNamespace, specs.UTSNamespace} {
		t.Run(string(kind), func(t *testing.T) {
			path := fmt.Sprintf("/proc/%d/ns/%s", host.Process.Pid, map[specs.LinuxNamespaceType]string{specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts"}[kind])
			c := rawContainer(t, ctx, nil, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: kind, Path: path}))
			mustRefuseTask(t, ctx, c, nil, "hostNamespaces", path, "belongs to no pod sandbox this shim serves")
		})
	}
}

// TestRawRuntimeOptionsCannotRelaxThePinnedClass: runtime options a client
// sends (runc options, an inline class, a class file) may only tighten the
// node's class.
func TestRawRuntimeOptionsCannotRelaxThePinnedClass(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	m := marker(t)
	evil := filepath.Join(filepath.Dir(m), uniqueName(t)+"-runc")
	os.WriteFile(evil, []byte("#!/bin/sh\ntouch "+m+"\nexec "+filepath.Join(l.Bin, "runc")+" \"$@\"\n"), 0o755)
	t.Cleanup(func() { os.Remove(evil) })
	body := func(s string) *runtimeoptions.Options { return &runtimeoptions.Options{ConfigBody: []byte(s)} }
	for _, tc := range []struct {
		name string
		opts any
		want []string
	}{
		{"runc options: another runtime binary", &runcoptions.Options{BinaryName: evil}, []string{"pinned", `"BinaryName"`}},
		{"runc options: no pivot_root", &runcoptions.Options{NoPivotRoot: true}, []string{"pinned", `"NoPivotRoot"`}},
		{"inline class: audit mode", body("mode = \"audit\"\n"), []string{"pinned", `"mode"`}},
		{"inline class: checks disabled", body("[policy]\ndisabled_checks = [\"privileged\", \"hostPathVolumes\"]\n"), []string{"pinned", `"policy.disabled_checks"`}},
		{"inline class: another audit log", body("audit_log = \"/tmp/elsewhere.log\"\n"), []string{"pinned", `"audit_log"`}},
		{"inline class: another runtime binary", body(fmt.Sprintf("binary_name = %q\n", evil)), []string{"pinned", `"binary_name"`}},
		{"inline class: unpinned", body("pinned = false\n"), []string{"pinned", `"pinned"`}},
		{"inline class: no user namespace", body("user_namespace = \"off\"\n"), []string{"pinned", `"user_namespace"`}},
		{"inline class: another ID allocator", body("[userns]\nstate_dir = \"/tmp/elsewhere\"\n"), []string{"pinned", `"userns.state_dir"`}},
		{"inline class: another ID window", body("[userns]\nfirst_id = 65536\nranges = 8192\n"), []string{"pinned", `"userns.first_id"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawContainer(t, ctx, tc.opts, oci.WithPrivileged)
			mustRefuseTask(t, ctx, c, nil, tc.want...)
			assertAbsent(t, m)
		})
	}
	t.Run("inline class that tightens", func(t *testing.T) {
		c := rawContainer(t, ctx, body("[policy]\nlevel = \"restricted\"\n"), oci.WithProcessArgs("true"))
		mustRefuseTask(t, ctx, c, nil, "capabilities", "level restricted")
	})
}

// TestExecByGroupRefused: an exec may not switch to gid 0 or add
// supplementary groups the container's process does not have.
func TestExecByGroupRefused(t *testing.T) {
	ctx := testContext(t)
	c := rawContainer(t, ctx, nil, oci.WithUIDGID(1000, 1000))
	task, err := c.NewTask(ctx, cio.NullIO)
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
		{"group root", func(p *specs.Process) { p.User.GID = 0 }, "exec runs as gid 0, the container as gid 1000"},
		{"supplementary root group", func(p *specs.Process) { p.User.AdditionalGids = []uint32{0} }, `supplementary group(s) "0"`},
		{"supplementary disk group", func(p *specs.Process) { p.User.AdditionalGids = []uint32{1000, 6} }, `supplementary group(s) "6"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := *spec.Process
			p.Args = []string{"id"}
			tc.mutate(&p)
			proc, err := task.Exec(ctx, fmt.Sprintf("grp-%d", i), &p, cio.NullIO)
			if err == nil {
				proc.Delete(ctx)
				t.Fatal("exec was accepted")
			}
			if !errdefs.IsPermissionDenied(err) {
				t.Errorf("%v is not PermissionDenied", err)
			}
			wantAll(t, err.Error(), "execEscalation", tc.want)
		})
	}
	t.Run("exec stdio to a host file", func(t *testing.T) {
		victim := marker(t)
		os.WriteFile(victim, []byte("host data\n"), 0o600)
		p := *spec.Process
		p.Args = []string{"echo", "appended"}
		proc, err := task.Exec(ctx, "stdio-victim", &p, fixedIO(cio.Config{Stdout: victim}))
		if err == nil {
			proc.Delete(ctx)
			t.Fatal("exec was accepted")
		}
		wantAll(t, err.Error(), "hostActions", "stdout")
	})
	task.Kill(ctx, syscall.SIGKILL)
}

// TestRawGroupingIntoAnotherRuntimeRefused: a container of the hardened
// runtime that claims the shim group of a stock runc container would be
// handed to the stock runc shim and run unhardened; it is refused.
func TestRawGroupingIntoAnotherRuntimeRefused(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	image, err := client.GetImage(ctx, busybox)
	if err != nil {
		t.Fatal(err)
	}
	stockID := uniqueName(t) + "-stock"
	stock, err := client.NewContainer(ctx, stockID,
		containerd.WithNewSnapshot(stockID, image),
		containerd.WithRuntime("io.containerd.runc.v2", &runcoptions.Options{BinaryName: filepath.Join(l.Bin, "runc"), Root: l.RuncRoot}),
		containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("sleep", "600")))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	cleanupStock := func() {
		once.Do(func() {
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if task, err := stock.Task(cctx, nil); err == nil {
				task.Delete(cctx, containerd.WithProcessKill)
			}
			stock.Delete(cctx, containerd.WithSnapshotCleanup)
		})
	}
	t.Cleanup(cleanupStock)
	task, err := stock.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{"io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id"} {
		t.Run(label, func(t *testing.T) {
			c := rawContainer(t, ctx, nil, oci.WithAnnotations(map[string]string{label: stockID}))
			mustRefuseTask(t, ctx, c, nil, "claims shim group", stockID, "containerd-shim-runc-v2", "not by this runtime's shim")
		})
	}
	t.Run("a hardened container's group is fine", func(t *testing.T) {
		first := rawContainer(t, ctx, nil)
		ft, err := first.NewTask(ctx, cio.NullIO)
		if err != nil {
			t.Fatal(err)
		}
		if err := ft.Start(ctx); err != nil {
			t.Fatal(err)
		}
		second := rawContainer(t, ctx, nil, oci.WithAnnotations(map[string]string{"io.containerd.runc.v2.group": first.ID()}), oci.WithProcessArgs("true"))
		st, err := second.NewTask(ctx, cio.NullIO)
		if err != nil {
			t.Fatalf("a container grouped with a container of its own class was refused: %v", err)
		}
		st.Delete(ctx, containerd.WithProcessKill)
		ft.Delete(ctx, containerd.WithProcessKill)
	})
	cleanupStock()
	if left := l.leftovers(testNamespace, stockID); len(left) > 0 {
		t.Errorf("leftovers of the stock container: %v", left)
	}
}

// auditLines returns the raw audit log lines of an exec of container id.
func (l *lab) auditLines(t *testing.T, id, execID string) []string {
	t.Helper()
	b, err := os.ReadFile(l.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"id":"`+id+`"`) && strings.Contains(line, `"execID":"`+execID+`"`) {
			out = append(out, line)
		}
	}
	return out
}

// TestAuditRecordsBounded: an allowed exec (as kubelet's exec probes send
// them) writes a short record, and a refused exec carrying a huge
// capability list writes one record within the line cap.
func TestAuditRecordsBounded(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	c := rawContainer(t, ctx, nil)
	task, err := c.NewTask(ctx, cio.NullIO)
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
	p := *spec.Process
	p.Args = []string{"true"}
	proc, err := task.Exec(ctx, "probe", &p, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := proc.Wait(ctx)
	if err := proc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-ch
	proc.Delete(ctx)
	lines := l.auditLines(t, c.ID(), "probe")
	if len(lines) != 1 {
		t.Fatalf("%d audit records for the allowed exec, want 1", len(lines))
	}
	if len(lines[0]) > 1024 {
		t.Errorf("an allowed exec wrote a %d-byte audit record (want ≤ 1 KiB): %s", len(lines[0]), lines[0])
	}
	huge := *spec.Process
	caps := *huge.Capabilities
	for i := 0; i < 100000; i++ {
		caps.Effective = append(caps.Effective, fmt.Sprintf("CAP_BOGUS_%06d_%s", i, strings.Repeat("X", 8)))
	}
	huge.Capabilities = &caps
	if proc, err := task.Exec(ctx, "huge", &huge, cio.NullIO); err == nil {
		proc.Delete(ctx)
		t.Fatal("exec with 100,000 extra capabilities was accepted")
	}
	lines = l.auditLines(t, c.ID(), "huge")
	if len(lines) != 1 {
		t.Fatalf("%d audit records for the refused exec, want 1", len(lines))
	}
	if n := len(lines[0]); n > 256<<10 {
		t.Errorf("refused exec wrote a %d-byte audit record, over the 256 KiB cap", n)
	}
	task.Kill(ctx, syscall.SIGKILL)
}

// TestVerifyDetectsAContainerInAnotherRuntimesPod: containerd sends a
// container whose SandboxID names a pod of another runtime to that pod's
// shim without calling this one. Nothing the shim can refuse; `verify`
// finds it from outside.
func TestVerifyDetectsAContainerInAnotherRuntimesPod(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	pod := runPod(t, ctx, "runc")
	k8s, err := containerd.New(l.Address, containerd.WithDefaultNamespace("k8s.io"))
	if err != nil {
		t.Fatal(err)
	}
	defer k8s.Close()
	image, err := k8s.GetImage(ctx, busybox)
	if err != nil {
		t.Fatal(err)
	}
	id := uniqueName(t)
	c, err := k8s.NewContainer(ctx, id,
		containerd.WithNewSnapshot(id, image),
		// runc options: what the pod's stock shim understands (with the
		// class's options it fails the task, but a client picks these).
		containerd.WithRuntime(runtimeType, &runcoptions.Options{BinaryName: filepath.Join(l.Bin, "runc"), Root: l.RuncRoot}),
		containerd.WithSandbox(pod.id),
		containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("sleep", "600")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if task, err := c.Task(cctx, nil); err == nil {
			task.Delete(cctx, containerd.WithProcessKill)
		}
		c.Delete(cctx, containerd.WithSnapshotCleanup)
	})
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatalf("creating the task in the runc pod: %v", err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// A container of the class that really runs under this shim, for the
	// contrast.
	good := rawContainer(t, ctx, nil)
	gt, err := good.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := gt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := l.run(ctx, l.ShimPath, "verify", "--address", l.Address)
	if err == nil {
		t.Fatalf("verify passed with a container of the class in a runc pod:\n%s", out)
	}
	wantAll(t, out, "k8s.io/"+id, "NOT SERVED BY THIS SHIM", "containerd-shim-runc-v2", pod.id,
		testNamespace+"/"+good.ID(), ": ok")
	task.Delete(ctx, containerd.WithProcessKill)
	out, err = l.run(ctx, l.ShimPath, "verify", "--address", l.Address, "--namespace", testNamespace)
	if err != nil {
		t.Fatalf("verify of the test namespace failed: %v\n%s", err, out)
	}
	wantAll(t, out, testNamespace+"/"+good.ID(), ": ok")
	gt.Delete(ctx, containerd.WithProcessKill)
}

// TestCopiedPodAnnotationsGrantNothing: a raw client copies a CRI pod's
// sandbox ID and pod UID into its own container's annotations and mounts
// that pod's secret and emptyDir: refused, since the container does not run
// in that pod.
func TestCopiedPodAnnotationsGrantNothing(t *testing.T) {
	ctx := testContext(t)
	pod := runPod(t, ctx, "hardened")
	uid := pod.name + "-uid"
	vols := newPodVolumes(t, uid)
	secret := vols.tmpfs("volumes/kubernetes.io~secret/token")
	cache := vols.dir("volumes/kubernetes.io~empty-dir/cache")
	for _, src := range []string{secret, cache} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			c := rawContainer(t, ctx, nil,
				oci.WithAnnotations(map[string]string{
					"io.kubernetes.cri.container-type": "container",
					"io.kubernetes.cri.container-name": "thief",
					"io.kubernetes.cri.sandbox-id":     pod.id,
					"io.kubernetes.cri.sandbox-uid":    uid,
					"io.kubernetes.cri.sandbox-name":   pod.name,
				}),
				oci.WithMounts([]specs.Mount{{Destination: "/steal", Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}))
			mustRefuseTask(t, ctx, c, nil, "hostPathVolumes", "which this container does not run in")
		})
	}
}

// TestRawTaskRootfsRefused: the root file system mounts of a Create request
// are judged like spec mounts: the node's "/" as root file system, a host
// directory or a second procfs mounted into the image are refused.
func TestRawTaskRootfsRefused(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	victim := filepath.Join(l.Run, "tmp", uniqueName(t))
	os.MkdirAll(victim, 0o755)
	t.Cleanup(func() { os.RemoveAll(victim) })
	for _, tc := range []struct {
		name  string
		extra []mount.Mount
		only  bool // the extra mounts replace the snapshot
		want  string
	}{
		{"the node's / as root file system", []mount.Mount{{Type: "bind", Source: "/", Options: []string{"rbind", "ro"}}}, true, `host path "/"`},
		{"a host directory in the image", []mount.Mount{{Type: "bind", Source: victim, Target: "home", Options: []string{"rbind", "rw"}}}, false, `targets "home"`},
		{"a second procfs in the image", []mount.Mount{{Type: "proc", Source: "proc", Target: "home"}}, false, `targets "home"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawContainer(t, ctx, nil, oci.WithProcessArgs("sh", "-c", "touch /home/pwned"))
			info, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rootfs := tc.extra
			if !tc.only {
				snap, err := client.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
				if err != nil {
					t.Fatal(err)
				}
				rootfs = append(snap, tc.extra...)
			}
			task, err := c.NewTask(ctx, cio.NullIO, containerd.WithRootFS(rootfs))
			if err == nil {
				task.Delete(ctx, containerd.WithProcessKill)
				t.Fatal("task with host rootfs mounts was created")
			}
			wantAll(t, err.Error(), "hostPathVolumes", "root file system mount", tc.want)
			assertAbsent(t, filepath.Join(victim, "pwned"))
		})
	}
}

// TestRawTaskRootfsOfAnotherContainerRefused: a Create request may not name
// a running container's writable layer (its snapshot's upper directory) as
// its own upper directory, a lower layer or a bind source: writing into, or
// reading, another container's root file system.
func TestRawTaskRootfsOfAnotherContainerRefused(t *testing.T) {
	ctx := testContext(t)
	victim := rawContainer(t, ctx, nil, oci.WithProcessArgs("sleep", "600"))
	vt, err := victim.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vt.Delete(context.Background(), containerd.WithProcessKill) })
	if err := vt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := victim.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := client.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil || len(vm) != 1 || vm[0].Type != "overlay" {
		t.Fatalf("the victim's snapshot mounts: %v %v", vm, err)
	}
	var upper string
	for _, o := range vm[0].Options {
		if v, ok := strings.CutPrefix(o, "upperdir="); ok {
			upper = v
		}
	}
	if upper == "" {
		t.Fatalf("no upperdir in %v", vm[0].Options)
	}
	for _, tc := range []struct {
		name string
		make func(own []mount.Mount) []mount.Mount
		want string
	}{
		{"its upper directory as ours", func(own []mount.Mount) []mount.Mount {
			m := own[0]
			m.Options = slices.Clone(m.Options)
			for i, o := range m.Options {
				if strings.HasPrefix(o, "upperdir=") {
					m.Options[i] = "upperdir=" + upper
				}
			}
			return []mount.Mount{m}
		}, "the writable layer of the root file system mounted at"},
		{"its upper directory as a lower layer", func(own []mount.Mount) []mount.Mount {
			m := own[0]
			m.Options = slices.Clone(m.Options)
			for i, o := range m.Options {
				if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
					m.Options[i] = "lowerdir=" + upper + ":" + v
				}
			}
			return []mount.Mount{m}
		}, "reads " + strconv.Quote(upper)},
		{"a bind of its upper directory", func([]mount.Mount) []mount.Mount {
			return []mount.Mount{{Type: "bind", Source: upper, Options: []string{"rbind", "ro"}}}
		}, "the writable layer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawContainer(t, ctx, nil, oci.WithProcessArgs("true"))
			ci, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			own, err := client.SnapshotService(ci.Snapshotter).Mounts(ctx, ci.SnapshotKey)
			if err != nil {
				t.Fatal(err)
			}
			task, err := c.NewTask(ctx, cio.NullIO, containerd.WithRootFS(tc.make(own)))
			if err == nil {
				task.Delete(ctx, containerd.WithProcessKill)
				t.Fatal("a task sharing a running container's writable layer was created")
			}
			wantAll(t, err.Error(), "hostPathVolumes", "root file system mount", tc.want)
		})
	}
}

// TestRawCgroupTakeoverRefused: a container may not run in another
// workload's cgroup (runc would move it in and rewrite that cgroup's limits)
// nor write cgroup core files through linux.resources.unified.
func TestRawCgroupTakeoverRefused(t *testing.T) {
	ctx := testContext(t)
	victim := exec.Command("sleep", "120")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	// The shim's test process's own cgroup (in the memory hierarchy) holds
	// the victim: a cgroup with a running process.
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", victim.Process.Pid))
	var own string
	for _, line := range strings.Split(string(b), "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && strings.Contains(parts[1], "memory") {
			own = parts[2]
		}
	}
	if own == "" || own == "/" {
		t.Fatalf("no memory cgroup of our own to play the victim: %q", b)
	}
	undoVictim := func() {}
	t.Cleanup(func() { undoVictim() })
	for _, tc := range []struct {
		name string
		opt  oci.SpecOpts
		want string
	}{
		{"another workload's cgroup", oci.WithCgroup(own), "does not end in the container's own ID"},
		{"a cgroup named after itself with a process in it", func(_ context.Context, _ oci.Client, c *containers.Container, s *oci.Spec) error {
			// the victim moves into a memory cgroup that bears the
			// container's ID: only the in-use check stands in the way
			dir := filepath.Join("/sys/fs/cgroup/memory/hlab-victim", c.ID)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			// undone right after the refusal, before the leftover check
			undoVictim = func() {
				os.WriteFile("/sys/fs/cgroup/memory/cgroup.procs", []byte(fmt.Sprint(victim.Process.Pid)), 0o644)
				os.Remove(dir)
				os.Remove(filepath.Dir(dir))
			}
			if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(victim.Process.Pid)), 0o644); err != nil {
				return err
			}
			s.Linux.CgroupsPath = "/hlab-victim/" + c.ID
			return nil
		}, "is the cgroup of running process"},
		{"cgroup.procs through unified", func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Linux.Resources.Unified = map[string]string{"cgroup.procs": fmt.Sprint(victim.Process.Pid)}
			return nil
		}, `writes cgroup file "cgroup.procs"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawContainer(t, ctx, nil, tc.opt)
			mustRefuseTask(t, ctx, c, nil, "cgroupsPath", tc.want)
			undoVictim()
		})
	}
}

// TestRawCheckpointRestoreRefused: checkpoint and restore run CRIU as the
// node's root on host paths the client names; both are refused.
func TestRawCheckpointRestoreRefused(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	c := rawContainer(t, ctx, nil)
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(l.Run, "tmp", uniqueName(t))
	t.Cleanup(func() { os.RemoveAll(dir) })
	_, err = client.TaskService().Checkpoint(ctx, &tasks.CheckpointTaskRequest{ContainerID: c.ID()})
	if err == nil {
		t.Fatal("checkpoint was accepted")
	}
	wantAll(t, err.Error(), "checkpoint/restore", "not supported by the hardened runtime")
	task.Delete(ctx, containerd.WithProcessKill)

	r := rawContainer(t, ctx, nil)
	info, err := r.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := client.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil {
		t.Fatal(err)
	}
	var rootfs []*types.Mount
	for _, m := range snap {
		rootfs = append(rootfs, &types.Mount{Type: m.Type, Source: m.Source, Options: m.Options})
	}
	_, err = client.TaskService().Create(ctx, &tasks.CreateTaskRequest{ContainerID: r.ID(), Rootfs: rootfs,
		Checkpoint: &types.Descriptor{MediaType: "application/vnd.containerd.container.criu.checkpoint.criu.tar",
			Digest: "sha256:" + strings.Repeat("0", 64), Annotations: map[string]string{"RestoreFromPath": dir}}})
	if err == nil {
		client.TaskService().Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: r.ID()})
		t.Fatal("restore from a host path was accepted")
	}
	wantAll(t, err.Error(), "checkpoint/restore", dir)
}

// TestRawProcessLimitsRefused: rlimits above the node's, realtime scheduling
// and I/O priority and an OOM-unkillable score are refused at Create, and an
// exec may carry none of them either; each refusal says how to fix it.
func TestRawProcessLimitsRefused(t *testing.T) {
	ctx := testContext(t)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	withProcess := func(f func(p *specs.Process)) oci.SpecOpts {
		return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			f(s.Process)
			return nil
		}
	}
	oom := -1000
	cases := []struct {
		name   string
		mutate func(p *specs.Process)
		want   []string
	}{
		{"RLIMIT_NOFILE above the node's", func(p *specs.Process) {
			p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: lim.Max + 1, Hard: lim.Max + 1}}
		}, []string{"processLimits", "RLIMIT_NOFILE", "fix: "}},
		{"RLIMIT_RTPRIO", func(p *specs.Process) {
			p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_RTPRIO", Soft: 99, Hard: 99}}
		}, []string{"processLimits", "RLIMIT_RTPRIO"}},
		{"SCHED_FIFO", func(p *specs.Process) {
			p.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO, Priority: 50}
		}, []string{"processLimits", "realtime policy", "fix: use SCHED_OTHER"}},
		{"realtime I/O class", func(p *specs.Process) {
			p.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_RT, Priority: 0}
		}, []string{"processLimits", "IOPRIO_CLASS_RT"}},
		{"OOM-unkillable", func(p *specs.Process) { p.OOMScoreAdj = &oom }, []string{"processLimits", "-1000"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := rawContainer(t, ctx, nil, withProcess(tc.mutate))
			mustRefuseTask(t, ctx, c, nil, append([]string{"refused by"}, tc.want...)...)
		})
	}
	for _, tc := range []struct {
		name   string
		mutate func(l *specs.Linux)
		want   []string
	}{
		{"RDT schemata of a shared group", func(l *specs.Linux) {
			l.IntelRdt = &specs.LinuxIntelRdt{ClosID: "system", L3CacheSchema: "L3:0=1"}
		}, []string{"processLimits", "linux.intelRdt", "does not own"}},
		{"LINUX32 personality", func(l *specs.Linux) {
			l.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
		}, []string{"processLimits", "linux.personality"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawContainer(t, ctx, nil, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
				tc.mutate(s.Linux)
				return nil
			})
			mustRefuseTask(t, ctx, c, nil, append([]string{"refused by"}, tc.want...)...)
		})
	}
	c := rawContainer(t, ctx, nil)
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	defer task.Kill(ctx, syscall.SIGKILL)
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		t.Run("exec "+tc.name, func(t *testing.T) {
			p := *spec.Process
			p.Args = []string{"true"}
			tc.mutate(&p)
			proc, err := task.Exec(ctx, fmt.Sprintf("lim-%d", i), &p, cio.NullIO)
			if err == nil {
				proc.Delete(ctx)
				t.Fatal("exec was accepted")
			}
			if !errdefs.IsPermissionDenied(err) {
				t.Errorf("%v is not PermissionDenied", err)
			}
			wantAll(t, err.Error(), "execEscalation", "fix: ")
		})
	}
	t.Run("an allowed exec still runs", func(t *testing.T) {
		p := *spec.Process
		p.Args = []string{"true"}
		proc, err := task.Exec(ctx, "lim-ok", &p, cio.NullIO)
		if err != nil {
			t.Fatal(err)
		}
		defer proc.Delete(ctx)
		st, err := proc.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := proc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if code := (<-st).ExitCode(); code != 0 {
			t.Fatalf("exit %d", code)
		}
	})
}

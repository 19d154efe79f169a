//go:build integration

package integration

import (
	"context"
	"encoding/json"
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

	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/userns"
)

// The tests in this file cover the user namespace every pod of the hardened
// class runs in: one range of 65,536 host IDs per pod from the node-wide
// allocator, shared by the pod's containers, released when the pod goes.

// podRange returns the allocator entry of a pod sandbox (fails without one).
func (l *lab) podRange(t *testing.T, ns, id string) userns.Entry {
	t.Helper()
	for _, e := range l.usernsEntries() {
		if e.Key == ns+"/"+id {
			return e
		}
	}
	t.Fatalf("no user namespace range for %s/%s in %s", ns, id, l.UsernsDir)
	return userns.Entry{}
}

// hostIDs returns the real UID and GID of a host process.
func hostIDs(t *testing.T, pid int) (uint32, uint32) {
	t.Helper()
	var uid, gid uint32
	for _, line := range strings.Split(readFile(t, fmt.Sprintf("/proc/%d/status", pid)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseUint(f[1], 10, 32)
		switch f[0] {
		case "Uid:":
			uid = uint32(v)
		case "Gid:":
			gid = uint32(v)
		}
	}
	return uid, gid
}

func owner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// startContainer creates and starts a container of the pod from a CRI
// container config; it is stopped and removed at cleanup.
func (p *criPod) startContainer(t *testing.T, ctx context.Context, cfg map[string]any) string {
	t.Helper()
	l := requireLab(t)
	out, err := l.crictl(ctx, "create", p.id, writeJSON(t, cfg), writeJSON(t, p.config))
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	id := strings.TrimSpace(lastLine(out))
	p.ctrs = append(p.ctrs, id)
	if out, err := l.crictl(ctx, "start", id); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	t.Cleanup(func() { l.stopRemove(t, context.Background(), id) })
	return id
}

// exec runs a command in a CRI container and returns its output.
func (l *lab) exec(t *testing.T, ctx context.Context, id string, args ...string) string {
	t.Helper()
	out, err := l.crictl(ctx, append([]string{"exec", id}, args...)...)
	if err != nil {
		t.Fatalf("exec %v in %s: %v\n%s", args, id, err, out)
	}
	return out
}

// TestCRIUserNamespace: a pod of the hardened class runs in a user namespace
// of its own. Its containers' root is a host ID of the pod's range (never
// host root) and root inside; the image's files are root's; what it writes
// to an emptyDir, an in-memory emptyDir and a writable tmpfs lands on the
// node as the pod's IDs; a secret readable only by root is readable; two
// containers share files through an emptyDir and see each other's
// processes; exec works with and without a terminal.
func TestCRIUserNamespace(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	pod, out, err := tryRunPod(t, ctx, "hardened", map[string]any{
		"security_context": map[string]any{"namespace_options": map[string]any{"pid": 0}}, // POD: shared
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rng := l.podRange(t, criNamespace, pod.id)
	if rng.Base < userns.DefaultFirstID || rng.Size != userns.Size || rng.Kubelet || rng.Pod != pod.name+"-uid" {
		t.Fatalf("pod range %+v: want %d IDs from the default window, for pod %s", rng, userns.Size, pod.name+"-uid")
	}
	vols := newPodVolumes(t, pod.name+"-uid")
	cache := vols.dir("volumes/kubernetes.io~empty-dir/cache")
	os.Chmod(cache, 0o777) // as kubelet makes an emptyDir
	mem := vols.tmpfs("volumes/kubernetes.io~empty-dir/mem")
	secret := vols.tmpfs("volumes/kubernetes.io~secret/token")
	if err := os.WriteFile(filepath.Join(secret, "key"), []byte("s3cret"), 0o400); err != nil {
		t.Fatal(err)
	}
	sharedPID := map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"pid": 0}}}
	create := func(name, cmd string, mounts []map[string]any) string {
		return pod.startContainer(t, ctx, containerCfg(name, mounts, sharedPID, map[string]any{"command": []string{"sh", "-c", cmd}}))
	}
	a := create("writer", "exec sleep 601", []map[string]any{
		{"container_path": "/cache", "host_path": cache},
		{"container_path": "/mem", "host_path": mem},
		{"container_path": "/token", "host_path": secret, "readonly": true},
	})
	b := create("reader", "exec sleep 602", []map[string]any{{"container_path": "/cache", "host_path": cache}})

	// root inside, a host ID of the pod's range outside
	pid := containerPid(t, ctx, a)
	if uid, gid := hostIDs(t, pid); uid != rng.Base || gid != rng.Base {
		t.Errorf("container root runs as host %d:%d, want the pod's base %d", uid, gid, rng.Base)
	}
	if got := strings.TrimSpace(l.exec(t, ctx, a, "id", "-u")); got != "0" {
		t.Errorf("id -u inside = %q, want 0", got)
	}
	if m := strings.Fields(l.exec(t, ctx, a, "cat", "/proc/self/uid_map")); len(m) != 3 || m[0] != "0" || m[1] != fmt.Sprint(rng.Base) || m[2] != "65536" {
		t.Errorf("uid_map inside = %v, want [0 %d 65536]", m, rng.Base)
	}
	for _, line := range strings.Split(l.exec(t, ctx, a, "ls", "-ln", "/"), "\n") {
		if f := strings.Fields(line); len(f) > 3 && (f[len(f)-1] == "bin" || f[len(f)-1] == "etc") && (f[2] != "0" || f[3] != "0") {
			t.Errorf("image files are not root's inside: %s", line)
		}
	}
	// writes land as the pod's IDs
	l.exec(t, ctx, a, "sh", "-c", "echo a > /cache/a && echo m > /mem/m && echo t > /tmp/t")
	for _, p := range []string{filepath.Join(cache, "a"), filepath.Join(mem, "m"), fmt.Sprintf("/proc/%d/root/tmp/t", pid)} {
		if uid, gid := owner(t, p); uid != rng.Base || gid != rng.Base {
			t.Errorf("%s is owned by host %d:%d, want the pod's %d", p, uid, gid, rng.Base)
		}
	}
	if got := l.exec(t, ctx, a, "cat", "/token/key"); !strings.Contains(got, "s3cret") {
		t.Errorf("the root-only secret is not readable: %q", got)
	}
	if _, err := l.crictl(ctx, "exec", a, "sh", "-c", "echo x > /token/x"); err == nil {
		t.Errorf("wrote into the read-only secret volume")
	}
	// the other container shares the emptyDir and the PID namespace
	if got := l.exec(t, ctx, b, "cat", "/cache/a"); !strings.Contains(got, "a") {
		t.Errorf("reader sees %q in the shared emptyDir", got)
	}
	l.exec(t, ctx, b, "sh", "-c", "echo b > /cache/b")
	if got := l.exec(t, ctx, a, "cat", "/cache/b"); !strings.Contains(got, "b") {
		t.Errorf("writer sees %q of the reader's file", got)
	}
	if got := l.exec(t, ctx, b, "ps"); !strings.Contains(got, "sleep 601") {
		t.Errorf("the reader does not see the writer's process:\n%s", got)
	}
	if uid, _ := hostIDs(t, containerPid(t, ctx, b)); uid != rng.Base {
		t.Errorf("the second container runs as host %d, not in the pod's range from %d", uid, rng.Base)
	}
	// exec with a terminal
	if got := l.exec(t, ctx, a, "sh", "-c", "test -t 0 && echo not-a-tty || echo no-tty"); !strings.Contains(got, "no-tty") {
		t.Errorf("exec without a terminal: %q", got)
	}
	// the pod's network sysctls are set in its network namespace, in the
	// container's terms
	if got := strings.Fields(l.exec(t, ctx, a, "cat", "/proc/sys/net/ipv4/ping_group_range")); len(got) != 2 || got[0] != "0" || got[1] != "65535" {
		t.Errorf("ping_group_range inside = %v, want the container's 0 65535", got)
	}
	// the shim did its work in the pod's network namespace on threads of
	// its own: the shim process is still in containerd's namespaces
	ctrdPid := strings.TrimSpace(readFile(t, l.env["LAB_CONTAINERD_PID_FILE"]))
	for _, pid := range l.shimProcessesFor(pod.id) {
		for _, ns := range []string{"net", "user", "mnt"} {
			want, err := os.Readlink(fmt.Sprintf("/proc/%s/ns/%s", ctrdPid, ns))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns)); got != want {
				t.Errorf("the pod's shim (pid %d) shows %s namespace %s, not containerd's %s", pid, ns, got, want)
			}
		}
	}
	// the audit record of the sandbox names the range
	found := false
	for _, r := range l.auditRecords(t, pod.id) {
		for _, c := range r.Changes {
			to, _ := json.Marshal(c.To)
			if c.Field == "linux.uidMappings" && strings.Contains(string(to), fmt.Sprintf(`"hostID":%d`, rng.Base)) {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no audit record of %s names its range %d", pod.id, rng.Base)
	}
}

// TestCRIUserNamespaceTerminal: stdio in the injected user namespace works
// as in kubelet's: logs, attach with and without a terminal, exec with one
// (TestCRIUserNamespace execs without).
func TestCRIUserNamespaceTerminal(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	pod := runPod(t, ctx, "hardened")
	id := pod.createContainer(t, ctx, "tty", "sh", "-c", "echo logged-line; exec sleep 600")
	if out, err := l.crictl(ctx, "start", id); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	defer l.stopRemove(t, ctx, id)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := l.crictl(ctx, "logs", id)
		if strings.Contains(out, "logged-line") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's log lacks its output: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// attach without a terminal: the container's stdin and stdout
	att := pod.startContainer(t, ctx, containerCfg("attach", nil, nil, map[string]any{"command": []string{"sh", "-c", "read line; echo got:$line; id -u"}, "stdin": true, "stdin_once": true}))
	cmd := exec.CommandContext(ctx, filepath.Join(l.Bin, "crictl"), "--runtime-endpoint", l.CRI, "--timeout", "60s", "attach", "-i", att)
	cmd.Stdin = strings.NewReader("hello\n")
	got, _ := cmd.CombinedOutput()
	if !strings.Contains(string(got), "got:hello\n0") {
		t.Errorf("attach without a terminal: %q", got)
	}
	// attach with a terminal: a shell on the container's tty
	attTTY := pod.startContainer(t, ctx, containerCfg("attach-tty", nil, nil, map[string]any{"command": []string{"sh"}, "stdin": true, "tty": true}))
	typed := exec.CommandContext(ctx, "bash", "-c", fmt.Sprintf("(sleep 1; printf 'id -u; tty\\nexit\\n') | script -qec '%s --runtime-endpoint %s --timeout 60s attach -i -t %s' /dev/null",
		filepath.Join(l.Bin, "crictl"), l.CRI, attTTY))
	got, _ = typed.CombinedOutput()
	if g := strings.ReplaceAll(string(got), "\r\n", "\n"); !strings.Contains(g, "\n0\n/dev/pts/0") {
		t.Errorf("attach with a terminal: %q", got)
	}

	out, err := l.crictlInTerminal(ctx, "exec", "-i", "-t", id, "sh", "-c", "tty && id -u")
	lines := strings.Split(strings.NewReplacer("\x00", "", "^@", "").Replace(out), "\n")
	if err != nil || !strings.HasPrefix(lines[0], "/dev/pts/") || !slices.Contains(lines, "0") {
		t.Fatalf("exec with a terminal: %v %q", err, out)
	}
}

// crictlInTerminal runs crictl with a terminal of its own (script(1)), as
// `crictl exec -it` needs, and returns its output with "\r\n" as "\n".
func (l *lab) crictlInTerminal(ctx context.Context, args ...string) (string, error) {
	quoted := []string{filepath.Join(l.Bin, "crictl"), "--runtime-endpoint", l.CRI, "--image-endpoint", l.CRI, "--timeout", "60s"}
	quoted = append(quoted, args...)
	for i, a := range quoted {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	cmd := exec.CommandContext(ctx, "script", "-qec", strings.Join(quoted, " "), "/dev/null")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	return strings.ReplaceAll(string(out), "\r\n", "\n"), err
}

// TestUserNamespaceRangesAreDisjointAndReleased: pods started at once get
// disjoint ranges, and 50 pods created and removed leave the allocator as
// it was.
func TestUserNamespaceRangesAreDisjointAndReleased(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	before := len(l.usernsEntries())
	const concurrent = 5
	type result struct {
		id  string
		err error
	}
	runp := func(name string) result {
		logDir := filepath.Join(l.Run, "pod-logs", name)
		os.MkdirAll(logDir, 0o755)
		defer os.RemoveAll(logDir)
		out, err := l.crictl(ctx, "runp", "--runtime", "hardened", writeJSON(t, podConfig(name, logDir)))
		if err != nil {
			return result{err: fmt.Errorf("%v: %s", err, out)}
		}
		return result{id: strings.TrimSpace(lastLine(out))}
	}
	remove := func(id string) error {
		if out, err := l.crictl(ctx, "stopp", id); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if out, err := l.crictl(ctx, "rmp", id); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	base := uniqueName(t)
	var ids []string
	var mu sync.Mutex
	batch := func(from int) {
		var wg sync.WaitGroup
		for i := from; i < from+concurrent; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := runp(fmt.Sprintf("%s-%d", base, i))
				mu.Lock()
				defer mu.Unlock()
				if r.err != nil {
					t.Errorf("pod %d: %v", i, r.err)
					return
				}
				ids = append(ids, r.id)
			}(i)
		}
		wg.Wait()
	}
	// the first batch: live at once, disjoint
	batch(0)
	var ranges []userns.Entry
	for _, id := range ids {
		ranges = append(ranges, l.podRange(t, criNamespace, id))
	}
	for i := range ranges {
		for j := i + 1; j < len(ranges); j++ {
			if ranges[i].Range.Overlaps(ranges[j].Range) {
				t.Errorf("concurrent pods share IDs: %+v and %+v", ranges[i], ranges[j])
			}
		}
	}
	for _, id := range ids {
		if err := remove(id); err != nil {
			t.Error(err)
		}
	}
	// then 50 pods in all, created and removed in batches
	for from := concurrent; from < 50; from += concurrent {
		ids = nil
		batch(from)
		for _, id := range ids {
			if err := remove(id); err != nil {
				t.Error(err)
			}
		}
	}
	if after := l.usernsEntries(); len(after) != before {
		t.Errorf("the allocator holds %d ranges after 50 pods came and went, %d before: %+v", len(after), before, after)
	}
}

// TestUserNamespaceRangeOfAKilledShim: a pod whose shim was killed with
// SIGKILL releases its range when it is removed (containerd's cleanup runs
// `shim delete` in its bundle).
func TestUserNamespaceRangeOfAKilledShim(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	name := uniqueName(t)
	logDir := filepath.Join(l.Run, "pod-logs", name)
	os.MkdirAll(logDir, 0o755)
	t.Cleanup(func() { os.RemoveAll(logDir) })
	out, err := l.crictl(ctx, "runp", "--runtime", "hardened", writeJSON(t, podConfig(name, logDir)))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	id := strings.TrimSpace(lastLine(out))
	rng := l.podRange(t, criNamespace, id)
	killShim(t, id)
	// containerd notices the dead shim and cleans up (`shim delete`)
	// asynchronously: removal succeeds once it has
	deadline := time.Now().Add(20 * time.Second)
	for {
		l.crictl(ctx, "stopp", id)
		out, err := l.crictl(ctx, "rmp", id)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("removing the pod of the killed shim: %v\n%s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, e := range l.usernsEntries() {
		if e.Key == criNamespace+"/"+id {
			t.Fatalf("range %s of the pod of a killed shim is still held", rng.Range)
		}
	}
	l.assertNoLeftovers(t, criNamespace, id)
}

// TestHostUsersFalsePodKeepsKubeletMapping: a pod that brings its own user
// namespace (hostUsers: false; kubelet chose the range) keeps it; a second
// pod with an overlapping range, and a raw spec mapping host root, are
// refused.
func TestHostUsersFalsePodKeepsKubeletMapping(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	const hostBase = 65536 * 40 // kubelet's allocator hands out blocks from 65536
	userNS := func(base int) map[string]any {
		ids := []map[string]any{{"host_id": base, "container_id": 0, "length": 65536}}
		return map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{
			"userns_options": map[string]any{"mode": 0, "uids": ids, "gids": ids}}}}
	}
	pod, out, err := tryRunPod(t, ctx, "hardened", userNS(hostBase))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	e := l.podRange(t, criNamespace, pod.id)
	if !e.Kubelet || e.Base != hostBase {
		t.Errorf("kubelet's range recorded as %+v, want base %d marked kubelet's", e, hostBase)
	}
	id := pod.startContainer(t, ctx, containerCfg("app", nil, userNS(hostBase), nil))
	if m := strings.Fields(l.exec(t, ctx, id, "cat", "/proc/self/uid_map")); len(m) != 3 || m[1] != fmt.Sprint(hostBase) {
		t.Errorf("uid_map = %v, want kubelet's host base %d", m, hostBase)
	}
	// another pod over the same IDs
	_, out, err = tryRunPod(t, ctx, "hardened", userNS(hostBase+4096))
	if err == nil {
		t.Fatalf("a second pod overlapping a live pod's IDs ran")
	}
	wantAll(t, out, "refused by userNamespace", "overlap", pod.id)

	// a raw spec mapping host root
	c := rawContainer(t, ctx, nil, oci.WithUserNamespace(
		[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}},
		[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}))
	mustRefuseTask(t, ctx, c, nil, "refused by userNamespace", "maps host ID 0")
}

// TestCtrContainerUserNamespace: a container of no pod (ctr, the Go client)
// gets a range of its own too, released when it is deleted.
func TestCtrContainerUserNamespace(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	tt := newTask(t, ctx, nil, "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u")
	e := l.podRange(t, testNamespace, tt.id)
	tt.start(t, ctx)
	if code := tt.wait(t, ctx); code != 0 {
		t.Fatalf("exit %d: %s %s", code, tt.stdout.String(), tt.stderr.String())
	}
	f := strings.Fields(tt.stdout.String())
	if len(f) != 7 || f[0] != "0" || f[1] != fmt.Sprint(e.Base) || f[3] != "0" || f[4] != fmt.Sprint(e.Base) || f[6] != "0" {
		t.Errorf("maps and id = %q, want root mapped to %d", tt.stdout.String(), e.Base)
	}
}

// TestUserNamespaceUnsupported: on a node whose runc cannot idmap mounts, a
// class with user_namespace = "required" refuses at Start, before anything
// runs, naming the reason; "if-supported" runs the container without one
// and records that.
func TestUserNamespaceUnsupported(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	dir := t.TempDir()
	fakeRunc := filepath.Join(dir, "runc-without-idmap")
	// runc as it is, but for features: a runc without idmapped mounts
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = features ]; then echo '{\"ociVersionMin\":\"1.0.0\",\"linux\":{\"mountExtensions\":{\"idmap\":{\"enabled\":false}}}}'; exit 0; fi\nexec %s \"$@\"\n",
		filepath.Join(l.Bin, "runc"))
	if err := os.WriteFile(fakeRunc, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"required", "if-supported"} {
		t.Run(mode, func(t *testing.T) {
			shim := classShim(t, "ns"+strings.ReplaceAll(mode, "-", ""), fakeRunc, fmt.Sprintf("user_namespace = %q", mode))
			c := rawContainerOf(t, ctx, shim, nil, oci.WithProcessArgs("cat", "/proc/self/uid_map"))
			if mode == "required" {
				mustRefuseTask(t, ctx, c, nil, "refused by userNamespace", "does not support idmapped mounts", `user_namespace = "required"`)
				// refused at Start: before the shim daemon or any process
				// of the container existed
				for _, r := range l.auditRecords(t, c.ID()) {
					if r.Decision == audit.Refused && r.Event != audit.EventStart {
						t.Errorf("refused at %s, not at start", r.Event)
					}
				}
				if len(l.auditRecords(t, c.ID())) == 0 {
					t.Errorf("no audit record of the refusal")
				}
				return
			}
			var stdout syncBuffer
			task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &stdout, &stdout), cio.WithFIFODir(l.FIFODir)))
			if err != nil {
				t.Fatal(err)
			}
			exit, _ := task.Wait(ctx)
			if err := task.Start(ctx); err != nil {
				t.Fatal(err)
			}
			<-exit
			task.Delete(ctx)
			if f := strings.Fields(stdout.String()); len(f) != 3 || f[1] != "0" {
				t.Errorf("uid_map = %q: want the node's (no user namespace)", stdout.String())
			}
			found := false
			for _, r := range l.auditRecords(t, c.ID()) {
				for _, ch := range r.Changes {
					if ch.Field == `linux.namespaces["user"]` && strings.Contains(fmt.Sprint(ch.To), "not supported on this node") {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("the audit log does not record that %s ran without a user namespace", c.ID())
			}
		})
	}
}

// TestUserNamespaceUnmappableFileSystem: a bind mount on a file system the
// kernel cannot idmap (overlayfs here, what containerd's image volumes are)
// is refused when writable, naming it, and mounted as it is when read-only.
func TestUserNamespaceUnmappableFileSystem(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	root := l.allowlistedDir(t)
	work := filepath.Join(root, uniqueName(t))
	lower, upper, wd, merged := filepath.Join(work, "lower"), filepath.Join(work, "upper"), filepath.Join(work, "work"), filepath.Join(work, "merged")
	for _, d := range []string{lower, upper, wd, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(lower, "marker"), []byte("from an overlay"), 0o644)
	if err := syscall.Mount("overlay", merged, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+wd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Unmount(merged, syscall.MNT_DETACH)
		os.RemoveAll(work)
	})
	pod := runPod(t, ctx, "hardened")
	for _, ro := range []bool{false, true} {
		name := "rw"
		if ro {
			name = "ro"
		}
		out, err := l.crictl(ctx, "create", pod.id, writeJSON(t, containerCfg(name, hostMount("/data", merged, ro), nil, nil)), writeJSON(t, pod.config))
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		id := strings.TrimSpace(lastLine(out))
		pod.ctrs = append(pod.ctrs, id)
		out, err = l.crictl(ctx, "start", id)
		if !ro {
			if err == nil {
				t.Fatalf("a writable overlay mount started: %s", out)
			}
			wantAll(t, out, "refused by userNamespace", `mount "/data" from "`+merged+`" is writable`, "cannot be idmapped", "cannot idmap a mount of this file system (magic 0x794c7630)", "mount the volume read-only")
			continue
		}
		if err != nil {
			t.Fatalf("a read-only overlay mount was refused: %s", out)
		}
		if got := l.exec(t, ctx, id, "cat", "/data/marker"); !strings.Contains(got, "from an overlay") {
			t.Errorf("reading the read-only overlay: %q", got)
		}
		if _, err := l.crictl(ctx, "exec", id, "touch", "/data/x"); err == nil {
			t.Errorf("wrote through the read-only mount")
		}
		l.stopRemove(t, ctx, id)
	}
}

//go:build integration

// Package integration holds the end-to-end tests: they drive the hardened
// runtime through a real containerd (Go client, ctr and CRI via crictl) in the
// project's lab. Bring the lab up first (`integration/lab/lab.sh up`); the
// tests fail, never skip, when it is not there.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lab is what the tests know of the running lab, read from its lab.env.
type lab struct {
	env map[string]string

	Address   string // containerd gRPC socket
	CRI       string // CRI endpoint (unix://...)
	Run       string // lab run directory
	Dir       string // lab directory (binaries, caches)
	State     string // containerd state directory
	HostsDir  string // certs.d directory resolving every registry to the lab registry
	RuncRoot  string // runc root of both handlers
	RunscRoot string // runsc root of the runsc and hardened-gvisor handlers
	ShimPath  string // the hardened shim binary containerd runs
	FIFODir   string // where the tests put stdio FIFOs
	Bin       string // lab binaries (ctr, crictl)
	CtrPath   string // ctr of the lab's containerd version
	MountInfo string // the mount table containerd and its shims see

	AuditLog        string // the hardened handlers' audit log
	KubeletRoot     string // the kubelet root the hardened classes are configured with
	ContainerdRoot  string // containerd's root directory
	FileClassConfig string // the hardened-file handler's class config (ConfigPath)
	ClassDir        string // the node class directory (every ConfigPath lies in it)
	UsernsDir       string // the lab classes' user namespace allocator state
}

var theLab *lab

func loadLab() (*lab, error) {
	path := os.Getenv("LAB_ENV")
	if path == "" {
		path = "/run/hlab/lab.env"
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("the lab is not up (%v): run `integration/lab/lab.sh up` or `make lab-up`", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		env[k] = strings.Trim(v, `"'`)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	l := &lab{env: env}
	need := func(dst *string, keys ...string) error {
		for _, k := range keys {
			if v := env[k]; v != "" {
				*dst = v
				return nil
			}
		}
		return fmt.Errorf("%s: none of %v set", path, keys)
	}
	for _, n := range []struct {
		dst  *string
		keys []string
	}{
		{&l.Address, []string{"CONTAINERD_ADDRESS"}},
		{&l.CRI, []string{"CONTAINER_RUNTIME_ENDPOINT", "CRI_ENDPOINT"}},
		{&l.Run, []string{"LAB_RUN"}},
		{&l.Dir, []string{"LAB_DIR"}},
		{&l.State, []string{"CONTAINERD_STATE", "LAB_STATE"}},
		{&l.HostsDir, []string{"LAB_HOSTS_DIR", "HOSTS_DIR"}},
		{&l.RuncRoot, []string{"RUNC_ROOT", "LAB_RUNC_ROOT"}},
		{&l.RunscRoot, []string{"LAB_RUNSC_ROOT"}},
		{&l.AuditLog, []string{"LAB_HARDENED_AUDIT_LOG"}},
		{&l.KubeletRoot, []string{"LAB_KUBELET_ROOT"}},
		{&l.ContainerdRoot, []string{"LAB_CONTAINERD_ROOT"}},
		{&l.FileClassConfig, []string{"LAB_FILE_CLASS_CONFIG"}},
		{&l.ClassDir, []string{"LAB_HARDENED_CLASS_DIR"}},
		{&l.UsernsDir, []string{"LAB_USERNS_DIR"}},
	} {
		if err := need(n.dst, n.keys...); err != nil {
			return nil, err
		}
	}
	l.Bin = filepath.Join(l.Dir, "bin")
	l.ShimPath = filepath.Join(l.Bin, "containerd-shim-hardened-v2")
	// another containerd on the lab (integration/lab/compat.sh) runs its own copy of the
	// shim, its own ctr, and lives in a mount namespace of its own
	if v := env["LAB_HARDENED_SHIM"]; v != "" && env["LAB_COMPAT_VERSION"] != "" {
		l.ShimPath = v
	}
	l.CtrPath = filepath.Join(l.Bin, "ctr")
	if v := env["LAB_CTR"]; v != "" {
		l.CtrPath = v
	}
	l.MountInfo = "/proc/self/mountinfo"
	if v := env["LAB_MOUNT_NS_PID"]; v != "" {
		l.MountInfo = "/proc/" + v + "/mountinfo"
	}
	// the lab's FIFO directory: the lab's classes allow stdio FIFOs there (allowed_log_dirs)
	l.FIFODir = filepath.Join(l.Run, "fifo")
	if err := os.MkdirAll(l.FIFODir, 0o700); err != nil {
		return nil, err
	}
	return l, nil
}

// run runs a lab binary and returns its combined output.
func (l *lab) run(ctx context.Context, name string, args ...string) (string, error) {
	bin := name
	if !filepath.IsAbs(name) {
		bin = filepath.Join(l.Bin, name)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "CONTAINER_RUNTIME_ENDPOINT="+l.CRI, "IMAGE_SERVICE_ENDPOINT="+l.CRI)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// ctr runs ctr against the lab's containerd.
func (l *lab) ctr(ctx context.Context, args ...string) (string, error) {
	return l.run(ctx, l.CtrPath, append([]string{"--address", l.Address}, args...)...)
}

// crictl runs crictl against the lab's CRI endpoint.
func (l *lab) crictl(ctx context.Context, args ...string) (string, error) {
	return l.run(ctx, "crictl", append([]string{"--runtime-endpoint", l.CRI, "--image-endpoint", l.CRI, "--timeout", "60s"}, args...)...)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func requireLab(t *testing.T) *lab {
	t.Helper()
	if theLab == nil {
		t.Fatal("lab not loaded")
	}
	return theLab
}

// envValue returns a lab.env value the test needs, failing the test when the lab has none.
func (l *lab) envValue(t *testing.T, key string) string {
	t.Helper()
	v := l.env[key]
	if v == "" {
		t.Fatalf("lab.env has no %s", key)
	}
	return v
}

// classShim gives the lab's shim a binary name of its own (a symlink in the
// lab's bin, containerd-shim-hardened<name>-v2) with a node class file: the
// lab's class paths, the runc binary given, and extra lines ("KEY = …" at the
// top, replacing the lab's value of KEY; "policy.KEY = …" in [policy]). It
// returns the shim's path, a runtime for rawContainerOf; both files go at the
// end of the test.
func classShim(t *testing.T, name, runc string, extra ...string) string {
	t.Helper()
	l := requireLab(t)
	bin := "containerd-shim-hardened" + name + "-v2"
	shim := filepath.Join(l.Bin, bin)
	if err := os.Symlink("containerd-shim-hardened-v2", shim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(shim) })
	top := map[string]string{
		"class_name": fmt.Sprintf("%q", "class-"+name), "binary_name": fmt.Sprintf("%q", runc), "root": fmt.Sprintf("%q", l.RuncRoot),
		"containerd_root": fmt.Sprintf("%q", l.ContainerdRoot), "kubelet_root": fmt.Sprintf("%q", l.KubeletRoot), "audit_log": fmt.Sprintf("%q", l.AuditLog),
	}
	order := []string{"class_name", "binary_name", "root", "containerd_root", "kubelet_root", "audit_log"}
	var pol []string
	for _, e := range extra {
		if rest, ok := strings.CutPrefix(e, "policy."); ok {
			pol = append(pol, rest)
			continue
		}
		k, v, _ := strings.Cut(e, "=")
		k = strings.TrimSpace(k)
		if _, ok := top[k]; !ok {
			order = append(order, k)
		}
		top[k] = strings.TrimSpace(v)
	}
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "%s = %s\n", k, top[k])
	}
	fmt.Fprintf(&b, "[userns]\nstate_dir = %q\n[policy]\nallowed_log_dirs = [%q]\n%s\n", l.UsernsDir, l.FIFODir, strings.Join(pol, "\n"))
	node := filepath.Join(l.ClassDir, bin+".toml")
	if err := os.WriteFile(node, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(node) })
	return shim
}

package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// fakeRunc writes a runc whose `features` reports idmapped mounts as given.
func fakeRunc(t *testing.T, idmap bool) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "runc")
	script := fmt.Sprintf("#!/bin/sh\necho '{\"linux\":{\"mountExtensions\":{\"idmap\":{\"enabled\":%t}}}}'\n", idmap)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUserNamespacesProbeAndCache(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: the kernel probe creates a user namespace and an idmapped mount")
	}
	cache := t.TempDir()
	ok := &runtimeclass.Class{}
	ok.Runtime, ok.BinaryName = "runc", fakeRunc(t, true)
	if err := UserNamespaces(ok, t.TempDir(), cache); err != nil {
		t.Fatalf("a runc with idmapped mounts on this kernel: %v", err)
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 2 || !strings.HasPrefix(entries[0].Name(), "support-fs-") || !strings.HasPrefix(entries[1].Name(), "support-runc-") {
		t.Fatalf("cache %v: want the answers for the file system and for runc", entries)
	}
	no := &runtimeclass.Class{}
	no.Runtime, no.BinaryName = "runc", fakeRunc(t, false)
	err := UserNamespaces(no, t.TempDir(), cache)
	if err == nil || !strings.Contains(err.Error(), "does not support idmapped mounts") || !strings.Contains(err.Error(), no.BinaryName) {
		t.Fatalf("a runc without idmapped mounts: %v", err)
	}
	// the answer is cached per runc binary: a second call (another shim
	// process: nothing in memory) reads it back
	probeCache.Clear()
	if err2 := UserNamespaces(no, t.TempDir(), cache); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("cached answer %v, want %v", err2, err)
	}
}

func TestIDMappable(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	if err := IDMappable(t.TempDir(), t.TempDir()); err != nil {
		t.Fatalf("the test's temporary directory cannot be idmapped: %v", err)
	}
	if err := IDMappable("/nonexistent/x", ""); !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("a missing path: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func TestApplyNetSysctlsOnlyNetwork(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	// refused before anything is written: a key that leaves /proc/sys/net
	err := ApplyNetSysctls("/proc/self/ns/net", map[string]string{"net/../kernel/core_pattern": "|/tmp/x"})
	if err == nil || !strings.Contains(err.Error(), "not a network sysctl") {
		t.Fatalf("a key outside /proc/sys/net: %v", err)
	}
	if err := ApplyNetSysctls("/nonexistent/netns", map[string]string{"net.ipv4.ping_group_range": "0 0"}); err == nil {
		t.Fatal("a missing network namespace was accepted")
	}
}

// TestInNetnsLeavesTheProcessAlone: work done in a pod's network namespace
// never leaves a thread of the shim there that the kernel would show as the
// process's namespace (/proc/<pid>/ns/net is the main thread's), however
// often it runs.
func TestInNetnsLeavesTheProcessAlone(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	before, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	// a new network namespace, held by a process of its own (a thread of
	// this one could be the main thread: the very mistake under test)
	holder := exec.Command("unshare", "--net", "sleep", "30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	path := fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
	for i := 0; i < 100; i++ {
		if ns, _ := os.Readlink(path); ns != "" && ns != before {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	pod, _ := os.Readlink(path)
	for i := 0; i < 50; i++ {
		var seen string
		if err := inNetns(path, func() error {
			var err error
			seen, err = os.Readlink("/proc/thread-self/ns/net")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if seen != pod {
			t.Fatalf("the work ran in %s, not the pod's %s", seen, pod)
		}
		if now, _ := os.Readlink("/proc/self/ns/net"); now != before {
			t.Fatalf("after %d runs the process shows network namespace %s, not its own %s", i+1, now, before)
		}
	}
}

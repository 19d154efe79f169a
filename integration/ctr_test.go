//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ctrRun runs `ctr run --rm` of busybox under the hardened runtime with the
// given class config file.
func ctrRun(t *testing.T, config, id string, args ...string) (string, error) {
	t.Helper()
	l := requireLab(t)
	ctx := testContext(t)
	t.Cleanup(func() { l.assertNoLeftovers(t, testNamespace, id) })
	base := []string{"-n", testNamespace, "run", "--rm", "--runtime", runtimeType,
		"--runtime-config-path", config, "--fifo-dir", l.FIFODir, busybox, id}
	return l.ctr(ctx, append(base, args...)...)
}

func TestCtrRun(t *testing.T) {
	out, err := ctrRun(t, classConfig, uniqueName(t), "sh", "-c", "echo hello-from-ctr; exit 3")
	if !strings.Contains(out, "hello-from-ctr") {
		t.Errorf("output %q", out)
	}
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("ctr run exit: %v, want exit status 3", err)
	}
}

// TestCtrBadConfigRefused: a broken class config fails the container before
// anything runs, with an error naming the file and the key.
func TestCtrBadConfigRefused(t *testing.T) {
	l := requireLab(t)
	for _, tc := range []struct {
		name, body string
		want       []string
		outside    bool
	}{
		{"unknown key", "class_name = \"x\"\nbinary = \"runc\"\n", []string{`unknown key "binary"`, "line 2"}, false},
		{"wrong type", "systemd_cgroup = \"yes\"\n", []string{`key "systemd_cgroup"`}, false},
		{"bad backend", "runtime = \"crun\"\n", []string{`key "runtime"`, "crun"}, false},
		{"missing file", "", []string{"no such file"}, false},
		{"outside the node class directory", "class_name = \"x\"\n", []string{"must name a file in the node class directory", l.ClassDir}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := l.ClassDir
			if tc.outside {
				dir = t.TempDir()
			}
			path := filepath.Join(dir, uniqueName(t)+".toml")
			t.Cleanup(func() { os.Remove(path) })
			if tc.body != "" {
				if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := ctrRun(t, path, uniqueName(t), "sh", "-c", "echo must-not-run")
			if err == nil {
				t.Fatalf("ctr run succeeded with a broken config: %s", out)
			}
			if strings.Contains(out, "must-not-run") {
				t.Fatalf("the container ran: %s", out)
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(out, w) {
					t.Errorf("error does not mention %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestCtrHardened: a container started with ctr (no CRI) is hardened too.
func TestCtrHardened(t *testing.T) {
	out, err := ctrRun(t, classConfig, uniqueName(t), "sh", "-c",
		"grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; touch /rootfs-write 2>&1; touch /tmp/ok && echo tmp-writable")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"CapEff:\t00000000000005fb", "NoNewPrivs:\t1", "Seccomp:\t2", "Read-only file system", "tmp-writable"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestCtrHostRootRefused: `ctr run --rootfs /` would make the host's root file
// system the container's; it is refused before anything runs.
func TestCtrHostRootRefused(t *testing.T) {
	l := requireLab(t)
	ctx := testContext(t)
	id := uniqueName(t)
	t.Cleanup(func() { l.assertNoLeftovers(t, testNamespace, id) })
	out, err := l.ctr(ctx, "-n", testNamespace, "run", "--rm", "--runtime", runtimeType, "--runtime-config-path", classConfig,
		"--fifo-dir", l.FIFODir, "--rootfs", "/", id, "/bin/true")
	if err == nil {
		t.Fatalf("ctr run --rootfs / succeeded: %s", out)
	}
	for _, want := range []string{"refused by hostPathVolumes", `the root file system is host path "/", outside the container's bundle`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

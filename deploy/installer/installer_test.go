//go:build linux

// Package installer_test runs the node installer script (hardened-node-installer.sh) against
// a host tree in a temporary directory: a kubectl that records its calls, a restart command
// that counts restarts, and the real shim binary validating the class files. The same script
// runs on a real kubelet in integration/lab/k8s.sh (make k8s-smoke).
package installer_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var shimBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "installer-test")
	if err != nil {
		panic(err)
	}
	shimBinary = filepath.Join(dir, "containerd-shim-hardened-v2")
	out, err := exec.Command("go", "build", "-o", shimBinary, "../../cmd/containerd-shim-hardened-v2").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		panic("building the shim: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const validateSpec = `{"ociVersion":"1.2.0","process":{"args":["/pause"],"cwd":"/"},"root":{"path":"rootfs","readonly":true},"linux":{}}`

// node is one fake node: its host tree, the classes ConfigMap and the tools' records.
type node struct {
	t           *testing.T
	dir         string
	host        string // HOST_ROOT
	classes     string // CLASSES_DIR
	restarts    string // one line per containerd restart
	kubectl     string // one line per kubectl call
	failRestart string
}

func newNode(t *testing.T, config string) *node {
	t.Helper()
	dir := t.TempDir()
	n := &node{t: t, dir: dir, host: filepath.Join(dir, "host"), classes: filepath.Join(dir, "classes"),
		restarts: filepath.Join(dir, "restarts"), kubectl: filepath.Join(dir, "kubectl.log"),
		failRestart: filepath.Join(dir, "fail-restart")}
	for _, d := range []string{n.host + "/etc/containerd", n.classes, dir + "/bin"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if config != "" {
		n.write(n.host+"/etc/containerd/config.toml", config)
	}
	n.write(n.classes+"/hardened.toml", "class_name = \"hardened\"\n")
	n.write(n.classes+"/hardened-audit.toml", "class_name = \"hardened-audit\"\nmode = \"audit\"\n")
	n.write(dir+"/spec.json", validateSpec)
	n.write(dir+"/bin/kubectl", "#!/bin/sh\necho \"$*\" >> "+n.kubectl+"\n")
	if err := os.Chmod(dir+"/bin/kubectl", 0o755); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) write(path, content string) {
	n.t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) read(path string) string {
	n.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		n.t.Fatal(err)
	}
	return string(b)
}

func (n *node) lines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// run runs the installer with the given command; it returns its output and whether it exited 0.
func (n *node) run(cmd string) (string, bool) {
	n.t.Helper()
	c := exec.Command("/bin/sh", "hardened-node-installer.sh", cmd)
	c.Env = append(os.Environ(),
		"PATH="+n.dir+"/bin:"+os.Getenv("PATH"),
		"HOST_ROOT="+n.host, "NODE_NAME=node-1", "CLASSES_DIR="+n.classes,
		"SHIM_SOURCE="+shimBinary, "VALIDATE_SPEC="+n.dir+"/spec.json",
		// the restart command sees HOST_ROOT; it fails while the fail-restart file exists
		`RESTART_COMMAND=test -d "$HOST_ROOT/etc" && ! test -e `+n.failRestart+` && echo restart >> `+n.restarts,
	)
	out, err := c.CombinedOutput()
	return string(out), err == nil
}

// tree lists every file and symlink under the host root with its content or target.
func (n *node) tree() string {
	n.t.Helper()
	var b strings.Builder
	var paths []string
	filepath.WalkDir(n.host, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != n.host {
			paths = append(paths, p)
		}
		return nil
	})
	sort.Strings(paths)
	for _, p := range paths {
		rel := strings.TrimPrefix(p, n.host)
		fi, err := os.Lstat(p)
		if err != nil {
			n.t.Fatal(err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			b.WriteString(rel + " -> " + target + "\n")
		case fi.IsDir():
			b.WriteString(rel + "/\n")
		default:
			b.WriteString(rel + " " + fi.Mode().String() + "\n" + n.read(p) + "\n")
		}
	}
	return b.String()
}

const dropin = "/etc/containerd/conf.d/hardened-runtime.toml"

func TestInstallAndUninstall(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		// the config after the install, "" when the install must not change it
		want string
	}{
		{"no imports", "version = 3\nroot = \"/x\"\n\n[grpc]\n  address = \"/y\"\n",
			"version = 3\nroot = \"/x\"\n\nimports = [\"" + dropin + "\"] # managed by hardened-node-installer\n[grpc]\n  address = \"/y\"\n"},
		{"no tables", "version = 2\n", "version = 2\nimports = [\"" + dropin + "\"] # managed by hardened-node-installer\n"},
		{"empty imports", "version = 3\nimports = []\n[grpc]\n", "version = 3\nimports = [\"" + dropin + "\", ]\n[grpc]\n"},
		{"imports over lines", "version = 3\nimports = [\"/a.toml\",\n  \"/b.toml\"]\n",
			"version = 3\nimports = [\"" + dropin + "\", \"/a.toml\",\n  \"/b.toml\"]\n"},
		{"a glob that covers the drop-in", "version = 3\nimports = ['/etc/containerd/conf.d/*.toml']\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, tc.config)
			before := n.tree()
			out, ok := n.run("apply")
			if !ok {
				t.Fatalf("install failed:\n%s", out)
			}
			want := tc.want
			if want == "" {
				want = tc.config
			}
			if got := n.read(n.host + "/etc/containerd/config.toml"); got != want {
				t.Errorf("config after install:\n%s\nwant:\n%s", got, want)
			}
			d := n.read(n.host + dropin)
			for _, c := range []string{"hardened", "hardened-audit"} {
				bin := "/opt/hardened-runtime/bin/containerd-shim-" + c + "-v2"
				if !strings.Contains(d, "runtimes."+c+"]\n  runtime_type = \"io.containerd.hardened.v2\"\n  runtime_path = \""+bin+"\"") {
					t.Errorf("drop-in lacks the handler %s:\n%s", c, d)
				}
				if got, want := n.read(n.host+"/etc/containerd/containerd-shim-"+c+"-v2.toml"), n.read(n.classes+"/"+c+".toml"); got != want {
					t.Errorf("class file %s = %q, want %q", c, got, want)
				}
			}
			if target, _ := os.Readlink(n.host + "/opt/hardened-runtime/bin/containerd-shim-hardened-audit-v2"); target != "containerd-shim-hardened-v2" {
				t.Errorf("hardened-audit binary name -> %q", target)
			}
			shim, _ := os.ReadFile(shimBinary)
			if got, _ := os.ReadFile(n.host + "/opt/hardened-runtime/bin/containerd-shim-hardened-v2"); !bytes.Equal(got, shim) {
				t.Error("the installed shim differs from the image's")
			}
			if got := n.lines(n.restarts); len(got) != 1 {
				t.Errorf("restarts after install = %d, want 1", len(got))
			}
			if got := n.lines(n.kubectl); len(got) != 1 || got[0] != "label node node-1 hardened-runtime.io/ready=true --overwrite" {
				t.Errorf("kubectl calls: %q", got)
			}

			// again: nothing changes, containerd is not restarted
			installed := n.tree()
			if out, ok := n.run("apply"); !ok {
				t.Fatalf("second install failed:\n%s", out)
			}
			if got := n.tree(); got != installed {
				t.Errorf("a second install changed the node:\n%s\nwant:\n%s", got, installed)
			}
			if got := n.lines(n.restarts); len(got) != 1 {
				t.Errorf("restarts after a second install = %d, want 1", len(got))
			}

			out, ok = n.run("uninstall")
			if !ok {
				t.Fatalf("uninstall failed:\n%s", out)
			}
			// the install directory's parent (/opt) was made by the install; everything else is gone
			if got := strings.Replace(n.tree(), "/opt/\n", "", 1); got != before {
				t.Errorf("after uninstall the node is\n%s\nwant (as before the install)\n%s", got, before)
			}
			if got := n.lines(n.restarts); len(got) != 2 {
				t.Errorf("restarts after uninstall = %d, want 2", len(got))
			}
			if got := n.lines(n.kubectl); got[len(got)-1] != "label node node-1 hardened-runtime.io/ready-" {
				t.Errorf("uninstall did not take the label off: %q", got)
			}
		})
	}
}

func TestInstallRefusesAndChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		prepare      func(n *node)
		want         string
	}{
		{"containerd 1.x config", "[grpc]\n", nil, "is a version 1 configuration (containerd 1.x)"},
		{"no config", "", nil, "config.toml does not exist"},
		{"an unknown key in a class", "version = 3\n", func(n *node) {
			n.write(n.classes+"/hardened.toml", "class_name = \"hardened\"\npolcy = 1\n")
		}, `class file hardened.toml: check: runtime class config`},
		{"a class name that cannot name a handler", "version = 3\n", func(n *node) {
			n.write(n.classes+"/Hardened_X.toml", "")
		}, `the class name "Hardened_X" must be lower-case`},
		{"a class file the installer did not write", "version = 3\n", func(n *node) {
			n.write(n.host+"/etc/containerd/containerd-shim-hardened-v2.toml", "mode = \"audit\"\n")
		}, "containerd-shim-hardened-v2.toml exists and was not written by the installer"},
		{"a drop-in the installer did not write", "version = 3\n", func(n *node) {
			os.MkdirAll(n.host+"/etc/containerd/conf.d", 0o755)
			n.write(n.host+dropin, "version = 3\n")
		}, "hardened-runtime.toml exists and was not written by the installer"},
		{"no classes", "version = 3\n", func(n *node) {
			os.Remove(n.classes + "/hardened.toml")
			os.Remove(n.classes + "/hardened-audit.toml")
		}, "no class files (*.toml)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, tc.config)
			if tc.prepare != nil {
				tc.prepare(n)
			}
			before := n.tree()
			out, ok := n.run("apply")
			if ok {
				t.Fatalf("install succeeded:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, out)
			}
			if got := n.tree(); got != before {
				t.Errorf("a refused install changed the node:\n%s\nwant:\n%s", got, before)
			}
			if n.lines(n.restarts) != nil || n.lines(n.kubectl) != nil {
				t.Errorf("a refused install restarted containerd (%q) or labelled the node (%q)", n.lines(n.restarts), n.lines(n.kubectl))
			}
		})
	}
}

// A restart that failed is done by the next install, although the files are in place by then.
func TestFailedRestartIsRetried(t *testing.T) {
	n := newNode(t, "version = 3\n")
	n.write(n.failRestart, "")
	out, ok := n.run("apply")
	if ok || !strings.Contains(out, "restarting containerd failed") {
		t.Fatalf("install with a failing restart: ok=%v\n%s", ok, out)
	}
	if n.lines(n.kubectl) != nil {
		t.Errorf("the node was labelled ready although containerd did not restart: %q", n.lines(n.kubectl))
	}
	os.Remove(n.failRestart)
	if out, ok := n.run("apply"); !ok {
		t.Fatalf("retry failed:\n%s", out)
	}
	if got := n.lines(n.restarts); len(got) != 1 {
		t.Errorf("the retry restarted containerd %d times, want 1", len(got))
	}
	if got := n.lines(n.kubectl); len(got) != 1 {
		t.Errorf("kubectl calls after the retry: %q", got)
	}
}

// A class taken out of the ConfigMap loses its handler, binary name and class file.
func TestRemovedClassIsUninstalled(t *testing.T) {
	n := newNode(t, "version = 3\n")
	if out, ok := n.run("apply"); !ok {
		t.Fatalf("install failed:\n%s", out)
	}
	os.Remove(n.classes + "/hardened-audit.toml")
	if out, ok := n.run("apply"); !ok {
		t.Fatalf("reinstall failed:\n%s", out)
	}
	for _, p := range []string{"/etc/containerd/containerd-shim-hardened-audit-v2.toml", "/opt/hardened-runtime/bin/containerd-shim-hardened-audit-v2"} {
		if _, err := os.Lstat(n.host + p); err == nil {
			t.Errorf("%s is left after its class was removed", p)
		}
	}
	if d := n.read(n.host + dropin); strings.Contains(d, "hardened-audit") || !strings.Contains(d, "runtimes.hardened]") {
		t.Errorf("drop-in after removing hardened-audit:\n%s", d)
	}
	if got := n.lines(n.restarts); len(got) != 2 {
		t.Errorf("restarts = %d, want 2 (install, class removed)", len(got))
	}
}

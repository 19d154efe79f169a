package runtimeclass

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

const bundle = "/run/lab/state/io.containerd.runtime.v2.task/k8s.io/abc"

// resolver returns a resolver whose node class directory is a fresh temp dir.
func resolver(t *testing.T) (Resolver, string) {
	dir := t.TempDir()
	t.Setenv(NodeConfigDirEnv, dir)
	return Resolver{Argv0: "/usr/local/bin/containerd-shim-hardened-v2"}, dir
}

func TestStateDir(t *testing.T) {
	for in, want := range map[string]string{
		bundle: "/run/lab/state",
		"/run/containerd/io.containerd.runtime.v2.task/default/x": "/run/containerd",
		"/tmp/bundle":                          "/run/containerd",
		"":                                     "/run/containerd",
		"/io.containerd.runtime.v2.task/ns/id": "/run/containerd",
		"relative/io.containerd.runtime.v2.task/ns/id": "/run/containerd",
	} {
		if got := StateDir(in); got != want {
			t.Errorf("StateDir(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNodeConfigPath(t *testing.T) {
	t.Setenv(NodeConfigDirEnv, "")
	if got := NodeConfigPath("/usr/bin/containerd-shim-hardened-v2"); got != "/etc/containerd/containerd-shim-hardened-v2.toml" {
		t.Errorf("got %s", got)
	}
	t.Setenv(NodeConfigDirEnv, "/run/x")
	if got := NodeConfigPath("containerd-shim-hardened-audit-v2"); got != "/run/x/containerd-shim-hardened-audit-v2.toml" {
		t.Errorf("got %s", got)
	}
}

func TestResolveNoOptionsDefaults(t *testing.T) {
	r, _ := resolver(t)
	for name, a := range map[string]*anypb.Any{"nil": nil, "empty": {}} {
		c, err := r.Resolve(a, bundle)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Source != SourceDefaults || c.ClassName != DefaultClassName || c.Runtime != BackendRunc ||
			c.BinaryName != "runc" || c.Root != "/run/lab/state/runc" || c.Mode != ModeEnforce || c.AuditLog != DefaultAuditLog {
			t.Fatalf("%s: got %+v", name, c)
		}
	}
}

func TestResolveNodeClassFile(t *testing.T) {
	r, dir := resolver(t)
	p := filepath.Join(dir, "containerd-shim-hardened-v2.toml")
	os.WriteFile(p, []byte("class_name = \"node\"\nmode = \"audit\"\nbinary_name = \"/opt/runc\"\n"), 0o644)
	c, err := r.Resolve(nil, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != p || c.ClassName != "node" || c.Mode != ModeAudit || c.BinaryName != "/opt/runc" {
		t.Fatalf("got %+v", c)
	}
	// runc options (CRI's user-namespace path) overlay the node class.
	a, _ := anypb.New(&runcoptions.Options{IoUid: 100000, IoGid: 100000})
	c, err = r.Resolve(a, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClassName != "node" || c.IoUID != 100000 || c.IoGID != 100000 || c.BinaryName != "/opt/runc" || !strings.Contains(c.Source, SourceRunc) {
		t.Fatalf("got %+v", c)
	}
	// A second binary name reads its own file.
	other := Resolver{Argv0: "containerd-shim-hardened-audit-v2"}
	if c, err := other.Resolve(nil, bundle); err != nil || c.Source != SourceDefaults {
		t.Fatalf("other binary: %+v %v", c, err)
	}
	// A broken node file is an error naming it.
	os.WriteFile(p, []byte("mode = 1\n"), 0o644)
	if _, err := r.Resolve(nil, bundle); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), `"mode"`) {
		t.Fatalf("broken node file: %v", err)
	}
}

// unpinned writes a node class file that lets request options replace it.
func unpinned(t *testing.T, dir string) {
	if err := os.WriteFile(filepath.Join(dir, "containerd-shim-hardened-v2.toml"), []byte("pinned = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestResolveInlineBody(t *testing.T) {
	r, dir := resolver(t)
	unpinned(t, dir)
	a, err := anypb.New(&runtimeoptions.Options{ConfigBody: []byte("class_name = \"untrusted\"\nbinary_name = \"/opt/runc\"\n")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Resolve(a, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != SourceInline || c.ClassName != "untrusted" || c.BinaryName != "/opt/runc" || c.Root != "/run/lab/state/runc" {
		t.Fatalf("got %+v", c)
	}
	bad, _ := anypb.New(&runtimeoptions.Options{ConfigBody: []byte("nope = 1\n")})
	if _, err := r.Resolve(bad, bundle); err == nil || !strings.Contains(err.Error(), SourceInline) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("bad inline body: %v", err)
	}
}

func TestResolveConfigPath(t *testing.T) {
	r, dir := resolver(t)
	unpinned(t, dir)
	p := filepath.Join(dir, "hardened.toml")
	if err := os.WriteFile(p, []byte("class_name = \"file-class\"\nroot = \"/run/x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, _ := anypb.New(&runtimeoptions.Options{ConfigPath: p, ConfigBody: []byte("ignored = true")})
	c, err := r.Resolve(a, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != p || c.ClassName != "file-class" || c.Root != "/run/x" {
		t.Fatalf("got %+v", c)
	}
	missing, _ := anypb.New(&runtimeoptions.Options{ConfigPath: p + ".missing"})
	if _, err := r.Resolve(missing, bundle); err == nil || !strings.Contains(err.Error(), p+".missing") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestResolveRuncOptions(t *testing.T) {
	r, dir := resolver(t)
	unpinned(t, dir)
	a, _ := anypb.New(&runcoptions.Options{BinaryName: "/lab/runc", Root: "/lab/root", SystemdCgroup: true})
	c, err := r.Resolve(a, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(c.Source, " + "+SourceRunc) || c.ClassName != DefaultClassName || c.BinaryName != "/lab/runc" || c.Root != "/lab/root" || !c.SystemdCgroup {
		t.Fatalf("got %+v", c)
	}
	if !IsRuntimeOptions(a) {
		t.Fatal("IsRuntimeOptions(runc options) = false")
	}
}

func TestResolveWrongType(t *testing.T) {
	r, _ := resolver(t)
	a, _ := anypb.New(&emptypb.Empty{})
	_, err := r.Resolve(a, bundle)
	if err == nil || !strings.Contains(err.Error(), "google.protobuf.Empty") {
		t.Fatalf("got %v", err)
	}
	if IsRuntimeOptions(a) {
		t.Fatal("IsRuntimeOptions(Empty) = true")
	}
	corrupt := &anypb.Any{TypeUrl: "type.googleapis.com/runtimeoptions.v1.Options", Value: []byte{0xff}}
	if _, err := r.Resolve(corrupt, bundle); err == nil {
		t.Fatal("corrupt options accepted")
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadSaved(dir); !os.IsNotExist(err) {
		t.Fatalf("LoadSaved(empty) = %v", err)
	}
	c := New(&Config{ClassName: "x", Mode: ModeAudit, Policy: PolicyConfig{Level: "restricted"}}, "test", bundle)
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := LoadSaved(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.ClassName != "x" || back.Mode != ModeAudit || back.Policy.Level != "restricted" || back.Root != c.Root || back.Source != "test" {
		t.Fatalf("got %+v", back)
	}
}

// TestConfigPathOnlyInTheNodeClassDirectory: the shim, as root, would open
// and parse any file a client names; only the node class directory is read.
func TestConfigPathOnlyInTheNodeClassDirectory(t *testing.T) {
	r, dir := resolver(t)
	outside := filepath.Join(t.TempDir(), "x.toml")
	os.WriteFile(outside, []byte("class_name = \"x\"\n"), 0o600)
	link := filepath.Join(dir, "link.toml")
	os.Symlink(outside, link)
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/shadow", outside, link, filepath.Join(dir, "..", filepath.Base(filepath.Dir(outside)), "x.toml")} {
		a, _ := anypb.New(&runtimeoptions.Options{ConfigPath: p})
		if _, err := r.Resolve(a, bundle); err == nil || !strings.Contains(err.Error(), "node class directory") {
			t.Errorf("ConfigPath %s: %v", p, err)
		}
	}
	a, _ := anypb.New(&runtimeoptions.Options{ConfigPath: fifo})
	done := make(chan error, 1)
	go func() { _, err := r.Resolve(a, bundle); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("FIFO ConfigPath: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a FIFO ConfigPath blocks")
	}
}

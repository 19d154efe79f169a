package runtimeclass

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

const bundle = "/run/lab/state/io.containerd.runtime.v2.task/k8s.io/abc"

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

func TestFromAnyDefaults(t *testing.T) {
	for name, a := range map[string]*anypb.Any{"nil": nil, "empty": {}} {
		c, err := FromAny(a, bundle)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Source != SourceDefaults || c.ClassName != DefaultClassName || c.Runtime != BackendRunc ||
			c.BinaryName != "runc" || c.Root != "/run/lab/state/runc" {
			t.Fatalf("%s: got %+v", name, c)
		}
	}
}

func TestFromAnyInlineBody(t *testing.T) {
	a, err := anypb.New(&runtimeoptions.Options{ConfigBody: []byte("class_name = \"untrusted\"\nbinary_name = \"/opt/runc\"\n")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromAny(a, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != SourceInline || c.ClassName != "untrusted" || c.BinaryName != "/opt/runc" || c.Root != "/run/lab/state/runc" {
		t.Fatalf("got %+v", c)
	}
	bad, _ := anypb.New(&runtimeoptions.Options{ConfigBody: []byte("nope = 1\n")})
	if _, err := FromAny(bad, bundle); err == nil || !strings.Contains(err.Error(), SourceInline) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("bad inline body: %v", err)
	}
}

func TestFromAnyConfigPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hardened.toml")
	if err := os.WriteFile(p, []byte("class_name = \"file-class\"\nroot = \"/run/x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, _ := anypb.New(&runtimeoptions.Options{ConfigPath: p, ConfigBody: []byte("ignored = true")})
	c, err := FromAny(a, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != p || c.ClassName != "file-class" || c.Root != "/run/x" {
		t.Fatalf("got %+v", c)
	}
	missing, _ := anypb.New(&runtimeoptions.Options{ConfigPath: p + ".missing"})
	if _, err := FromAny(missing, bundle); err == nil || !strings.Contains(err.Error(), p+".missing") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestFromAnyRuncOptions(t *testing.T) {
	a, _ := anypb.New(&runcoptions.Options{BinaryName: "/lab/runc", Root: "/lab/root", SystemdCgroup: true})
	c, err := FromAny(a, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != SourceRunc || c.ClassName != DefaultClassName || c.BinaryName != "/lab/runc" || c.Root != "/lab/root" || !c.SystemdCgroup {
		t.Fatalf("got %+v", c)
	}
	if !IsRuntimeOptions(a) {
		t.Fatal("IsRuntimeOptions(runc options) = false")
	}
}

func TestFromAnyWrongType(t *testing.T) {
	a, _ := anypb.New(&emptypb.Empty{})
	_, err := FromAny(a, bundle)
	if err == nil || !strings.Contains(err.Error(), "google.protobuf.Empty") {
		t.Fatalf("got %v", err)
	}
	if IsRuntimeOptions(a) {
		t.Fatal("IsRuntimeOptions(Empty) = true")
	}
	corrupt := &anypb.Any{TypeUrl: a.TypeUrl, Value: []byte{0xff}}
	corrupt.TypeUrl = "type.googleapis.com/runtimeoptions.v1.Options"
	if _, err := FromAny(corrupt, bundle); err == nil {
		t.Fatal("corrupt options accepted")
	}
}

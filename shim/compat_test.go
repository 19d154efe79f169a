//go:build linux

package shim

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// The start step tells containerd 2.3+'s bootstrap parameters from the runtime options (or
// nothing) that containerd 2.0–2.2 send, and builds the same parameters from the latter.
func TestBootstrapParams(t *testing.T) {
	a, err := parseShimArgs([]string{"-namespace", "k8s.io", "-address", "/run/c.sock", "-publish-binary", "/usr/bin/containerd", "-id", "abc", "-debug", "start"})
	if err != nil || a.action != "start" || a.id != "abc" || a.namespace != "k8s.io" || a.address != "/run/c.sock" || !a.debug {
		t.Fatalf("parseShimArgs: %+v %v", a, err)
	}
	opts, _ := anypb.New(&runtimeoptions.Options{ConfigPath: "/etc/hardened.toml"})
	optBytes, _ := proto.Marshal(opts)
	bp, _ := proto.Marshal(&bootapi.BootstrapParams{InstanceID: "abc", Namespace: "k8s.io", Extensions: []*bootapi.Extension{{Value: opts}}})
	other, _ := proto.Marshal(&bootapi.BootstrapParams{InstanceID: "other", Namespace: "k8s.io"})

	p, legacy, err := bootstrapParams(a, bp, "/run/c.sock.ttrpc")
	if err != nil || legacy || p.GetInstanceID() != "abc" || len(p.GetExtensions()) != 1 {
		t.Errorf("containerd 2.3+ parameters: legacy %v %v %v", legacy, p, err)
	}
	p, legacy, err = bootstrapParams(a, optBytes, "/run/c.sock.ttrpc")
	if err != nil || !legacy || p.GetInstanceID() != "abc" || p.GetNamespace() != "k8s.io" || p.GetContainerdGrpcAddress() != "/run/c.sock" ||
		p.GetContainerdTtrpcAddress() != "/run/c.sock.ttrpc" || p.GetContainerdBinary() != "/usr/bin/containerd" ||
		p.GetLogLevel() != bootapi.LogLevel_LOG_LEVEL_DEBUG || len(p.GetExtensions()) != 1 || !proto.Equal(p.GetExtensions()[0].GetValue(), opts) {
		t.Errorf("containerd 2.0–2.2 options: legacy %v %v %v", legacy, p, err)
	}
	p, legacy, err = bootstrapParams(a, nil, "")
	if err != nil || !legacy || len(p.GetExtensions()) != 0 {
		t.Errorf("no options: legacy %v %v %v", legacy, p, err)
	}
	// parameters of another container are not this start's: taken as options, and refused
	if _, _, err := bootstrapParams(a, other, ""); err == nil {
		t.Error("bootstrap parameters naming another instance were accepted")
	}
	if _, _, err := bootstrapParams(a, []byte("garbage"), ""); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("garbage on stdin: %v", err)
	}
}

// A containerd 2.0–2.2 daemon reads the JSON form of the result; a start step of containerd
// 2.3+ is left to the shim library with stdin intact.
func TestLegacyResultAndPassThrough(t *testing.T) {
	out, err := legacyResult(&bootapi.BootstrapResult{Version: 3, Address: "unix:///run/s/x", Protocol: "ttrpc"})
	var got map[string]any
	if err != nil || json.Unmarshal(out, &got) != nil || got["version"] != float64(3) || got["address"] != "unix:///run/s/x" || got["protocol"] != "ttrpc" {
		t.Errorf("legacy result %s %v", out, err)
	}
	if handled, _ := CompatStart([]string{"-id", "x", "delete"}, bytes.NewReader(nil), &bytes.Buffer{}, &bytes.Buffer{}); handled {
		t.Error("a delete step was taken over")
	}
	var stderr bytes.Buffer
	if handled, code := CompatStart([]string{"-namespace", "n", "-id", "x", "start"}, strings.NewReader("garbage"), &bytes.Buffer{}, &stderr); !handled || code != 1 || !strings.Contains(stderr.String(), "neither") {
		t.Errorf("a start step with garbage on stdin: handled %v code %d: %s", handled, code, stderr.String())
	}
}

func TestDaemonTooOld(t *testing.T) {
	for _, tc := range []struct {
		out     string
		version string
		old     bool
	}{
		{"containerd github.com/containerd/containerd v1.7.35 abcdef\n", "v1.7.35", true},
		{"containerd github.com/containerd/containerd/v2 v2.0.14 abcdef\n", "v2.0.14", false},
		{"containerd containerd.io 1.6.20 abcdef\n", "1.6.20", true},
		{"something else", "", false},
		{"", "", false},
	} {
		v, old := versionOutputOld(tc.out)
		if v != tc.version || old != tc.old {
			t.Errorf("versionOutputOld(%q) = %q, %v; want %q, %v", tc.out, v, old, tc.version, tc.old)
		}
	}
	// this test binary has build information naming this module: not containerd 1.x
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, old := daemonTooOld(self); old {
		t.Errorf("daemonTooOld(%s) = old", self)
	}
	if _, old := daemonTooOld(""); old {
		t.Error(`daemonTooOld("") = old`)
	}
}

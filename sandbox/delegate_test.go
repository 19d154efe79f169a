//go:build linux

package sandbox

import (
	"slices"
	"strings"
	"testing"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// A delegate's start step answers as containerd's shims do: a bootstrap result (2.3+), a
// JSON one or a plain address (older shims, Kata's); gRPC shims and unknown versions are
// refused with the reason.
func TestParseStartResult(t *testing.T) {
	b, err := proto.Marshal(&bootapi.BootstrapResult{Version: 3, Address: "unix:///run/s/abc", Protocol: "ttrpc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		out     []byte
		version int32
		addr    string
		err     string
	}{
		{"bootstrap result", b, 3, "unix:///run/s/abc", ""},
		{"JSON", []byte(`{"version":3,"address":"unix:///run/s/def","protocol":"ttrpc"}`), 3, "unix:///run/s/def", ""},
		{"plain address", []byte("unix:///run/containerd/s/0123\n"), 2, "unix:///run/containerd/s/0123", ""},
		{"gRPC", []byte(`{"version":3,"address":"unix:///run/s/g","protocol":"grpc"}`), 0, "", "only ttrpc"},
		{"future version", []byte(`{"version":4,"address":"unix:///run/s/x","protocol":"ttrpc"}`), 0, "", "version 4"},
		{"nothing", []byte("\n"), 0, "", "no address"},
	} {
		res, err := parseStartResult(tc.out)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || res.GetVersion() != tc.version || res.GetAddress() != tc.addr {
			t.Errorf("%s: %v %v, want version %d address %q", tc.name, res, err, tc.version, tc.addr)
		}
	}
}

// The delegate gets containerd's flags with an address of its own, so that its socket (a hash
// of the address, namespace and shim group) never is the hardened shim's.
func TestShimArgs(t *testing.T) {
	env := ShimEnv{Namespace: "k8s.io", Address: "/run/containerd/containerd.sock", Debug: true}
	args := shimArgs(env, "abc")
	i := slices.Index(args, "-address")
	if i < 0 || args[i+1] != env.Address+delegateAddressSuffix || args[i+1] == env.Address {
		t.Errorf("args %v: the delegate's -address must differ from containerd's", args)
	}
	for _, want := range []string{"-namespace", "k8s.io", "-id", "abc", "-debug"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v lack %q", args, want)
		}
	}
}

// A kata class without its delegate shim is refused at Start with the key that names it.
func TestKataCheck(t *testing.T) {
	c := &runtimeclass.Class{Config: runtimeclass.Config{ClassName: "k", Runtime: runtimeclass.BackendKata,
		Kata: runtimeclass.KataConfig{Shim: "/nonexistent/containerd-shim-kata-v2"}}}
	if err := (kata{}).Check(c); err == nil || !strings.Contains(err.Error(), "[kata] shim") {
		t.Errorf("a missing delegate: %v", err)
	}
	c.Kata.Shim = "/bin/true"
	c.Kata.ConfigPath = "/nonexistent/configuration.toml"
	if err := (kata{}).Check(c); err == nil || !strings.Contains(err.Error(), "[kata] config_path") {
		t.Errorf("a missing delegate configuration: %v", err)
	}
	c.Kata.ConfigPath = "/etc"
	if err := (kata{}).Check(c); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as the delegate configuration: %v", err)
	}
	c.Kata.ConfigPath = ""
	if err := (kata{}).Check(c); err != nil {
		t.Errorf("an existing delegate: %v", err)
	}
	if err := UserNamespaces(c, t.TempDir(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "user_namespaces") {
		t.Errorf("a delegate not declared to apply user namespaces: %v", err)
	}
}

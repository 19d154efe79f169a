//go:build linux

package shim

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func writeSpec(t *testing.T, s *specs.Spec) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	b, _ := json.Marshal(s)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunCheck(t *testing.T) {
	allowed := validSpec()
	allowed.Linux.Namespaces = []specs.LinuxNamespace{{Type: "network"}, {Type: "pid"}, {Type: "ipc"}, {Type: "mount"}, {Type: "uts"}}
	caps := []string{"CAP_CHOWN", "CAP_KILL"}
	allowed.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	refused := validSpec()
	refused.Mounts = []specs.Mount{{Destination: "/data", Type: "bind", Source: "/etc", Options: []string{"rbind"}}}
	refused.Linux.Namespaces = allowed.Linux.Namespaces
	refused.Process.Capabilities = allowed.Process.Capabilities
	cfgDir := t.TempDir()
	auditCfg := filepath.Join(cfgDir, "audit.toml")
	os.WriteFile(auditCfg, []byte("class_name = \"rollout\"\nmode = \"audit\"\naudit_log = \"-\"\n"), 0o644)
	badCfg := filepath.Join(cfgDir, "bad.toml")
	os.WriteFile(badCfg, []byte("mode = \"loud\"\n"), 0o644)

	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"allowed", []string{writeSpec(t, allowed)}, CheckAllowed, []string{"allowed", "would", "linux.maskedPaths"}},
		{"refused", []string{writeSpec(t, refused)}, CheckRefused, []string{
			`refused by hostPathVolumes: mount "/data" comes from host path "/etc" (runtime class "hardened", mode enforce)`}},
		{"audit mode", []string{"--config", auditCfg, writeSpec(t, refused)}, CheckAllowed, []string{"audited", `runtime class "rollout", mode audit`}},
		{"json", []string{"--json", writeSpec(t, refused)}, CheckRefused, []string{`"decision":"refused"`, `"check":"hostPathVolumes"`}},
		{"bad config", []string{"--config", badCfg, writeSpec(t, allowed)}, CheckBadInput, []string{badCfg, `"mode"`}},
		{"missing spec", []string{"/nonexistent/config.json"}, CheckBadInput, []string{"/nonexistent/config.json"}},
		{"no args", nil, CheckBadInput, []string{"usage"}},
		{"a FIFO (would block)", []string{fifoPath(t)}, CheckBadInput, []string{"not a regular file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := RunCheck(tc.args, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errb.String())
			}
			all := out.String() + errb.String()
			for _, w := range tc.out {
				if tc.name == "allowed" && w == "would" {
					if strings.Contains(all, "would change") {
						t.Errorf("enforce mode printed a would-be change: %s", all)
					}
					continue
				}
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestRefusalIsPermissionDenied(t *testing.T) {
	d := &decision{refused: true}
	d.record.Message = `container "app" refused by x: y (runtime class "hardened", mode enforce)`
	err := d.err()
	if !errdefs.IsPermissionDenied(err) {
		t.Fatalf("%v is not PermissionDenied", err)
	}
	if err.Error() != d.record.Message {
		t.Fatalf("message %q", err.Error())
	}
	if st := errgrpc.ToGRPC(err); !strings.Contains(st.Error(), "PermissionDenied") {
		t.Fatalf("gRPC error %v", st)
	}
	if (&decision{}).err() != nil {
		t.Fatal("allowed decision has an error")
	}
}

func TestInvokedAs(t *testing.T) {
	t.Setenv(argv0Env, "")
	if got := invokedAs(); got != os.Args[0] {
		t.Fatalf("without the variable: %q", got)
	}
	t.Setenv(argv0Env, "/usr/local/bin/containerd-shim-hardened-audit-v2")
	if got := invokedAs(); got != "/usr/local/bin/containerd-shim-hardened-audit-v2" {
		t.Fatalf("with the variable: %q", got)
	}
}

// fifoPath makes a FIFO nobody writes to: reading it would block forever.
func fifoPath(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "spec.fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

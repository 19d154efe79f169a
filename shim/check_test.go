//go:build linux

package shim

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	// user namespaces: a runc that reports idmapped mounts, and one that
	// does not, on containerd's root in a temporary directory
	usernsCfg := func(name string, idmap bool, extra string) string {
		runc := filepath.Join(cfgDir, name+"-runc")
		os.WriteFile(runc, []byte(fmt.Sprintf("#!/bin/sh\necho '{\"linux\":{\"mountExtensions\":{\"idmap\":{\"enabled\":%t}}}}'\n", idmap)), 0o755)
		p := filepath.Join(cfgDir, name+".toml")
		os.WriteFile(p, []byte(fmt.Sprintf("binary_name = %q\ncontainerd_root = %q\naudit_log = \"-\"\n%s\n[userns]\nstate_dir = %q\n",
			runc, t.TempDir(), extra, t.TempDir())), 0o644)
		return p
	}
	idmapCfg := usernsCfg("idmap", true, "")
	noIdmapCfg := usernsCfg("noidmap", false, "")
	ifSupportedCfg := usernsCfg("ifsupported", false, "user_namespace = \"if-supported\"")
	offCfg := usernsCfg("off", true, "user_namespace = \"off\"")

	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"allowed", []string{"--config", idmapCfg, writeSpec(t, allowed)}, CheckAllowed, []string{"allowed", "would", "linux.maskedPaths",
			`change linux.namespaces["user"]: null -> "new"`, `change linux.uidMappings: null -> "container IDs 0-65535 → a free range of 65536 host IDs in 2147483648-`, "drawn at Create"}},
		{"no idmapped mounts: required", []string{"--config", noIdmapCfg, writeSpec(t, allowed)}, CheckRefused, []string{
			"refused by userNamespace", "does not support idmapped mounts", `user_namespace = "required"`}},
		{"no idmapped mounts: if-supported", []string{"--config", ifSupportedCfg, writeSpec(t, allowed)}, CheckAllowed, []string{
			"allowed", `linux.namespaces["user"]: null -> "none: not supported on this node`}},
		{"user namespaces off", []string{"--config", offCfg, writeSpec(t, allowed)}, CheckAllowed, []string{"allowed", "linux.maskedPaths"}},
		{"refused", []string{writeSpec(t, refused)}, CheckRefused, []string{
			`refused by hostPathVolumes: mount "/data" comes from host path "/etc" (fix: replace volumes[].hostPath "/etc"`, `fix: replace volumes[].hostPath`, `(runtime class "hardened", mode enforce)`}},
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
			if tc.name == "user namespaces off" && strings.Contains(all, `linux.namespaces["user"]`) {
				t.Errorf("user_namespace = \"off\" changed the user namespace: %s", all)
			}
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

// TestRunCheckOffline: a spec captured on a node (the lab's CRI fixtures),
// moved off the paths it names, fails closed on this machine and is judged
// with the node's verdict by check --offline, which lists what it could not
// verify.
func TestRunCheckOffline(t *testing.T) {
	var meta struct{ KubeletRoot, ContainerdRoot, StateDir, CapBnd string }
	b, err := os.ReadFile("../policy/testdata/cri/meta.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const kubelet, ctrd, state = "/elsewhere/kubelet", "/elsewhere/containerd", "/elsewhere/run"
	cfg := filepath.Join(dir, "node.toml")
	os.WriteFile(cfg, []byte("audit_log = \"-\"\nkubelet_root = \""+kubelet+"\"\ncontainerd_root = \""+ctrd+"\"\n"), 0o644)
	move := func(name string) string {
		raw, err := os.ReadFile("../policy/testdata/cri/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		moved := strings.NewReplacer(meta.KubeletRoot, kubelet, meta.ContainerdRoot, ctrd, meta.StateDir, state).Replace(string(raw))
		p := filepath.Join(dir, name+".json")
		os.WriteFile(p, []byte(moved), 0o644)
		return p
	}
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		out     []string
		without []string
	}{
		{"on-node check fails closed", []string{"--config", cfg, "--state-dir", state, move("container-safe-volumes")}, CheckRefused,
			[]string{"cannot"}, nil},
		{"offline allows the pod's own volumes", []string{"--offline", "--config", cfg, "--state-dir", state, move("container-safe-volumes")}, CheckAllowed,
			[]string{"allowed", "unverified: secret volume \"token\"", "is taken as its pod's sandbox (pause) process", "symlinks in it are not resolved"}, []string{"violation"}},
		{"offline sandbox", []string{"--offline", "--config", cfg, "--state-dir", state, move("sandbox-default")}, CheckAllowed,
			[]string{"allowed", "unverified: the network namespace the pod sandbox joins is taken as the new one"}, nil},
		{"offline still refuses a hostPath", []string{"--offline", "--config", cfg, "--state-dir", state, move("container-hostpath-etc")}, CheckRefused,
			[]string{`comes from host path "/etc"`, "fix: replace volumes[].hostPath"}, nil},
		{"offline still refuses hostNetwork", []string{"--offline", "--config", cfg, "--state-dir", state, move("sandbox-hostnetwork")}, CheckRefused,
			[]string{"hostNetwork=true", "fix: set hostNetwork to false"}, nil},
		{"offline privileged with the node's caps", []string{"--offline", "--node-caps", meta.CapBnd, "--config", cfg, "--state-dir", state, move("container-privileged")}, CheckRefused,
			[]string{"holds every capability"}, nil},
		{"offline AppArmor", []string{"--offline", "--apparmor", "--config", cfg, "--state-dir", state, move("container-default")}, CheckRefused,
			[]string{"appArmorProfile"}, nil},
		{"offline JSON lists the unverified", []string{"--offline", "--json", "--config", cfg, "--state-dir", state, move("container-safe-volumes")}, CheckAllowed,
			[]string{`"unverified":[`, `"decision":"allowed"`}, nil},
		{"bad caps mask", []string{"--offline", "--node-caps", "zz", move("container-default")}, CheckBadInput, []string{"--node-caps"}, nil},
		{"node-caps needs offline", []string{"--node-caps", "1ff", move("container-default")}, CheckBadInput, []string{"need --offline"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := RunCheck(tc.args, &out, &errb)
			all := out.String() + errb.String()
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, all)
			}
			for _, w := range tc.out {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			for _, w := range tc.without {
				if strings.Contains(all, w) {
					t.Errorf("output has %q:\n%s", w, all)
				}
			}
		})
	}
}

package runtimeclass

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
)

func TestParseValid(t *testing.T) {
	c, err := Parse([]byte(`
class_name = "untrusted"
runtime = "runc"
binary_name = "/usr/local/bin/runc"
root = "/run/hardened/runc"
systemd_cgroup = true
shim_cgroup = "/podruntime/shims"
io_uid = 10
io_gid = 20
`), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{ClassName: "untrusted", Runtime: "runc", BinaryName: "/usr/local/bin/runc",
		Root: "/run/hardened/runc", SystemdCgroup: true, ShimCgroup: "/podruntime/shims", IoUID: 10, IoGID: 20}
	if !reflect.DeepEqual(*c, want) {
		t.Fatalf("got %+v, want %+v", *c, want)
	}
}

func TestParseErrorsNameSourceAndKey(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "class_name = \"a\"\nbinary = \"runc\"\n", []string{"cfg.toml", `unknown key "binary"`, "line 2"}},
		{"unknown nested key", "[policy]\nmode = \"enforce\"\n", []string{"cfg.toml", `"policy.mode"`, "line 2"}},
		{"unknown table", "[polcy]\nlevel = \"baseline\"\n", []string{"cfg.toml", `"polcy"`}},
		{"bad mode", "mode = \"warn\"\n", []string{"cfg.toml", `"mode"`, "warn"}},
		{"relative audit log", "audit_log = \"audit.log\"\n", []string{"cfg.toml", `"audit_log"`}},
		{"bad audit log max size", "audit_log_max_size = \"lots\"\n", []string{"cfg.toml", `"audit_log_max_size"`, "lots"}},
		{"tiny audit log max size", "audit_log_max_size = \"64Ki\"\n", []string{"cfg.toml", `"audit_log_max_size"`, "1Mi"}},
		{"negative audit log max size", "audit_log_max_size = \"-1Mi\"\n", []string{"cfg.toml", `"audit_log_max_size"`}},
		{"audit log max size type", "audit_log_max_size = 100\n", []string{"cfg.toml", `"audit_log_max_size"`}},
		{"zero audit log max files", "audit_log_max_files = 0\n", []string{"cfg.toml", `"audit_log_max_files"`, "between 1 and 1000"}},
		{"too many audit log files", "audit_log_max_files = 1001\n", []string{"cfg.toml", `"audit_log_max_files"`}},
		{"audit log max files type", "audit_log_max_files = \"5\"\n", []string{"cfg.toml", `"audit_log_max_files"`}},
		{"bad audit log min free", "audit_log_min_free = \"some\"\n", []string{"cfg.toml", `"audit_log_min_free"`, "some"}},
		{"bad level", "[policy]\nlevel = \"privileged\"\n", []string{"cfg.toml", `"policy.level"`}},
		{"bad unmasked_proc", "[policy]\nunmasked_proc = \"ignore\"\n", []string{"cfg.toml", `"policy.unmasked_proc"`}},
		{"allow root", "[[policy.allowed_host_paths]]\npath_prefix = \"/\"\n", []string{"cfg.toml", `"policy.allowed_host_paths[0].path_prefix"`}},
		{"allow relative", "[[policy.allowed_host_paths]]\npath_prefix = \"var/log\"\n", []string{"cfg.toml", "allowed_host_paths[0]"}},
		{"unknown check", "[policy]\ndisabled_checks = [\"privileged\", \"nope\"]\n", []string{"cfg.toml", `"policy.disabled_checks"`, `"nope"`}},
		{"relative kubelet root", "kubelet_root = \"kubelet\"\n", []string{"cfg.toml", `"kubelet_root"`}},
		{"bad seccomp profile", "[seccomp]\nprofile = \"strict\"\n", []string{"cfg.toml", `"seccomp.profile"`, "strict"}},
		{"missing seccomp file", "[seccomp]\nprofile = \"/nonexistent.json\"\n", []string{"cfg.toml", `"seccomp.profile"`, "/nonexistent.json"}},
		{"bad seccomp existing", "[seccomp]\nexisting = \"merge\"\n", []string{"cfg.toml", `"seccomp.existing"`}},
		{"bad capability preset", "[capabilities]\npreset = \"none\"\n", []string{"cfg.toml", `"capabilities.preset"`}},
		{"bad capability name", "[capabilities]\nallow = [\"CAP_FLY\"]\n", []string{"cfg.toml", `"capabilities.allow"`, "CAP_FLY"}},
		{"bad writable path", "[[rootfs.writable_paths]]\npath = \"tmp\"\n", []string{"cfg.toml", `"rootfs.writable_paths[0].path"`}},
		{"bad writable size", "[[rootfs.writable_paths]]\npath = \"/tmp\"\nsize = \"lots\"\n", []string{"cfg.toml", `"rootfs.writable_paths[0].size"`}},
		{"no_new_privileges type", "no_new_privileges = \"yes\"\n", []string{"cfg.toml", `"no_new_privileges"`}},
		{"allowed path typo", "[[policy.allowed_host_paths]]\npath = \"/var/log\"\n", []string{"cfg.toml", `"policy.allowed_host_paths.path"`}},
		{"wrong type", "systemd_cgroup = \"yes\"\n", []string{"cfg.toml", `"systemd_cgroup"`}},
		{"wrong type int", "io_uid = \"root\"\n", []string{"cfg.toml", `"io_uid"`}},
		{"negative uid", "io_uid = -1\n", []string{"cfg.toml", `"io_uid"`}},
		{"syntax", "class_name = \n", []string{"cfg.toml", "line 1"}},
		{"bad class name", "class_name = \"Not Valid\"\n", []string{"cfg.toml", `"class_name"`, "Not Valid"}},
		{"unknown backend", "runtime = \"crun\"\n", []string{"cfg.toml", `"runtime"`, "crun"}},
		{"relative delegate shim", "runtime = \"kata\"\n[kata]\nshim = \"bin/shim\"\n", []string{"cfg.toml", `"kata.shim"`, "absolute"}},
		{"relative delegate config", "runtime = \"kata\"\n[kata]\nconfig_path = \"kata.toml\"\n", []string{"cfg.toml", `"kata.config_path"`, "absolute"}},
		{"runsc kvm", "runtime = \"runsc\"\n[runsc]\nplatform = \"kvm\"\n", []string{"cfg.toml", `"runsc.platform"`, "kvm"}},
		{"runsc flag override", "runtime = \"runsc\"\n[runsc.flags]\nallow-flag-override = \"true\"\n", []string{"cfg.toml", `"runsc.flags.allow-flag-override"`, "annotations"}},
		{"runsc owned flag", "runtime = \"runsc\"\n[runsc.flags]\noci-seccomp = \"false\"\n", []string{"cfg.toml", `"runsc.flags.oci-seccomp"`, "always"}},
		{"runsc platform flag", "runtime = \"runsc\"\n[runsc.flags]\nplatform = \"kvm\"\n", []string{"cfg.toml", `"runsc.flags.platform"`}},
		{"runsc test-only flag", "runtime = \"runsc\"\n[runsc.flags]\nTESTONLY-test-name-env = \"x\"\n", []string{"cfg.toml", "TESTONLY"}},
		{"runsc rootless", "runtime = \"runsc\"\n[runsc.flags]\nrootless = \"true\"\n", []string{"cfg.toml", `"runsc.flags.rootless"`}},
		{"runsc flag with dashes", "runtime = \"runsc\"\n[runsc.flags]\n\"--net-raw\" = \"true\"\n", []string{"cfg.toml", "not a flag name"}},
		{"relative root", "root = \"run/x\"\n", []string{"cfg.toml", `"root"`, "absolute"}},
		{"relative binary path", "binary_name = \"bin/runc\"\n", []string{"cfg.toml", `"binary_name"`}},
		{"bad shim cgroup", "shim_cgroup = \"x\"\n", []string{"cfg.toml", `"shim_cgroup"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.body), "cfg.toml")
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestAuditOptions(t *testing.T) {
	c, err := Parse([]byte("audit_log_max_size = \"10Mi\"\naudit_log_max_files = 2\naudit_log_min_free = \"1Gi\"\n"), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	if o := New(c, "t.toml", "").AuditOptions(); o != (audit.Options{MaxSize: 10 << 20, MaxFiles: 2, MinFree: 1 << 30}) {
		t.Fatalf("got %+v", o)
	}
	if o := New(&Config{}, "defaults", "").AuditOptions(); o != audit.DefaultOptions() {
		t.Fatalf("defaults %+v", o)
	}
	c, err = Parse([]byte("audit_log_min_free = \"0\"\naudit_log_max_size = \"1048576\"\n"), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	if o := New(c, "t.toml", "").AuditOptions(); o.MinFree >= 0 || o.MaxSize != 1<<20 || o.MaxFiles != audit.DefaultMaxFiles {
		t.Fatalf("min_free 0 should turn the check off: %+v", o)
	}
}

func TestParseAcceptsContainerdOptionKeys(t *testing.T) {
	c, err := Parse([]byte("TypeUrl = \"x\"\nConfigPath = \"\"\nclass_name = \"a\"\n"), SourceInline)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClassName != "a" {
		t.Fatalf("class_name = %q", c.ClassName)
	}
}

func TestParseTooLarge(t *testing.T) {
	_, err := Parse(make([]byte, maxConfigSize+1), "big.toml")
	if err == nil || !strings.Contains(err.Error(), "big.toml") || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("got %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte("class_name = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(good); err != nil || c.ClassName != "x" {
		t.Fatalf("Load(good) = %+v, %v", c, err)
	}
	missing := filepath.Join(dir, "missing.toml")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Load(missing) = %v", err)
	}
	if _, err := Load("relative.toml"); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Fatalf("Load(relative) = %v", err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "regular file") {
		t.Fatalf("Load(dir) = %v", err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", maxConfigSize+10)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("Load(big) = %v", err)
	}
}

func TestHardenOptions(t *testing.T) {
	c, err := Parse([]byte(`
no_new_privileges = false
[seccomp]
profile = "runtime-default"
existing = "replace"
audit = true
[capabilities]
allow = ["chown", "CAP_KILL"]
[rootfs]
read_only = false
read_only_sys = false
[[rootfs.writable_paths]]
path = "/tmp"
size = "16Mi"
`), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	o, err := New(c, "t.toml", "").HardenOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.SeccompProfile != "runtime-default" || o.SeccompExisting != "replace" || !o.SeccompAudit || o.NoNewPrivileges ||
		o.ReadOnlyRootfs || o.ReadOnlySysfs || !reflect.DeepEqual(o.Capabilities, []string{"CAP_CHOWN", "CAP_KILL"}) ||
		len(o.WritablePaths) != 1 || o.WritablePaths[0].SizeBytes != 16<<20 {
		t.Fatalf("got %+v", o)
	}
	d, err := New(&Config{}, "defaults", "").HardenOptions()
	if err != nil || d.SeccompProfile != "hardened" || !d.NoNewPrivileges || !d.ReadOnlyRootfs || len(d.Capabilities) != 9 {
		t.Fatalf("defaults %+v %v", d, err)
	}
	r, _ := Parse([]byte("[capabilities]\npreset = \"restricted\"\n[seccomp]\nexisting = \"reject\"\n"), "r.toml")
	rc := New(r, "r.toml", "")
	if o, _ := rc.HardenOptions(); !reflect.DeepEqual(o.Capabilities, []string{"CAP_NET_BIND_SERVICE"}) {
		t.Fatalf("restricted %v", o.Capabilities)
	}
	if !rc.PolicyOptions().RejectOwnSeccomp {
		t.Fatal("existing = reject does not reach the policy")
	}
}

func TestWritablePathsEmptyListMeansNone(t *testing.T) {
	c, err := Parse([]byte("[rootfs]\nwritable_paths = []\n"), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	o, err := New(c, "t.toml", "").HardenOptions()
	if err != nil || len(o.WritablePaths) != 0 {
		t.Fatalf("%+v %v", o.WritablePaths, err)
	}
	d, _ := New(&Config{}, "d", "").HardenOptions()
	if len(d.WritablePaths) != 3 {
		t.Fatalf("defaults %+v", d.WritablePaths)
	}
}

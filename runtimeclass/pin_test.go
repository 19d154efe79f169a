package runtimeclass

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/types/known/anypb"
)

// tomlKeys lists the schema's keys as dotted TOML paths (tables one level
// deep, as setKeys reports them).
func tomlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && prefix == "" {
			keys = append(keys, tomlKeys(f.Type, tag+".")...)
			continue
		}
		keys = append(keys, prefix+tag)
	}
	return keys
}

// TestPinRulesCoverSchema fails when a key is added to the schema without a
// pinning rule: a new key must not be relaxable by a request by accident.
func TestPinRulesCoverSchema(t *testing.T) {
	for _, k := range tomlKeys(reflect.TypeOf(Config{}), "") {
		if _, ok := pinRules[k]; !ok {
			t.Errorf("config key %q has no pinning rule in pinRules", k)
		}
	}
}

func TestPinnedClassOnlyTightens(t *testing.T) {
	const node = `class_name = "hardened"
binary_name = "/usr/bin/runc"
audit_log = "/var/log/h/audit.log"
[policy]
level = "baseline"
disabled_checks = ["sysctls"]
[[policy.allowed_host_paths]]
path_prefix = "/var/log/pods"
read_only = true
[[policy.allowed_host_paths]]
path_prefix = "/data"
`
	for _, tc := range []struct {
		name string
		body string
		key  string // "" when allowed
		ok   func(c *Class) bool
	}{
		{"nothing", "", "", nil},
		{"a label", `class_name = "web"`, "", func(c *Class) bool { return c.ClassName == "web" }},
		{"same paths", "binary_name = \"/usr/bin/runc\"\naudit_log = \"/var/log/h/audit.log\"\n", "", nil},
		{"audit mode", `mode = "audit"`, "mode", nil},
		{"enforce mode", `mode = "enforce"`, "", nil},
		{"another runtime binary", `binary_name = "/tmp/evil"`, "binary_name", nil},
		{"another backend", `runtime = "runsc"`, "runtime", nil},
		{"another audit log", `audit_log = "/tmp/log"`, "audit_log", nil},
		{"another kubelet root", `kubelet_root = "/tmp/kubelet"`, "kubelet_root", nil},
		{"restricted level", "[policy]\nlevel = \"restricted\"", "", func(c *Class) bool { return c.Policy.Level == "restricted" }},
		{"disable a check", "[policy]\ndisabled_checks = [\"privileged\"]", "policy.disabled_checks", nil},
		{"disable fewer checks", "[policy]\ndisabled_checks = []", "", func(c *Class) bool { return len(c.Policy.DisabledChecks) == 0 }},
		{"allow another host path", "[[policy.allowed_host_paths]]\npath_prefix = \"/etc\"", "policy.allowed_host_paths", nil},
		{"allow a pinned path read-write", "[[policy.allowed_host_paths]]\npath_prefix = \"/var/log/pods\"", "policy.allowed_host_paths", nil},
		{"allow a narrower path", "[[policy.allowed_host_paths]]\npath_prefix = \"/data/app\"\nread_only = true", "", nil},
		{"allow a hook", "[policy]\nallowed_hooks = [\"/bin/sh\"]", "policy.allowed_hooks", nil},
		{"allow a log binary", "[policy]\nallowed_log_binaries = [\"/bin/sh\"]", "policy.allowed_log_binaries", nil},
		{"seccomp off", "[seccomp]\nprofile = \"none\"", "seccomp.profile", nil},
		{"seccomp keep", "[seccomp]\nexisting = \"keep\"", "seccomp.existing", nil},
		{"seccomp reject", "[seccomp]\nexisting = \"reject\"", "", nil},
		{"seccomp audit", "[seccomp]\naudit = true", "seccomp.audit", nil},
		{"more capabilities", "[capabilities]\nallow = [\"CHOWN\", \"SYS_ADMIN\"]", "capabilities.allow", nil},
		{"fewer capabilities", "[capabilities]\nallow = [\"CHOWN\"]", "", nil},
		{"restricted preset", "[capabilities]\npreset = \"restricted\"", "", nil},
		{"writable rootfs", "[rootfs]\nread_only = false", "rootfs.read_only", nil},
		{"more writable paths", "[[rootfs.writable_paths]]\npath = \"/var/lib\"", "rootfs.writable_paths", nil},
		{"bigger tmp", "[[rootfs.writable_paths]]\npath = \"/tmp\"\nsize = \"1G\"", "rootfs.writable_paths", nil},
		{"fewer writable paths", "[rootfs]\nwritable_paths = []", "", nil},
		{"no_new_privileges off", "no_new_privileges = false", "no_new_privileges", nil},
		{"unpin", "pinned = false", "pinned", nil},
		{"secrets on disk", "[policy]\nsecrets_in_memory = false", "policy.secrets_in_memory", nil},
		{"require seccomp", "[policy]\nrequire_seccomp = true", "", func(c *Class) bool { return c.Policy.RequireSeccomp }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, dir := resolver(t)
			if err := os.WriteFile(filepath.Join(dir, "containerd-shim-hardened-v2.toml"), []byte(node), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, via := range []string{"body", "path"} {
				ro := &runtimeoptions.Options{ConfigBody: []byte(tc.body)}
				if via == "path" {
					p := filepath.Join(dir, "req.toml")
					os.WriteFile(p, []byte(tc.body), 0o600)
					ro = &runtimeoptions.Options{ConfigPath: p}
				}
				if tc.body == "" && via == "path" {
					continue
				}
				a, _ := anypb.New(ro)
				c, err := r.Resolve(a, bundle)
				if tc.key == "" {
					if err != nil {
						t.Fatalf("%s: %v", via, err)
					}
					if tc.ok != nil && !tc.ok(c) {
						t.Fatalf("%s: got %+v", via, c.Config)
					}
					if c.BinaryName != "/usr/bin/runc" || c.AuditLog != "/var/log/h/audit.log" {
						t.Fatalf("%s: pinned paths lost: %+v", via, c.Config)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), "pinned") || !strings.Contains(err.Error(), `"`+tc.key+`"`) {
					t.Fatalf("%s: err %v, want a pinning refusal naming %q", via, err, tc.key)
				}
			}
		})
	}
}

// A pinned gVisor class: a request may not switch its backend, platform or runsc flags.
func TestPinnedRunscClass(t *testing.T) {
	const node = "runtime = \"runsc\"\nbinary_name = \"/usr/bin/runsc\"\n[runsc]\nplatform = \"systrap\"\n[runsc.flags]\nnet-raw = \"false\"\n"
	for _, tc := range []struct{ body, key string }{
		{`runtime = "runc"`, "runtime"},
		{"[runsc]\nplatform = \"ptrace\"", "runsc.platform"},
		{"[runsc.flags]\nnet-raw = \"true\"", "runsc.flags"},
		{"[runsc.flags]\nnet-raw = \"false\"\nnetwork = \"host\"", "runsc.flags"},
		{"", ""},
		{"[runsc]\nplatform = \"systrap\"", ""},
	} {
		checkPinnedRequest(t, node, tc.body, tc.key, func(c *Class) bool {
			return c.Runtime == BackendRunsc && c.Runsc.Platform == "systrap" && c.Runsc.Flags["net-raw"] == "false"
		})
	}
}

// checkPinnedRequest resolves a request body against node class file node: a refusal naming
// key when key is set, else a class that keeps what ok checks.
func checkPinnedRequest(t *testing.T, node, body, key string, ok func(*Class) bool) {
	t.Helper()
	r, dir := resolver(t)
	if err := os.WriteFile(filepath.Join(dir, "containerd-shim-hardened-v2.toml"), []byte(node), 0o600); err != nil {
		t.Fatal(err)
	}
	a, _ := anypb.New(&runtimeoptions.Options{ConfigBody: []byte(body)})
	c, err := r.Resolve(a, bundle)
	if key == "" {
		if err != nil || !ok(c) {
			t.Errorf("%q: %v %+v", body, err, c)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "pinned") || !strings.Contains(err.Error(), `"`+key+`"`) {
		t.Errorf("%q: err %v, want a pinning refusal naming %q", body, err, key)
	}
}

// A whole class with a [runsc] table must be a runsc class: a node class file, or a request
// that replaces an unpinned class. A pinned class's request fragment leaves runtime unset.
func TestRunscTableNeedsRunscRuntime(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cfg.toml")
	if err := os.WriteFile(file, []byte("[runsc]\nplatform = \"ptrace\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(file); err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), `"runsc"`) || !strings.Contains(err.Error(), "only applies to runtime") {
		t.Errorf("a node class file with [runsc] and no runsc runtime: %v", err)
	}
	if err := os.WriteFile(file, []byte("runtime = \"runsc\"\n[seccomp]\naudit = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(file); err == nil || !strings.Contains(err.Error(), `"seccomp.audit"`) {
		t.Errorf("a gVisor class auditing its seccomp profile: %v", err)
	}
	if _, err := Parse([]byte("[runsc]\nplatform = \"ptrace\"\n"), "fragment"); err != nil {
		t.Errorf("a request fragment: %v", err)
	}
	r, nodeDir := resolver(t)
	if err := os.WriteFile(filepath.Join(nodeDir, "containerd-shim-hardened-v2.toml"), []byte("pinned = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, _ := anypb.New(&runtimeoptions.Options{ConfigBody: []byte("[runsc]\nplatform = \"ptrace\"\n")})
	if _, err := r.Resolve(a, bundle); err == nil || !strings.Contains(err.Error(), "only applies to runtime") {
		t.Errorf("a request replacing an unpinned class with [runsc] and no runsc runtime: %v", err)
	}
}

// A pinned delegation class: a request may not switch its delegate shim, its config or what it
// declares of user namespaces; a whole class with [kata] must be a kata class.
func TestPinnedKataClass(t *testing.T) {
	const node = "runtime = \"kata\"\n[kata]\nshim = \"/usr/local/bin/containerd-shim-runc-v2\"\nuser_namespaces = true\n"
	for _, tc := range []struct{ body, key string }{
		{`runtime = "runc"`, "runtime"},
		{"[kata]\nshim = \"/tmp/evil-shim\"", "kata.shim"},
		{"[kata]\nconfig_path = \"/tmp/kata.toml\"", "kata.config_path"},
		{"[kata]\nuser_namespaces = false", "kata.user_namespaces"},
		{"", ""},
		{"[kata]\nshim = \"/usr/local/bin/containerd-shim-runc-v2\"", ""},
	} {
		checkPinnedRequest(t, node, tc.body, tc.key, func(c *Class) bool {
			return c.Runtime == BackendKata && c.Kata.Shim == "/usr/local/bin/containerd-shim-runc-v2" && c.Kata.UserNamespaces && c.BinaryName == "runc"
		})
	}
	file := filepath.Join(t.TempDir(), "cfg.toml")
	if err := os.WriteFile(file, []byte("[kata]\nshim = \"/usr/bin/containerd-shim-kata-v2\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(file); err == nil || !strings.Contains(err.Error(), `"kata"`) || !strings.Contains(err.Error(), "only applies to runtime") {
		t.Errorf("a node class file with [kata] and no kata runtime: %v", err)
	}
	if err := os.WriteFile(file, []byte("runtime = \"kata\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if c := (&Class{Config: *cfg}); true {
		c.fill(bundle)
		if c.Kata.Shim != DefaultKataShim || c.BinaryName != "runc" {
			t.Errorf("a kata class's defaults: shim %q binary %q", c.Kata.Shim, c.BinaryName)
		}
	}
}

func TestPinnedRuncOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *runcoptions.Options
		key  string
	}{
		{"stdio owner (CRI, user-namespaced pods)", &runcoptions.Options{IoUid: 100000, IoGid: 100000}, ""},
		{"same binary and root", &runcoptions.Options{BinaryName: "runc", Root: "/run/lab/state/runc"}, ""},
		{"another binary", &runcoptions.Options{BinaryName: "/tmp/evil"}, "BinaryName"},
		{"another root", &runcoptions.Options{Root: "/tmp/root"}, "Root"},
		{"systemd cgroup", &runcoptions.Options{SystemdCgroup: true}, "SystemdCgroup"},
		{"shim cgroup", &runcoptions.Options{ShimCgroup: "/x"}, "ShimCgroup"},
		{"no pivot_root", &runcoptions.Options{NoPivotRoot: true}, "NoPivotRoot"},
		{"no new keyring", &runcoptions.Options{NoNewKeyring: true}, "NoNewKeyring"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := resolver(t)
			a, _ := anypb.New(tc.opts)
			c, err := r.Resolve(a, bundle)
			if tc.key == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.IoUID != tc.opts.IoUid {
					t.Fatalf("stdio owner not applied: %+v", c.Config)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), `"`+tc.key+`"`) || !strings.Contains(err.Error(), "built-in defaults") {
				t.Fatalf("err %v, want a pinning refusal naming %q", err, tc.key)
			}
			// The saved class of a pod refuses them the same way (CRI app
			// containers reach Create without a start step).
			c, _ = r.Node(bundle)
			if err := c.ApplyAny(a); err == nil {
				t.Fatal("ApplyAny accepted relaxing runc options")
			}
		})
	}
}

package runtimeclass

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/internal/fuzzguard"
)

// The class fuzzers. `make fuzz` runs each for a bounded time.

// classSeeds are class configs as node admins and requests write them.
var classSeeds = []string{
	``,
	`class_name = "hardened"` + "\n" + `mode = "audit"`,
	"runtime = \"runsc\"\n[runsc]\nplatform = \"ptrace\"\n[runsc.flags]\nnet-raw = \"false\"\n",
	"runtime = \"kata\"\n[kata]\nshim = \"/usr/bin/containerd-shim-kata-v2\"\nuser_namespaces = true\n",
	"[seccomp]\nprofile = \"runtime/default\"\nexisting = \"keep\"\naudit = true\n[capabilities]\nallow = [\"CAP_CHOWN\"]\n",
	"[policy]\nlevel = \"restricted\"\ndisabled_checks = [\"sysctls\"]\n[[policy.allowed_host_paths]]\npath_prefix = \"/data\"\nread_only = true\n",
	"[rootfs]\nread_only = false\n[[rootfs.writable_paths]]\npath = \"/var/cache\"\nsize = \"64Mi\"\n",
	"user_namespace = \"if-supported\"\n[userns]\nstate_dir = \"/var/lib/x\"\n",
	"audit_log = \"/var/log/a.log\"\naudit_log_max_size = \"1Mi\"\naudit_log_max_files = 3\naudit_log_min_free = \"0\"\n",
	"pinned = false\nno_new_privileges = false\nbinary_name = \"/usr/bin/runc\"\nsystemd_cgroup = true\n",
}

// FuzzParseClass: any TOML: Parse answers (no panic, no hang), and a config
// it accepts makes a class whose options can be derived.
func FuzzParseClass(f *testing.F) {
	for _, s := range classSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzzguard.Watch(data)()
		cfg, err := Parse(data, "fuzz")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		c := New(cfg, "fuzz", "/run/containerd/io.containerd.runtime.v2.task/k8s.io/fuzz")
		_ = c.PolicyOptions()
		_ = c.PolicyMode()
		_, _ = c.HardenOptions()
	})
}

// FuzzResolveOptions: any runtime options a request brings (runtimeoptions
// with a ConfigBody, runc options, or bytes), over the built-in defaults
// (pinned): Resolve answers, and what it resolves is never weaker than the
// defaults (the property is read off the resolved class, independently of
// pin.go).
func FuzzResolveOptions(f *testing.F) {
	add := func(m proto.Message) {
		a, err := anypb.New(m)
		if err != nil {
			f.Fatal(err)
		}
		b, err := proto.Marshal(a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range classSeeds {
		add(&runtimeoptions.Options{ConfigBody: []byte(s)})
	}
	add(&runtimeoptions.Options{ConfigPath: "/etc/containerd/x.toml"})
	add(&runcoptions.Options{BinaryName: "/usr/bin/runc", Root: "/run/x", SystemdCgroup: true, IoUid: 1000, IoGid: 1000})
	add(&runcoptions.Options{NoPivotRoot: true, NoNewKeyring: true, CriuImagePath: "/tmp/x"})
	f.Add([]byte{})
	dir := f.TempDir()
	f.Setenv(NodeConfigDirEnv, dir) // no node class file: the built-in defaults, pinned
	r := Resolver{Argv0: "containerd-shim-hardened-v2"}
	defaults, err := r.Node("/run/containerd/io.containerd.runtime.v2.task/k8s.io/fuzz")
	if err != nil {
		f.Fatal(err)
	}
	defaultCaps := capsOf(f, defaults)
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzzguard.Watch(data)()
		var a anypb.Any
		if err := proto.Unmarshal(data, &a); err != nil {
			return
		}
		c, err := r.Resolve(&a, "/run/containerd/io.containerd.runtime.v2.task/k8s.io/fuzz")
		if err != nil {
			return
		}
		var weaker []string
		if c.PolicyMode() != defaults.PolicyMode() {
			weaker = append(weaker, fmt.Sprintf("mode %s", c.PolicyMode()))
		}
		if c.Runtime != defaults.Runtime {
			weaker = append(weaker, fmt.Sprintf("runtime %q", c.Runtime))
		}
		if c.Seccomp.Profile == "none" || c.Seccomp.Existing == "keep" {
			weaker = append(weaker, fmt.Sprintf("seccomp %+v", c.Seccomp))
		}
		if c.NoNewPrivileges != nil && !*c.NoNewPrivileges {
			weaker = append(weaker, "no_new_privileges false")
		}
		if c.Rootfs.ReadOnly != nil && !*c.Rootfs.ReadOnly {
			weaker = append(weaker, "rootfs.read_only false")
		}
		if c.UsernsMode() != defaults.UsernsMode() {
			weaker = append(weaker, "user_namespace "+c.UsernsMode())
		}
		if c.Pinned != nil && !*c.Pinned {
			weaker = append(weaker, "pinned false")
		}
		po := c.PolicyOptions()
		if len(c.Policy.DisabledChecks) > 0 || len(po.AllowedHostPaths) > 0 || len(po.AllowedHooks) > 0 || len(c.Policy.AllowedSeccompListeners) > 0 {
			weaker = append(weaker, fmt.Sprintf("policy %+v", c.Policy))
		}
		for _, cp := range capsOf(t, c) {
			if !slices.Contains(defaultCaps, cp) {
				weaker = append(weaker, "capability "+cp)
			}
		}
		if len(weaker) > 0 {
			t.Fatalf("request options (%s) resolved to a class weaker than the pinned defaults: %s", c.Source, strings.Join(weaker, "; "))
		}
	})
}

// capsOf is the capability allowlist the class's hardening applies.
func capsOf(t testing.TB, c *Class) []string {
	o, err := c.HardenOptions()
	if err != nil {
		t.Fatalf("a resolved class has no hardening options: %v", err)
	}
	return o.Capabilities
}

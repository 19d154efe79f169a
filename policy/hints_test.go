package policy

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// missingHints collects every (check, field shape) that some test's
// violation produced without a table entry: TestMain fails the package on
// any, so a new check or field cannot ship with the generic hint.
var (
	missingMu    sync.Mutex
	missingHints = map[string]bool{}
)

func TestMain(m *testing.M) {
	onMissingHint = func(check, shape string) {
		missingMu.Lock()
		missingHints[check+"|"+shape] = true
		missingMu.Unlock()
	}
	code := m.Run()
	if len(missingHints) > 0 {
		var keys []string
		for k := range missingHints {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(os.Stderr, "FAIL: violations without a fix hint (add them to hints.go): %s\n", strings.Join(keys, ", "))
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func TestFieldShape(t *testing.T) {
	for in, want := range map[string]string{
		`mounts["/data"].source`:           "mounts[].source",
		`mounts["/a]\"b"].options`:         "mounts[].options",
		`linux.sysctl["kernel.msgmax"]`:    "linux.sysctl[]",
		`linux.resources.devices[3]`:       "linux.resources.devices[]",
		`hooks.prestart[0].path`:           "hooks.prestart[].path",
		`process.capabilities.bounding`:    "process.capabilities.bounding",
		`linux.namespaces["network"].path`: "linux.namespaces[].path",
	} {
		if got := fieldShape(in); got != want {
			t.Errorf("fieldShape(%q) = %q, want %q", in, got, want)
		}
	}
	if got := fieldKey(`linux.sysctl["kernel.msgmax"]`); got != "kernel.msgmax" {
		t.Errorf("fieldKey = %q", got)
	}
}

// TestHints: each refusal names what to change, in the pod's terms or the
// class key a node admin could extend.
func TestHints(t *testing.T) {
	cases := []struct {
		name  string
		setup func(s *specs.Spec, h *fakeHost, o *Options)
		check string
		want  []string
	}{
		{"privileged caps", func(s *specs.Spec, _ *fakeHost, _ *Options) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")
		}, "", []string{"securityContext"}},
		{"host network", func(s *specs.Spec, _ *fakeHost, _ *Options) {
			dropNamespace(s, "network")
		}, "hostNamespaces", []string{"hostNetwork", "false"}},
		{"hostPath", func(s *specs.Spec, _ *fakeHost, _ *Options) {
			s.Mounts = append(s.Mounts, bindMount("/data", "/srv/data"))
		}, "hostPathVolumes", []string{"volumes[].hostPath", "policy.allowed_host_paths", "emptyDir"}},
		{"read-only allowlisted path mounted rw", func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/srv", ReadOnly: true}}
			s.Mounts = append(s.Mounts, bindMount("/data", "/srv/data"))
		}, "hostPathVolumes", []string{"readOnly: true"}},
		{"unsafe sysctl", func(s *specs.Spec, _ *fakeHost, _ *Options) {
			s.Linux.Sysctl = map[string]string{"kernel.msgmax": "1"}
		}, "sysctls", []string{"securityContext.sysctls", "net.ipv4.ip_unprivileged_port_start"}},
		{"hook", func(s *specs.Spec, _ *fakeHost, _ *Options) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/usr/bin/evil"}}}
		}, "hostActions", []string{"policy.allowed_hooks", `"/usr/bin/evil"`}},
		{"realtime scheduler", func(s *specs.Spec, _ *fakeHost, _ *Options) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO, Priority: 50}
		}, "processLimits", []string{"SCHED_OTHER"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost()
			s := criContainer(t, h)
			o := DefaultOptions()
			tc.setup(s, h, o)
			vs := evaluate(s, h, o)
			if len(vs) == 0 {
				t.Fatal("no violation")
			}
			for _, v := range vs {
				if tc.check != "" && v.Check != tc.check {
					continue
				}
				if v.Hint == "" {
					t.Fatalf("%s has no hint", v)
				}
				for _, w := range tc.want {
					if !strings.Contains(v.Hint, w) {
						t.Errorf("hint %q lacks %q", v.Hint, w)
					}
				}
				if !strings.Contains(v.String(), "(fix: "+v.Hint+")") {
					t.Errorf("String() %q lacks the hint", v.String())
				}
				return
			}
			t.Fatalf("no %s violation in %v", tc.check, vs)
		})
	}
}

func TestHintsOnExecUpdateIO(t *testing.T) {
	c := &specs.Process{User: specs.User{UID: 1000, GID: 1000}, Capabilities: &specs.LinuxCapabilities{}}
	e := &specs.Process{User: specs.User{UID: 0, GID: 1000}, Capabilities: &specs.LinuxCapabilities{}, Cwd: "/"}
	vs := EvaluateExec(c, e)
	if len(vs) == 0 || !strings.Contains(vs[0].Hint, "uid 1000") {
		t.Fatalf("exec hint: %v", vs)
	}
	io := EvaluateIO(IO{Stdout: "binary:///usr/bin/logger"}, "/run/containerd", DefaultOptions(), NodeHost{})
	if len(io) != 1 || !strings.Contains(io[0].Hint, "policy.allowed_log_binaries") {
		t.Fatalf("io hint: %v", io)
	}
	maj := int64(1)
	up := EvaluateUpdate(&specs.LinuxResources{}, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: &maj, Access: "rwm"}}})
	if len(up) != 1 || up[0].Hint == "" {
		t.Fatalf("update hint: %v", up)
	}
}

package policy

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cgroupHost is a fakeHost that knows which cgroups have processes.
type cgroupHost struct {
	*fakeHost
	procs map[string]int
}

func (h cgroupHost) CgroupInUse(path string) (int, error) { return h.procs[path], nil }

func TestCgroupsPath(t *testing.T) {
	for _, tc := range []struct {
		name, path, sandbox string
		want, reason        string
	}{
		{"containerd default", "/k8s.io/c1", "", "", ""},
		{"kubelet cgroupfs layout", "/kubepods/burstable/podabc/c1", "/kubepods/burstable/podabc/sb", "", ""},
		{"systemd driver", "kubepods-burstable-podabc.slice:cri-containerd:c1", "", "", ""},
		{"unset", "", "", "", ""},
		{"another workload's cgroup", "/system.slice/kubelet.service", "", "cgroupsPath", "does not end in the container's own ID"},
		{"named after itself, but in use", "/system.slice/c1", "", "cgroupsPath", "running process 4711"},
		{"the root cgroup", "/", "", "cgroupsPath", "does not end in the container's own ID"},
		{"dot-dot", "/k8s.io/../c1", "", "cgroupsPath", `".." element`},
		{"relative", "k8s.io/c1", "", "cgroupsPath", "relative"},
		{"outside its pod", "/c1", "/kubepods/burstable/podabc/sb", "cgroupsPath", "not beside its pod sandbox's"},
		{"systemd scope of another", "system.slice:docker:kubelet", "", "cgroupsPath", "not the container's own ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := cgroupHost{newFakeHost(), map[string]int{"/system.slice/c1": 4711}}
			s := criContainer(t, h.fakeHost)
			s.Linux.CgroupsPath = tc.path
			vs := Evaluate(&Input{Spec: s, ID: "c1", StateDir: testState, SandboxPID: testSandboxPID, SandboxUID: testPodUID,
				SandboxCgroup: tc.sandbox, Options: DefaultOptions(), Host: h})
			got := ""
			var reason string
			for _, v := range vs {
				if v.Check == "cgroupsPath" {
					got, reason = v.Check, v.Reason
				}
			}
			if got != tc.want || (tc.reason != "" && !strings.Contains(reason, tc.reason)) {
				t.Fatalf("violations %v, want %q with %q", vs, tc.want, tc.reason)
			}
		})
	}
}

func TestUnifiedKeys(t *testing.T) {
	for k, want := range map[string]bool{
		"memory.max": true, "cpu.weight": true, "pids.max": true, "io.max": true, "hugetlb.2MB.max": true,
		"cgroup.procs": false, "cgroup.kill": false, "cgroup.subtree_control": false, "cgroup.freeze": false,
		"../cgroup.procs": false, "memory.": false, "foo": false, "": false,
	} {
		vs := UnifiedRefusals(map[string]string{k: "1"}, "linux.resources.unified", "cgroupsPath")
		if (len(vs) == 0) != want {
			t.Errorf("unified key %q: violations %v, want allowed=%v", k, vs, want)
		}
	}
	h := newFakeHost()
	s := criContainer(t, h)
	s.Linux.Resources.Unified = map[string]string{"cgroup.procs": "1"}
	if vs := evaluate(s, h, nil); checkIDs(vs) != "cgroupsPath" {
		t.Fatalf("spec with unified cgroup.procs: %v", vs)
	}
	if vs := EvaluateUpdate(nil, &specs.LinuxResources{Unified: map[string]string{"cgroup.kill": "1"}}); len(vs) != 1 || vs[0].Check != UpdateCheckID {
		t.Fatalf("update with unified cgroup.kill: %v", vs)
	}
}

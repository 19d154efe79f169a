package policy

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func dropNamespace(s *specs.Spec, kind specs.LinuxNamespaceType) {
	var out []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != kind {
			out = append(out, ns)
		}
	}
	s.Linux.Namespaces = out
}

func TestHostNamespaces(t *testing.T) {
	runCases(t, []checkCase{
		{name: "no network namespace", setup: func(s *specs.Spec, h *fakeHost, o *Options) { dropNamespace(s, "network") },
			want: "hostNamespaces", reason: "hostNetwork=true", field: "linux.namespaces"},
		{name: "no pid namespace", setup: func(s *specs.Spec, h *fakeHost, o *Options) { dropNamespace(s, "pid") },
			want: "hostNamespaces", reason: "hostPID=true"},
		{name: "no ipc namespace", setup: func(s *specs.Spec, h *fakeHost, o *Options) { dropNamespace(s, "ipc") },
			want: "hostNamespaces", reason: "hostIPC=true"},
		{name: "joins the host network namespace by path", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			for i, ns := range s.Linux.Namespaces {
				if ns.Type == "network" {
					s.Linux.Namespaces[i].Path = "/proc/1/ns/net"
				}
			}
			h.ns["/proc/1/ns/net"] = h.hostNS["network"]
		}, want: "hostNamespaces", reason: `joins the host's network namespace through "/proc/1/ns/net"`, field: `linux.namespaces["network"].path`},
		{name: "joins another path to the host pid namespace", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			for i, ns := range s.Linux.Namespaces {
				if ns.Type == "pid" {
					s.Linux.Namespaces[i].Path = "/proc/777/ns/pid"
				}
			}
			h.ns["/proc/777/ns/pid"] = h.hostNS["pid"]
		}, want: "hostNamespaces", reason: "hostPID=true"},
		{name: "namespace path that does not exist", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			for i, ns := range s.Linux.Namespaces {
				if ns.Type == "ipc" {
					s.Linux.Namespaces[i].Path = "/proc/99999/ns/ipc"
				}
			}
		}, want: "hostNamespaces", reason: "cannot verify"},
		{name: "host /dev/shm bind", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "rw"}})
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/dev/shm"}}
		}, want: "hostNamespaces", reason: "host's /dev/shm"},
		{name: "sandbox's own namespaces", want: ""},
		{name: "joins another pod's namespace", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			setNSPath(s, "ipc", "/proc/5151/ns/ipc")
			h.ns["/proc/5151/ns/ipc"] = NSID{Dev: 4, Ino: 4026533333}
		}, want: "hostNamespaces", reason: "not its pod sandbox's", field: `linux.namespaces["ipc"].path`},
		{name: "joins a host process's mount namespace the shim cannot compare", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			setNSPath(s, "mount", "/proc/77/ns/mnt")
			h.ns["/proc/77/ns/mnt"] = NSID{Dev: 4, Ino: 4026530001}
			h.ns["/proc/4242/ns/mnt"] = NSID{Dev: 4, Ino: 4026532200}
		}, want: "hostNamespaces", reason: "not its pod sandbox's"},
		{name: "joins its sandbox's pid namespace by another path", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			h.ns["/proc/4242/ns/pid"] = NSID{Dev: 4, Ino: 4026532100}
			h.ns["/proc/4242/task/4242/ns/pid"] = NSID{Dev: 4, Ino: 4026532100}
			setNSPath(s, "pid", "/proc/4242/task/4242/ns/pid")
		}, want: ""},
	})
}

func setNSPath(s *specs.Spec, kind specs.LinuxNamespaceType, path string) {
	for i, ns := range s.Linux.Namespaces {
		if ns.Type == kind {
			s.Linux.Namespaces[i].Path = path
			return
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: kind, Path: path})
}

func TestNamespaceJoinWithoutPod(t *testing.T) {
	h := newFakeHost()
	s := criContainer(t, h)
	vs := Evaluate(&Input{Spec: s, ID: "c1", StateDir: testState, Options: DefaultOptions(), Host: h})
	if len(vs) != 2 || !strings.Contains(vs[0].Reason, "belongs to no pod sandbox this shim serves") {
		t.Fatalf("a container whose pod this shim does not serve joined namespaces by path: %v", vs)
	}
}

func TestSandboxJoinsOnlyANewNetworkNamespace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(s *specs.Spec, h *fakeHost)
		reason string
	}{
		{"new CNI netns", func(s *specs.Spec, h *fakeHost) {}, ""},
		{"netns another process is in", func(s *specs.Spec, h *fakeHost) {
			h.inUse = map[NSID]int{{Dev: 4, Ino: 4026534444}: 999}
		}, "process 999 is already in"},
		{"a network namespace the runtime did not create", func(s *specs.Spec, h *fakeHost) {
			setNSPath(s, "network", "/var/run/netns/vpn")
			h.ns["/var/run/netns/vpn"] = NSID{Dev: 4, Ino: 4026536666}
		}, "only one the runtime created for it"},
		{"CNI netns under containerd's state directory", func(s *specs.Spec, h *fakeHost) {
			p := testState + "/io.containerd.grpc.v1.cri/netns/cni-9"
			setNSPath(s, "network", p)
			h.ns[p] = NSID{Dev: 4, Ino: 4026537777}
		}, ""},
		{"user namespace containerd pinned for it", func(s *specs.Spec, h *fakeHost) {
			p := testState + "/io.containerd.grpc.v1.cri/sandboxes/" + testSandboxID + "/pinned-namespaces/user"
			setNSPath(s, "user", p)
			h.ns[p] = NSID{Dev: 4, Ino: 4026538888}
		}, ""},
		{"user namespace pinned for another sandbox", func(s *specs.Spec, h *fakeHost) {
			p := testState + "/io.containerd.grpc.v1.cri/sandboxes/" + strings.Repeat("b", 64) + "/pinned-namespaces/user"
			setNSPath(s, "user", p)
			h.ns[p] = NSID{Dev: 4, Ino: 4026538889}
		}, "only the one containerd pinned for it"},
		{"pinned user namespace a process is already in", func(s *specs.Spec, h *fakeHost) {
			p := testState + "/io.containerd.grpc.v1.cri/sandboxes/" + testSandboxID + "/pinned-namespaces/user"
			setNSPath(s, "user", p)
			h.ns[p] = NSID{Dev: 4, Ino: 4026538890}
			h.inUse = map[NSID]int{{Dev: 4, Ino: 4026538890}: 77}
		}, "process 77 is already in"},
		{"another kind by path", func(s *specs.Spec, h *fakeHost) {
			setNSPath(s, "ipc", "/proc/31/ns/ipc")
			h.ns["/proc/31/ns/ipc"] = NSID{Dev: 4, Ino: 4026535555}
		}, "only its network and user namespaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost()
			s := criContainer(t, h)
			s.Annotations[AnnotationContainerType] = ContainerTypeSandbox
			s.Linux.CgroupsPath = "/k8s.io/" + testSandboxID
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}}
			setNSPath(s, "network", "/var/run/netns/cni-1234")
			h.ns["/var/run/netns/cni-1234"] = NSID{Dev: 4, Ino: 4026534444}
			tc.setup(s, h)
			vs := Evaluate(&Input{Spec: s, ID: testSandboxID, StateDir: testState, Options: DefaultOptions(), Host: h})
			if tc.reason == "" {
				if len(vs) != 0 {
					t.Fatalf("violations %v", vs)
				}
				return
			}
			if len(vs) != 1 || vs[0].Check != "hostNamespaces" || !strings.Contains(vs[0].Reason, tc.reason) {
				t.Fatalf("violations %v, want one with %q", vs, tc.reason)
			}
		})
	}
}

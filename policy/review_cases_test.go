package policy

import (
	"errors"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// errHost fails to resolve one path.
type errHost struct {
	*fakeHost
	bad string
}

func (h errHost) Resolve(p string) (string, error) {
	if p == h.bad {
		return "", errors.New("too many links")
	}
	return h.fakeHost.Resolve(p)
}

// TestBypassAttempts are specs that try to get host access past the checks.
func TestBypassAttempts(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	runCases(t, []checkCase{
		{name: "sandbox-id with .. does not make every path the sandbox's", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Annotations[AnnotationSandboxID] = "../../../.."
			s.Mounts = append(s.Mounts, bindMount("/host", "/"))
		}, want: "hostPathVolumes", reason: `host path "/"`},
		{name: "pod UID with .. does not reach another pod", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Annotations[AnnotationSandboxUID] = "../other"
			s.Mounts = append(s.Mounts, bindMount("/steal", filepath.Join(kubelet, "pods/other/volumes/kubernetes.io~empty-dir/x")))
		}, want: "hostPathVolumes", reason: "which this container does not run in"},
		{name: "second proc mount", setup: withMount(specs.Mount{Destination: "/hostproc", Type: "proc", Source: "proc"}),
			want: "hostPathVolumes", reason: `may only be mounted at "/proc"`, field: `mounts["/hostproc"].destination`},
		{name: "sysfs elsewhere", setup: withMount(specs.Mount{Destination: "/sys2", Type: "sysfs", Source: "sysfs", Options: []string{"ro"}}),
			want: "hostPathVolumes", reason: `may only be mounted at "/sys"`},
		{name: "cgroup2 elsewhere", setup: withMount(specs.Mount{Destination: "/cg", Type: "cgroup2", Source: "cgroup2"}),
			want: "hostPathVolumes", reason: `may only be mounted at "/sys/fs/cgroup"`},
		{name: "sysfs rw at /sys/ (trailing slash)", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			for i := range s.Mounts {
				if s.Mounts[i].Destination == "/sys" {
					s.Mounts[i].Destination = "/sys/"
					s.Mounts[i].Options = []string{"rw"}
				}
			}
		}, want: "privileged", reason: "sysfs is mounted read-write"},
		{name: "bind source under /proc", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/proc"}}
			s.Mounts = append(s.Mounts, bindMount("/x", "/proc/4242/root/var/log/pods"))
		}, want: "hostPathVolumes", reason: "under /proc"},
		{name: "device rule with -1 wildcards", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "a", Major: i64(-1), Minor: i64(-1), Access: "rwm"})
		}, want: "privileged", reason: "every host device"},
		{name: "all block devices", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "b", Access: "rwm"})
		}, want: "privileged", reason: "block devices"},
		{name: "every char device", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "rw"})
		}, want: "privileged", reason: "every host c device"},
		{name: "host NIC moved in", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth0": {}}
		}, want: "privileged", reason: `"eth0"`},
		{name: "joins the host mount namespace", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			for i := range s.Linux.Namespaces {
				if s.Linux.Namespaces[i].Type == "mount" {
					s.Linux.Namespaces[i].Path = "/proc/1/ns/mnt"
				}
			}
			h.ns["/proc/1/ns/mnt"] = h.hostNS["mount"]
		}, want: "hostNamespaces", reason: "host's mount namespace"},
	})
	t.Run("root outside the bundle", func(t *testing.T) {
		h := newFakeHost()
		s := criContainer(t, h)
		bundle := testState + "/io.containerd.runtime.v2.task/default/c"
		in := &Input{Spec: s, ID: "c1", StateDir: testState, Bundle: bundle, SandboxPID: testSandboxPID, SandboxUID: testPodUID, Options: DefaultOptions(), Host: h}
		if vs := Evaluate(in); len(vs) != 0 {
			t.Fatalf("relative root refused: %v", vs)
		}
		s.Root.Path = bundle + "/rootfs"
		if vs := Evaluate(in); len(vs) != 0 {
			t.Fatalf("absolute root in the bundle refused: %v", vs)
		}
		s.Root.Path = "/"
		if vs := Evaluate(in); checkIDs(vs) != "hostPathVolumes" || vs[0].Field != "root.path" {
			t.Fatalf("host root: %v", vs)
		}
	})
	t.Run("unresolvable fails closed", func(t *testing.T) {
		h := newFakeHost()
		s := criContainer(t, h)
		o := DefaultOptions()
		o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/allowed"}}
		s.Mounts = append(s.Mounts, bindMount("/x", "/allowed/loop"))
		vs := Evaluate(&Input{Spec: s, ID: "c1", StateDir: testState, SandboxPID: testSandboxPID, SandboxUID: testPodUID, Options: o, Host: errHost{h, "/allowed/loop"}})
		if checkIDs(vs) != "hostPathVolumes" {
			t.Fatalf("%v", vs)
		}
	})
}

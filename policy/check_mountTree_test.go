package policy

import (
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestMountTree(t *testing.T) {
	emptyDir := filepath.Join(podDir(testPodUID), "volumes/kubernetes.io~empty-dir/cache")
	roLogs := func(s *specs.Spec, h *fakeHost, o *Options) {
		o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/var/log/pods", ReadOnly: true}}
		s.Mounts = append(s.Mounts, bindMount("/logs", "/var/log/pods", "ro"))
	}
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	userNS := func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
		s.Linux.UIDMappings, s.Linux.GIDMappings = maps, maps
	}
	runCases(t, []checkCase{
		{name: "rrw bind makes the node's read-only submounts writable", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/data"}}
			s.Mounts = append(s.Mounts, bindMount("/data", "/data", "rrw"))
		}, want: "mountTree", reason: `carries "rrw"`, field: `mounts["/data"].options`},
		{name: "rw bind of an allowed read-write path", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/data"}}
			s.Mounts = append(s.Mounts, bindMount("/data", "/data", "rw"))
		}, want: ""},
		{name: "remount mqueue over /sys turns it read-write", setup: withMount(specs.Mount{Destination: "/sys", Type: "mqueue", Source: "mqueue", Options: []string{"remount", "rw"}}),
			want: "mountTree,privileged", reason: `carries "remount": runc changes the sysfs mount of entry`, field: `mounts["/sys"].options`},
		{name: "remount devpts over /sys/fs/cgroup", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup2", Options: []string{"ro"}},
				specs.Mount{Destination: "/sys/fs/cgroup/", Type: "devpts", Source: "devpts", Options: []string{"remount"}})
		}, want: "mountTree,privileged", reason: "cgroup2 mount"},
		{name: "remount read-only again is still a remount", setup: withMount(specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"remount", "ro"}}),
			want: "mountTree", reason: `"remount"`},
		{name: "remount of a path the spec does not mount (image mount point)", setup: withMount(specs.Mount{Destination: "/data", Type: "bind", Source: "/x", Options: []string{"remount", "bind", "rw"}}),
			want: "hostPathVolumes,mountTree", reason: `comes from host path "/x"`},
		{name: "remount turns a read-only allowlisted host path writable", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			roLogs(s, h, o)
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/logs", Type: "devpts", Source: "devpts", Options: []string{"remount"}})
		}, want: "mountTree,mountTree", reason: `"remount"`},
		{name: "read-only allowlisted host path", setup: roLogs, want: ""},
		{name: "rrw after ro on a read-only allowlisted path is writable", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/var/log/pods", ReadOnly: true}}
			s.Mounts = append(s.Mounts, bindMount("/logs", "/var/log/pods", "rrw", "ro"))
		}, want: "hostPathVolumes,mountTree", reason: "read-only only"},
		{name: "rro alone makes an allowlisted bind read-only", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/var/log/pods", ReadOnly: true}}
			s.Mounts = append(s.Mounts, bindMount("/logs", "/var/log/pods", "rw", "rro"))
		}, want: ""},
		{name: "rro on sysfs is ignored by runc", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			for i := range s.Mounts {
				if s.Mounts[i].Destination == "/sys" {
					s.Mounts[i].Options = []string{"nosuid", "noexec", "nodev", "rro"}
				}
			}
		}, want: "privileged", reason: "sysfs is mounted read-write"},
		{name: "read-write sysfs covered by a read-only one", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Mounts = append([]specs.Mount{{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"rw"}}}, s.Mounts...)
		}, want: "privileged", reason: "sysfs is mounted read-write"},
		{name: "tmpfs over /sys is not sysfs", setup: withMount(specs.Mount{Destination: "/sys", Type: "tmpfs", Source: "tmpfs"}), want: ""},
		{name: "shared bind mount", setup: withMount(bindMount("/cache", emptyDir, "rshared")),
			want: "mountTree", reason: `"rshared" propagation`, field: `mounts["/cache"].options`},
		{name: "shared tmpfs", setup: withMount(specs.Mount{Destination: "/x", Type: "tmpfs", Source: "tmpfs", Options: []string{"shared"}}),
			want: "mountTree", reason: `"shared" propagation`},
		{name: "rslave bind mount (HostToContainer)", setup: withMount(specs.Mount{Destination: "/cache", Type: "bind", Source: emptyDir, Options: []string{"rbind", "rslave"}}), want: ""},
		{name: "rshared root propagation", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Linux.RootfsPropagation = "rshared" },
			want: "mountTree", reason: "propagate to the node", field: "linux.rootfsPropagation"},
		{name: "shared root propagation", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Linux.RootfsPropagation = "shared" }, want: "mountTree"},
		{name: "rslave root propagation", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Linux.RootfsPropagation = "rslave" }, want: ""},
		{name: "tmpfs over the root", setup: withMount(specs.Mount{Destination: "/", Type: "tmpfs", Source: "tmpfs"}),
			want: "mountTree", reason: `mounted at "/"`, field: `mounts["/"].destination`},
		{name: "bind over the root spelled /.", setup: withMount(bindMount("/.", emptyDir)), want: "mountTree", reason: `at "/"`},
		{name: "idmapped mount without a user namespace", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			m := bindMount("/cache", emptyDir)
			m.UIDMappings, m.GIDMappings = maps, maps
			s.Mounts = append(s.Mounts, m)
		}, want: "mountTree", reason: "no user namespace", field: `mounts["/cache"].uidMappings`},
		{name: "idmap option without a user namespace", setup: withMount(bindMount("/cache", emptyDir, "ridmap")),
			want: "mountTree", field: `mounts["/cache"].options`},
		{name: "idmapped mount with the container's own mapping (hostUsers: false)", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			userNS(s)
			m := bindMount("/cache", emptyDir, "idmap")
			m.UIDMappings, m.GIDMappings = maps, maps
			s.Mounts = append(s.Mounts, m)
		}, want: ""},
		{name: "idmap option takes the container's mapping", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			userNS(s)
			s.Mounts = append(s.Mounts, bindMount("/cache", emptyDir, "idmap"))
		}, want: ""},
		{name: "idmapped mount to host root", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			userNS(s)
			m := bindMount("/cache", emptyDir)
			m.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
			m.GIDMappings = maps
			s.Mounts = append(s.Mounts, m)
		}, want: "mountTree", reason: "other host owners", field: "uidMappings"},
		{name: "gid mapping differs", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			userNS(s)
			m := bindMount("/cache", emptyDir)
			m.UIDMappings, m.GIDMappings = maps, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}}
			s.Mounts = append(s.Mounts, m)
		}, want: "mountTree", reason: "other host owners"},
	})
}

func TestRootPath(t *testing.T) {
	bundle := testState + "/io.containerd.runtime.v2.task/k8s.io/c"
	for _, tc := range []struct {
		root, want, reason string
	}{
		{"rootfs", "", ""},
		{"./rootfs/", "", ""},
		{"rootfs/../rootfs2", "", ""},
		{bundle + "/rootfs", "", ""},
		{"../../../../../..", "hostPathVolumes", `is host path "/"`},
		{"rootfs/../../other/rootfs", "hostPathVolumes", "outside the container's bundle"},
		{"../../k8s.io/other/rootfs", "hostPathVolumes", "outside the container's bundle"},
		{"/", "hostPathVolumes", "outside the container's bundle"},
		{bundle + "/../c2/rootfs", "hostPathVolumes", "outside"},
		{".", "hostPathVolumes", "the container's bundle"},
		{"", "hostPathVolumes", "the container's bundle"},
	} {
		t.Run(tc.root, func(t *testing.T) {
			h := newFakeHost()
			s := criContainer(t, h)
			s.Root.Path = tc.root
			vs := Evaluate(&Input{Spec: s, ID: "c1", StateDir: testState, Bundle: bundle, SandboxPID: testSandboxPID, SandboxUID: testPodUID, Options: DefaultOptions(), Host: h})
			if got := checkIDs(vs); got != tc.want {
				t.Fatalf("violations %q, want %q: %v", got, tc.want, vs)
			}
			if tc.want != "" && (vs[0].Field != "root.path" || !strings.Contains(vs[0].Reason, tc.reason)) {
				t.Fatalf("violation %+v, want root.path and %q", vs[0], tc.reason)
			}
		})
	}
	t.Run("symlinked bundle", func(t *testing.T) {
		h := newFakeHost()
		h.links["/run/containerd"] = "/var/run/containerd-real"
		s := criContainer(t, h)
		s.Root.Path = "/var/run/containerd-real/io.containerd.runtime.v2.task/k8s.io/c/rootfs"
		if vs := Evaluate(&Input{Spec: s, ID: "c1", StateDir: testState, Bundle: bundle, SandboxPID: testSandboxPID, SandboxUID: testPodUID, Options: DefaultOptions(), Host: h}); len(vs) != 0 {
			t.Fatalf("root in the resolved bundle refused: %v", vs)
		}
	})
}

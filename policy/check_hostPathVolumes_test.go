package policy

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const kubelet = "/var/lib/kubelet"

func podDir(uid string) string { return filepath.Join(kubelet, "pods", uid) }

func bindMount(dest, src string, opts ...string) specs.Mount {
	return specs.Mount{Destination: dest, Type: "bind", Source: src, Options: append([]string{"rbind", "rprivate"}, opts...)}
}

func withMount(m specs.Mount) func(s *specs.Spec, h *fakeHost, o *Options) {
	return func(s *specs.Spec, h *fakeHost, o *Options) { s.Mounts = append(s.Mounts, m) }
}

// subPathMount adds a kubelet subPath bind mount backed by backing (a path on
// the root file system) to the host's mount table and returns its path.
func subPathMount(h *fakeHost, backing string) string {
	p := filepath.Join(podDir(testPodUID), "volume-subpaths", "vol", "app", "0")
	h.mounts = append(h.mounts, &mountinfo.Info{ID: 50, Parent: 1, Major: 254, Minor: 0, Root: backing, Mountpoint: p, FSType: "ext4", Source: "/dev/vda1"})
	return p
}

func TestHostPathVolumes(t *testing.T) {
	vol := func(plugin, name string) string { return filepath.Join(podDir(testPodUID), "volumes", plugin, name) }
	runCases(t, []checkCase{
		{name: "host /etc", setup: withMount(bindMount("/data", "/etc")),
			want: "hostPathVolumes", reason: `mount "/data" comes from host path "/etc"`, field: `mounts["/data"].source`},
		{name: "host root", setup: withMount(bindMount("/host", "/")), want: "hostPathVolumes", reason: `host path "/"`},
		{name: "containerd socket", setup: withMount(bindMount("/run/containerd/containerd.sock", "/run/containerd/containerd.sock")),
			want: "hostPathVolumes", reason: "containerd.sock"},
		{name: "bind by option only", setup: withMount(specs.Mount{Destination: "/x", Type: "none", Source: "/etc", Options: []string{"bind"}}),
			want: "hostPathVolumes"},
		{name: "relative source", setup: withMount(bindMount("/x", "etc")), want: "hostPathVolumes", reason: "relative source"},
		{name: "block device file system", setup: withMount(specs.Mount{Destination: "/disk", Type: "ext4", Source: "/dev/vda1"}),
			want: "hostPathVolumes", reason: `"ext4" file system from "/dev/vda1"`, field: `mounts["/disk"].type`},
		{name: "dot-dot escape from an empty-dir", setup: withMount(bindMount("/data", vol("kubernetes.io~empty-dir", "cache")+"/../../../../../../../../etc")),
			want: "hostPathVolumes", reason: `with a "." or ".." component`},
		// a/link/.. is not a: the kernel follows link first
		{name: "dot-dot after a path inside the pod's volume", setup: withMount(bindMount("/data", vol("kubernetes.io~empty-dir", "cache")+"/link/..")),
			want: "hostPathVolumes", reason: `with a "." or ".." component`},
		{name: "dot component", setup: withMount(bindMount("/data", vol("kubernetes.io~empty-dir", "cache")+"/.")),
			want: "hostPathVolumes", reason: `with a "." or ".." component`},
		{name: "symlink from a volume dir to /etc", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			h.links[vol("kubernetes.io~empty-dir", "evil")] = "/etc"
			s.Mounts = append(s.Mounts, bindMount("/data", vol("kubernetes.io~empty-dir", "evil")))
		}, want: "hostPathVolumes", reason: `host path "/etc"`},
		{name: "symlinked kubelet root still allowed", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			h.links["/var/lib/kubelet"] = "/data/kubelet"
			s.Mounts = append(s.Mounts, bindMount("/cache", "/data/kubelet/pods/"+testPodUID+"/volumes/kubernetes.io~empty-dir/cache"))
		}, want: ""},
		{name: "own empty-dir", setup: withMount(bindMount("/cache", vol("kubernetes.io~empty-dir", "cache"))), want: ""},
		{name: "own configmap", setup: withMount(bindMount("/cfg", vol("kubernetes.io~configmap", "cfg"), "ro")), want: ""},
		{name: "own downward-api", setup: withMount(bindMount("/info", vol("kubernetes.io~downward-api", "info"), "ro")), want: ""},
		{name: "own csi", setup: withMount(bindMount("/pv", vol("kubernetes.io~csi", "pvc-1")+"/mount")), want: ""},
		{name: "own secret on tmpfs", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			p := vol("kubernetes.io~secret", "token")
			h.mounts = append(h.mounts, &mountinfo.Info{ID: 60, Parent: 1, Major: 0, Minor: 70, Root: "/", Mountpoint: p, FSType: "tmpfs", Source: "tmpfs"})
			h.fsType[p] = TmpfsMagic
			s.Mounts = append(s.Mounts, bindMount("/var/run/secrets/token", p, "ro"))
		}, want: ""},
		{name: "local-volume plugin", setup: withMount(bindMount("/pv", vol("kubernetes.io~local-volume", "pv1"))),
			want: "hostPathVolumes", reason: "not an allowed volume type"},
		{name: "another pod's empty-dir", setup: withMount(bindMount("/steal", filepath.Join(podDir("11111111-2222-3333-4444-555555555555"), "volumes/kubernetes.io~empty-dir/cache"))),
			want: "hostPathVolumes", reason: "another pod"},
		{name: "the whole pod dir", setup: withMount(bindMount("/pod", podDir(testPodUID))),
			want: "hostPathVolumes", reason: "whole kubelet directory"},
		{name: "kubelet pods dir", setup: withMount(bindMount("/pods", filepath.Join(kubelet, "pods"))),
			want: "hostPathVolumes", reason: "pods directory"},
		{name: "pod plugins dir", setup: withMount(bindMount("/p", filepath.Join(podDir(testPodUID), "plugins"))),
			want: "hostPathVolumes", reason: "not one of the pod's volumes"},
		{name: "etc-hosts", setup: withMount(bindMount("/etc/hosts", filepath.Join(podDir(testPodUID), "etc-hosts"))), want: ""},
		{name: "termination log", setup: withMount(bindMount("/dev/termination-log", filepath.Join(podDir(testPodUID), "containers/app/1a2b3c4d"))), want: ""},
		{name: "subPath of own empty-dir", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Mounts = append(s.Mounts, bindMount("/sub", subPathMount(h, vol("kubernetes.io~empty-dir", "vol")+"/sub")))
		}, want: ""},
		{name: "subPath backed by host /etc", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Mounts = append(s.Mounts, bindMount("/sub", subPathMount(h, "/etc")))
		}, want: "hostPathVolumes", reason: `subPath really backed by "/etc"`},
		{name: "subPath of an allowlisted hostPath", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/srv/data"}}
			s.Mounts = append(s.Mounts, bindMount("/sub", subPathMount(h, "/srv/data/app")))
		}, want: ""},
		{name: "subPath of a read-only allowlisted hostPath, mounted rw", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/srv/data", ReadOnly: true}}
			s.Mounts = append(s.Mounts, bindMount("/sub", subPathMount(h, "/srv/data/app")))
		}, want: "hostPathVolumes", reason: "read-only only"},
		{name: "subPath of a read-only allowlisted hostPath, mounted ro", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/srv/data", ReadOnly: true}}
			s.Mounts = append(s.Mounts, bindMount("/sub", subPathMount(h, "/srv/data/app"), "ro"))
		}, want: ""},
		{name: "subPath backed outside the allowlisted hostPath", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/srv/data"}}
			s.Mounts = append(s.Mounts, bindMount("/sub", subPathMount(h, "/srv/database")))
		}, want: "hostPathVolumes", reason: "not one of the pod's volumes"},
		{name: "subPath not mounted", setup: withMount(bindMount("/sub", filepath.Join(podDir(testPodUID), "volume-subpaths/vol/app/3"))),
			want: "hostPathVolumes", reason: "subPath that is not mounted"},
		{name: "empty-dir that is a bind of /etc", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			p := vol("kubernetes.io~empty-dir", "trick")
			h.mounts = append(h.mounts, &mountinfo.Info{ID: 70, Parent: 1, Major: 254, Minor: 0, Root: "/etc", Mountpoint: p, FSType: "ext4"})
			s.Mounts = append(s.Mounts, bindMount("/trick", p))
		}, want: "hostPathVolumes", reason: `really backed by "/etc"`},
		{name: "containerd sandbox files", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			base := filepath.Join(DefaultContainerdRoot, "io.containerd.grpc.v1.cri/sandboxes", testSandboxID)
			s.Mounts = append(s.Mounts, bindMount("/etc/hosts", base+"/hosts"), bindMount("/etc/hostname", base+"/hostname"),
				bindMount("/etc/resolv.conf", base+"/resolv.conf"),
				bindMount("/dev/shm", filepath.Join(testState, "io.containerd.grpc.v1.cri/sandboxes", testSandboxID, "shm")),
				bindMount("/img", filepath.Join(testState, "io.containerd.grpc.v1.cri/image-volumes", testSandboxID, "abc")))
		}, want: ""},
		{name: "another sandbox's resolv.conf", setup: withMount(bindMount("/etc/resolv.conf",
			filepath.Join(DefaultContainerdRoot, "io.containerd.grpc.v1.cri/sandboxes/ffff/resolv.conf"))),
			want: "hostPathVolumes", reason: "another pod sandbox"},
		{name: "own sandbox dir but not a managed file", setup: withMount(bindMount("/x",
			filepath.Join(DefaultContainerdRoot, "io.containerd.grpc.v1.cri/sandboxes", testSandboxID, "secret-stuff"))),
			want: "hostPathVolumes", reason: "belongs to another pod sandbox"},
		{name: "allowlisted prefix", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/var/log/pods"}}
			s.Mounts = append(s.Mounts, bindMount("/logs", "/var/log/pods/ns_pod"))
		}, want: ""},
		{name: "allowlist is by path component", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/var/log/pods"}}
			s.Mounts = append(s.Mounts, bindMount("/logs", "/var/log/pods-evil"))
		}, want: "hostPathVolumes"},
		{name: "allowlisted read-only, mounted rw", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/var/log", ReadOnly: true}}
			s.Mounts = append(s.Mounts, bindMount("/logs", "/var/log/app"))
		}, want: "hostPathVolumes", reason: "read-only only"},
		{name: "allowlisted read-only, mounted ro", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/var/log", ReadOnly: true}}
			s.Mounts = append(s.Mounts, bindMount("/logs", "/var/log/app", "ro"))
		}, want: ""},
		{name: "allowlist does not follow a symlink out", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/srv/data"}}
			h.links["/srv/data/link"] = "/etc"
			s.Mounts = append(s.Mounts, bindMount("/d", "/srv/data/link"))
		}, want: "hostPathVolumes", reason: `"/etc"`},
		{name: "no pod UID: kubelet paths are foreign", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			delete(s.Annotations, AnnotationSandboxUID)
			s.Mounts = append(s.Mounts, bindMount("/cache", vol("kubernetes.io~empty-dir", "cache")))
		}, want: "hostPathVolumes", reason: "which this container does not run in"},
		{name: "custom kubelet root", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.KubeletRoot = "/data/kubelet"
			s.Mounts = append(s.Mounts, bindMount("/cache", "/data/kubelet/pods/"+testPodUID+"/volumes/kubernetes.io~empty-dir/c"))
		}, want: ""},
	})
}

// TestCopiedPodAnnotationsGrantNothing: the pod UID and sandbox ID
// annotations are claims a raw client can copy from another pod; they grant
// that pod's directories only to a container the shim serves in that pod.
func TestCopiedPodAnnotationsGrantNothing(t *testing.T) {
	secret := filepath.Join(podDir(testPodUID), "volumes/kubernetes.io~secret/token")
	shm := filepath.Join(testState, "io.containerd.grpc.v1.cri/sandboxes", testSandboxID, "shm")
	for _, tc := range []struct {
		name   string
		setup  func(in *Input)
		mount  specs.Mount
		reason string // "" for allowed
	}{
		{"app container in its pod", func(in *Input) {}, bindMount("/secret", secret, "ro"), ""},
		{"app container claiming another pod's UID", func(in *Input) { in.SandboxUID = "another-pod" }, bindMount("/secret", secret, "ro"), "which this container does not run in"},
		{"container of no pod this shim serves", func(in *Input) { in.SandboxPID = 0 }, bindMount("/secret", secret, "ro"), "which this container does not run in"},
		{"container of no pod: sandbox shm", func(in *Input) { in.SandboxPID = 0 }, bindMount("/dev/shm", shm), "another pod sandbox"},
		{"pod sandbox mounting a pod volume", func(in *Input) {
			in.Spec.Annotations[AnnotationContainerType] = ContainerTypeSandbox
			in.ID = testSandboxID
		}, bindMount("/secret", secret, "ro"), "which this container does not run in"},
		{"pod sandbox mounting its own shm", func(in *Input) {
			in.Spec.Annotations[AnnotationContainerType] = ContainerTypeSandbox
			in.ID = testSandboxID
		}, bindMount("/dev/shm", shm), ""},
		{"pod sandbox claiming another sandbox's shm", func(in *Input) {
			in.Spec.Annotations[AnnotationContainerType] = ContainerTypeSandbox
			in.ID = strings.Repeat("e", 64)
		}, bindMount("/dev/shm", shm), "another pod sandbox"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost()
			h.fsType[podDir(testPodUID)+"/volumes/kubernetes.io~secret"] = TmpfsMagic
			s := criContainer(t, h)
			s.Mounts = append(s.Mounts, tc.mount)
			in := &Input{Spec: s, ID: "c1", StateDir: testState, SandboxPID: testSandboxPID, SandboxUID: testPodUID, Options: DefaultOptions(), Host: h}
			tc.setup(in)
			var vs []Violation
			for _, v := range Evaluate(in) {
				if v.Check == "hostPathVolumes" {
					vs = append(vs, v)
				}
			}
			if tc.reason == "" {
				if len(vs) != 0 {
					t.Fatalf("violations %v", vs)
				}
				return
			}
			if len(vs) != 1 || !strings.Contains(vs[0].Reason, tc.reason) {
				t.Fatalf("violations %v, want one with %q", vs, tc.reason)
			}
		})
	}
}

// TestAllowlistedMounts: the mounts admitted through the allowlist (and only
// those) are reported for pinning, as the check decided them.
func TestAllowlistedMounts(t *testing.T) {
	h := newFakeHost()
	s := criContainer(t, h)
	o := DefaultOptions()
	o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/srv/data"}}
	base := len(s.Mounts)
	s.Mounts = append(s.Mounts,
		bindMount("/own", filepath.Join(podDir(testPodUID), "volumes", "kubernetes.io~empty-dir", "cache")),
		bindMount("/data", "/srv/data/app"),
		bindMount("/sub", subPathMount(h, "/srv/data/sub")),
		bindMount("/etc-host", "/etc"))
	in := &Input{Spec: s, ID: "c1", StateDir: "/run/containerd", SandboxPID: 4242, SandboxUID: testPodUID, Options: o, Host: h}
	vs := Evaluate(in)
	if got := checkIDs(vs); got != "hostPathVolumes" {
		t.Fatalf("violations %v", vs)
	}
	got := AllowlistedMounts(in)
	if len(got) != 2 || got[0] != base+1 || got[1] != base+2 {
		t.Fatalf("AllowlistedMounts = %v, want [%d %d]", got, base+1, base+2)
	}
	// Judged again as pinned: the same path passes, a path it turned into
	// (a symlink swapped in) does not.
	if why := JudgePinnedSource(in, s.Mounts[base+1], "/srv/data/app"); why != "" {
		t.Errorf("pinned /srv/data/app: %s", why)
	}
	if why := JudgePinnedSource(in, s.Mounts[base+1], "/etc"); !strings.Contains(why, `comes from host path "/etc"`) {
		t.Errorf("pinned /etc: %q", why)
	}
}

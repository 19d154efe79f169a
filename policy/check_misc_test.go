package policy

import (
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCapabilities(t *testing.T) {
	add := func(level Level, caps ...string) func(s *specs.Spec, h *fakeHost, o *Options) {
		return func(s *specs.Spec, h *fakeHost, o *Options) {
			o.Level = level
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, caps...)
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, caps...)
		}
	}
	only := func(level Level, caps ...string) func(s *specs.Spec, h *fakeHost, o *Options) {
		return func(s *specs.Spec, h *fakeHost, o *Options) {
			o.Level = level
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
		}
	}
	runCases(t, []checkCase{
		{name: "baseline: containerd default set", setup: func(s *specs.Spec, h *fakeHost, o *Options) {}, want: ""},
		{name: "baseline: NET_RAW (containerd default) allowed", setup: add(LevelBaseline, "CAP_NET_RAW"), want: ""},
		{name: "baseline: SYS_ADMIN", setup: add(LevelBaseline, "CAP_SYS_ADMIN"),
			want: "capabilities,capabilities", reason: `"CAP_SYS_ADMIN"`, field: "process.capabilities.bounding"},
		{name: "baseline: NET_ADMIN lower-case", setup: add(LevelBaseline, "net_admin"),
			want: "capabilities,capabilities", reason: `"CAP_NET_ADMIN"`},
		{name: "baseline: ambient SYS_PTRACE", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Process.Capabilities.Ambient = []string{"CAP_SYS_PTRACE"}
		}, want: "capabilities", field: "ambient"},
		{name: "restricted: containerd default set refused", setup: func(s *specs.Spec, h *fakeHost, o *Options) { o.Level = LevelRestricted },
			want: "capabilities,capabilities,capabilities", reason: "not allowed at level restricted"},
		{name: "restricted: only NET_BIND_SERVICE", setup: only(LevelRestricted, "CAP_NET_BIND_SERVICE"), want: ""},
		{name: "restricted: nothing", setup: only(LevelRestricted), want: ""},
	})
}

func TestSysctls(t *testing.T) {
	runCases(t, []checkCase{
		{name: "safe sysctls", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647", "kernel.shm_rmid_forced": "1"}
		}, want: ""},
		{name: "unsafe sysctl", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Sysctl = map[string]string{"kernel.msgmax": "65536", "net.ipv4.tcp_syncookies": "1"}
		}, want: "sysctls", reason: `"kernel.msgmax"`, field: `linux.sysctl["kernel.msgmax"]`},
	})
}

func TestSeccompProfile(t *testing.T) {
	runCases(t, []checkCase{
		{name: "no profile, not required", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Linux.Seccomp = nil }, want: ""},
		{name: "no profile, required", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Linux.Seccomp = nil; o.RequireSeccomp = true },
			want: "seccompProfile", reason: "without a seccomp profile", field: "linux.seccomp"},
		{name: "allow-by-default profile", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
			o.RequireSeccomp = true
		}, want: "seccompProfile", field: "defaultAction"},
		{name: "deny-by-default profile", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
			o.RequireSeccomp = true
		}, want: ""},
		{name: "sandbox is exempt", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Seccomp = nil
			o.RequireSeccomp = true
			s.Annotations[AnnotationContainerType] = ContainerTypeSandbox
			setNSPath(s, "ipc", "") // a sandbox creates its own IPC namespace
			setNSPath(s, "network", "/run/netns/cni-42")
			h.ns["/run/netns/cni-42"] = NSID{Dev: 4, Ino: 4026530042}
		}, want: ""},
	})
}

func TestAppArmorProfile(t *testing.T) {
	runCases(t, []checkCase{
		{name: "no AppArmor on the host", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Process.ApparmorProfile = "unconfined" }, want: ""},
		{name: "unconfined on an AppArmor host", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			h.apparmor = true
			s.Process.ApparmorProfile = "unconfined"
		}, want: "appArmorProfile", field: "process.apparmorProfile"},
		{name: "empty on an AppArmor host", setup: func(s *specs.Spec, h *fakeHost, o *Options) { h.apparmor = true }, want: "appArmorProfile"},
		{name: "confined", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			h.apparmor = true
			s.Process.ApparmorProfile = "cri-containerd.apparmor.d"
		}, want: ""},
	})
}

func TestRuntimeAnnotations(t *testing.T) {
	runCases(t, []checkCase{
		{name: "a gVisor flag", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Annotations["dev.gvisor.flag.network"] = "host"
		}, want: "runtimeAnnotations", field: `annotations["dev.gvisor.flag.network"]`},
		{name: "a gVisor internal", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Annotations["dev.gvisor.internal.nvproxy"] = "true"
		}, want: "runtimeAnnotations"},
		{name: "a tar root file system", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Annotations["dev.gvisor.tar.rootfs.upper"] = "/etc/shadow"
		}, want: "runtimeAnnotations"},
		{name: "a mount hint", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Annotations["dev.gvisor.spec.mount.cache.share"] = "pod"
		}, want: ""},
	})
}

func TestSELinuxOptions(t *testing.T) {
	runCases(t, []checkCase{
		{name: "container_t", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Process.SelinuxLabel = "system_u:system_r:container_t:s0:c1,c2"
		}, want: ""},
		{name: "spc_t", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Process.SelinuxLabel = "system_u:system_r:spc_t:s0"
		}, want: "seLinuxOptions", reason: `"spc_t"`, field: "process.selinuxLabel"},
		{name: "mount label unconfined_t", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.MountLabel = "system_u:object_r:unconfined_t:s0"
		}, want: "seLinuxOptions", field: "linux.mountLabel"},
		{name: "malformed", setup: func(s *specs.Spec, h *fakeHost, o *Options) { s.Process.SelinuxLabel = "container_t" },
			want: "seLinuxOptions", reason: "not a user:role:type"},
	})
}

func TestProcMount(t *testing.T) {
	unmask := func(s *specs.Spec) { s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil }
	runCases(t, []checkCase{
		{name: "unmasked, restore (default)", setup: func(s *specs.Spec, h *fakeHost, o *Options) { unmask(s) }, want: ""},
		{name: "unmasked, refuse", setup: func(s *specs.Spec, h *fakeHost, o *Options) { unmask(s); o.UnmaskedProc = UnmaskedProcRefuse },
			want: "procMount", reason: "procMount=Unmasked", field: "linux.maskedPaths"},
		{name: "masked, refuse", setup: func(s *specs.Spec, h *fakeHost, o *Options) { o.UnmaskedProc = UnmaskedProcRefuse }, want: ""},
	})
}

func TestProcFdCwd(t *testing.T) {
	cwd := func(c string) func(s *specs.Spec, h *fakeHost, o *Options) {
		return func(s *specs.Spec, h *fakeHost, o *Options) { s.Process.Cwd = c }
	}
	runCases(t, []checkCase{
		{name: "/proc/self/fd/7", setup: cwd("/proc/self/fd/7"), want: "procFdCwd", reason: "CVE-2024-21626", field: "process.cwd"},
		{name: "/proc/1/fd", setup: cwd("/proc/1/fd"), want: "procFdCwd"},
		{name: "/proc/thread-self/fd/9/x", setup: cwd("/proc/thread-self/fd/9/x"), want: "procFdCwd"},
		{name: "dot-dot", setup: cwd("/tmp/../proc/self/fd/4"), want: "procFdCwd"},
		{name: "/proc/self/task/1/fd/3", setup: cwd("/proc/self/task/1/fd/3"), want: "procFdCwd"},
		{name: "/app", setup: cwd("/app"), want: ""},
		{name: "/proc/sys", setup: cwd("/proc/sys"), want: ""},
	})
}

func TestSecretsInMemory(t *testing.T) {
	secret := podDir(testPodUID) + "/volumes/kubernetes.io~secret/token"
	projected := podDir(testPodUID) + "/volumes/kubernetes.io~projected/kube-api-access"
	runCases(t, []checkCase{
		{name: "secret on disk", setup: withMount(bindMount("/token", secret, "ro")),
			want: "secretsInMemory", reason: "stored on disk", field: `mounts["/token"].source`},
		{name: "projected on disk", setup: withMount(bindMount("/var/run/secrets/kubernetes.io/serviceaccount", projected, "ro")),
			want: "secretsInMemory", reason: "projected volume"},
		{name: "secret on disk, option off", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			o.SecretsInMemory = false
			s.Mounts = append(s.Mounts, bindMount("/token", secret, "ro"))
		}, want: ""},
		{name: "secret on tmpfs", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			h.fsType[secret] = TmpfsMagic
			h.mounts = append(h.mounts, &mountinfo.Info{ID: 9, Parent: 1, Minor: 77, Root: "/", Mountpoint: secret, FSType: "tmpfs"})
			s.Mounts = append(s.Mounts, bindMount("/token", secret, "ro"))
		}, want: ""},
	})
}

package harden

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
)

// criSpec is a typical CRI container spec: containerd's default 14
// capabilities, unmasked /proc (kubelet-less clients), no seccomp profile.
func criSpec() *specs.Spec {
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
	return &specs.Spec{
		Process: &specs.Process{Args: []string{"sh"}, Capabilities: &specs.LinuxCapabilities{
			Bounding: caps, Effective: caps, Permitted: caps, Ambient: []string{"CAP_NET_RAW"}}},
		Root: &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "rw"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "ro"}},
		},
		// CRI starts every device cgroup list with deny-all.
		Linux: &specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}},
	}
}

func fields(ch []Change) []string {
	var f []string
	for _, c := range ch {
		f = append(f, c.Field)
	}
	return f
}

func TestApplyDefaults(t *testing.T) {
	s := criSpec()
	ch, err := Apply(s, DefaultOptions(), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"linux.maskedPaths", "linux.readonlyPaths", `mounts["/sys"].options`,
		"process.capabilities.bounding", "process.capabilities.effective", "process.capabilities.permitted", "process.capabilities.ambient",
		"process.noNewPrivileges", "root.readonly", `mounts["/tmp"]`, `mounts["/run"]`, `mounts["/var/run"]`, "linux.seccomp"}
	if got := fields(ch); !slices.Equal(got, want) {
		t.Fatalf("changed %v\nwant    %v", got, want)
	}
	if !slices.Equal(s.Process.Capabilities.Bounding, []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_KILL"}) {
		t.Errorf("bounding %v", s.Process.Capabilities.Bounding)
	}
	if len(s.Process.Capabilities.Ambient) != 0 || !s.Process.NoNewPrivileges || !s.Root.Readonly {
		t.Errorf("process %+v root %+v", s.Process, s.Root)
	}
	if !slices.Contains(s.Mounts[1].Options, "ro") || slices.Contains(s.Mounts[1].Options, "rw") {
		t.Errorf("/sys options %v", s.Mounts[1].Options)
	}
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno || !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") {
		t.Errorf("linux %+v", s.Linux)
	}
	// Idempotent: a second pass changes nothing.
	if ch, err := Apply(s, DefaultOptions(), false); err != nil || len(ch) != 0 {
		t.Fatalf("second pass changed %v (%v)", fields(ch), err)
	}
}

func TestApplyDryRunLeavesSpec(t *testing.T) {
	s := criSpec()
	before, _ := json.Marshal(s)
	ch, err := Apply(s, DefaultOptions(), true)
	if err != nil || len(ch) == 0 {
		t.Fatalf("%v %v", ch, err)
	}
	after, _ := json.Marshal(s)
	if string(before) != string(after) {
		t.Fatal("dry run changed the spec")
	}
}

func TestApplyOptions(t *testing.T) {
	t.Run("restricted capabilities", func(t *testing.T) {
		s := criSpec()
		o := DefaultOptions()
		o.Capabilities = RestrictedCapabilities
		if _, err := Apply(s, o, false); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s.Process.Capabilities.Effective, []string{"CAP_NET_BIND_SERVICE"}) {
			t.Fatalf("effective %v", s.Process.Capabilities.Effective)
		}
	})
	t.Run("own seccomp profile kept", func(t *testing.T) {
		s := criSpec()
		own := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
		s.Linux.Seccomp = own
		o := DefaultOptions()
		o.SeccompExisting = ExistingKeep
		if _, err := Apply(s, o, false); err != nil {
			t.Fatal(err)
		}
		if s.Linux.Seccomp != own {
			t.Fatal("own profile replaced")
		}
	})
	t.Run("own seccomp profile replaced", func(t *testing.T) {
		s := criSpec()
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
		o := DefaultOptions()
		o.SeccompExisting = ExistingReplace
		ch, err := Apply(s, o, false)
		if err != nil {
			t.Fatal(err)
		}
		if s.Linux.Seccomp.DefaultAction != specs.ActErrno || !strings.Contains(ch[len(ch)-1].From.(string), "the spec's profile") {
			t.Fatalf("seccomp %v, change %+v", s.Linux.Seccomp.DefaultAction, ch[len(ch)-1])
		}
	})
	t.Run("seccomp audit", func(t *testing.T) {
		s := criSpec()
		o := DefaultOptions()
		o.SeccompAudit = true
		if _, err := Apply(s, o, false); err != nil {
			t.Fatal(err)
		}
		if s.Linux.Seccomp.DefaultAction != specs.ActLog {
			t.Fatalf("default action %s", s.Linux.Seccomp.DefaultAction)
		}
	})
	t.Run("writable paths", func(t *testing.T) {
		s := criSpec()
		o := DefaultOptions()
		o.WritablePaths = []WritablePath{{Path: "/tmp", SizeBytes: 64 << 20}, {Path: "/proc", SizeBytes: 1}}
		if _, err := Apply(s, o, false); err != nil {
			t.Fatal(err)
		}
		m := s.Mounts[len(s.Mounts)-1]
		if m.Destination != "/tmp" || m.Type != "tmpfs" || !slices.Contains(m.Options, "nosuid") || !slices.Contains(m.Options, "nodev") || !slices.Contains(m.Options, "size=67108864") {
			t.Fatalf("tmp mount %+v", m)
		}
		if len(s.Mounts) != 4 {
			t.Fatalf("an existing mount destination was shadowed: %+v", s.Mounts)
		}
	})
	t.Run("everything off", func(t *testing.T) {
		s := criSpec()
		s.Linux.MaskedPaths = []string{"/proc/kcore"}
		o := &Options{Capabilities: s.Process.Capabilities.Bounding}
		s.Process.Capabilities.Ambient = nil
		ch, err := Apply(s, o, false)
		if err != nil || len(ch) != 0 {
			t.Fatalf("changes %v (%v)", fields(ch), err)
		}
	})
	t.Run("bad profile file", func(t *testing.T) {
		s := criSpec()
		o := DefaultOptions()
		o.SeccompProfile = "/nonexistent/profile.json"
		if _, err := Apply(s, o, false); err == nil {
			t.Fatal("accepted")
		}
		if s.Linux.Seccomp != nil {
			t.Fatal("spec changed on error")
		}
	})
	t.Run("refuse mode leaves masks to the check", func(t *testing.T) {
		s := criSpec()
		o := DefaultOptions()
		o.UnmaskedProc = policy.UnmaskedProcRefuse
		if _, err := Apply(s, o, false); err != nil {
			t.Fatal(err)
		}
		if len(s.Linux.MaskedPaths) != 0 {
			t.Fatal("masks restored")
		}
	})
}

func TestDefaultProcMasks(t *testing.T) {
	masked, readonly := DefaultProcMasks()
	if !slices.Contains(masked, "/proc/kcore") || !slices.Contains(readonly, "/proc/sysrq-trigger") {
		t.Fatalf("defaults %v %v", masked, readonly)
	}
}

func TestApplyExec(t *testing.T) {
	p := criSpec().Process
	ch := ApplyExec(p, DefaultOptions(), true)
	if len(ch) == 0 || len(p.Capabilities.Bounding) != 14 || p.NoNewPrivileges {
		t.Fatalf("dry run changed the process or reported nothing: %v", fields(ch))
	}
	ch = ApplyExec(p, DefaultOptions(), false)
	if !p.NoNewPrivileges || len(p.Capabilities.Bounding) != 9 || len(p.Capabilities.Ambient) != 0 {
		t.Fatalf("process %+v", p)
	}
	if got := fields(ch); got[len(got)-1] != "process.noNewPrivileges" {
		t.Fatalf("changes %v", got)
	}
}

func TestWritablePathsUnderAndOverOtherMounts(t *testing.T) {
	s := criSpec()
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/var/run/secrets/kubernetes.io/serviceaccount", Type: "bind", Source: "/x", Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/tmp", Type: "bind", Source: "/y", Options: []string{"rbind"}})
	if _, err := Apply(s, DefaultOptions(), false); err != nil {
		t.Fatal(err)
	}
	var dests []string
	for _, m := range s.Mounts {
		dests = append(dests, m.Destination+":"+m.Type)
	}
	// /tmp is a volume already: no tmpfs over it; /var/run's tmpfs goes
	// before the service-account mount below it, /run's at the end.
	want := []string{"/proc:proc", "/sys:sysfs", "/sys/fs/cgroup:cgroup", "/var/run:tmpfs",
		"/var/run/secrets/kubernetes.io/serviceaccount:bind", "/tmp:bind", "/run:tmpfs"}
	if !slices.Equal(dests, want) {
		t.Fatalf("mounts %v\nwant   %v", dests, want)
	}
}

// TestRunVolumeCoversVarRun: a volume at /run (shared with sidecars) must not
// be hidden by a tmpfs at /var/run, which most images link to /run.
func TestRunVolumeCoversVarRun(t *testing.T) {
	s := criSpec()
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/run", Type: "bind", Source: "/pod/run", Options: []string{"rbind"}})
	if _, err := Apply(s, DefaultOptions(), false); err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Mounts {
		if m.Type == "tmpfs" && (m.Destination == "/run" || m.Destination == "/var/run") {
			t.Fatalf("tmpfs at %s over the /run volume", m.Destination)
		}
	}
}

// A pod sandbox (the pause container) gets no writable tmpfs paths: it never
// writes. Everything that confines it stays: read-only root, seccomp,
// capabilities, no_new_privs, read-only /sys.
func TestSandboxGetsNoWritablePaths(t *testing.T) {
	s := criSpec()
	s.Annotations = map[string]string{policy.AnnotationContainerType: policy.ContainerTypeSandbox}
	ch, err := Apply(s, DefaultOptions(), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"linux.maskedPaths", "linux.readonlyPaths", `mounts["/sys"].options`,
		"process.capabilities.bounding", "process.capabilities.effective", "process.capabilities.permitted", "process.capabilities.ambient",
		"process.noNewPrivileges", "root.readonly", "linux.seccomp"}
	if got := fields(ch); !slices.Equal(got, want) {
		t.Fatalf("changed %v\nwant    %v", got, want)
	}
	for _, m := range s.Mounts {
		if m.Type == "tmpfs" {
			t.Errorf("sandbox got a tmpfs at %s", m.Destination)
		}
	}
	if !s.Root.Readonly || !s.Process.NoNewPrivileges || s.Linux.Seccomp == nil {
		t.Errorf("sandbox lost a protection: root %+v nnp %v seccomp %v", s.Root, s.Process.NoNewPrivileges, s.Linux.Seccomp != nil)
	}
	// an app container of the pod still gets them
	app := criSpec()
	app.Annotations = map[string]string{policy.AnnotationContainerType: "container"}
	if _, err := Apply(app, DefaultOptions(), false); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range app.Mounts {
		if m.Type == "tmpfs" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("app container got %d tmpfs mounts, want 3: %+v", n, app.Mounts)
	}
}

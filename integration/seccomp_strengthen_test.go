//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	containerdseccomp "github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// permissiveLocalhostProfile is a custom deny-by-default profile a workload
// owner could ship as a Localhost profile: containerd's list for its default
// capabilities, native architecture only, plus ptrace, process_vm_readv and
// a dozen calls the hardened profile blocks.
func permissiveLocalhostProfile() *specs.LinuxSeccomp {
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
	p := containerdseccomp.DefaultProfile(&specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}})
	if runtime.GOARCH == "arm64" {
		p.Architectures = []specs.Arch{specs.ArchAARCH64}
	} else {
		p.Architectures = []specs.Arch{specs.ArchX86_64}
	}
	p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Action: specs.ActAllow, Names: []string{
		"ptrace", "process_vm_readv", "process_vm_writev", "socket", "unshare", "clone", "mount", "fsopen", "fsconfig", "fsmount",
		"keyctl", "add_key", "userfaultfd", "bpf", "perf_event_open", "io_uring_setup", "open_by_handle_at",
	}})
	return p
}

// TestSeccompStrengthen: a pod that asks for seccompProfile RuntimeDefault,
// or brings a permissive Localhost profile, gets no weaker protection under
// the hardened class than one that asks for nothing (seccomp.existing =
// "strengthen", the default): every probe attempt blocked without a profile
// is blocked, with the same errno, with either.
func TestSeccompStrengthen(t *testing.T) {
	ctx := testContext(t)
	l := requireLab(t)
	profilePath := filepath.Join(l.Run, "seccomp-strengthen-localhost.json")
	b, err := json.MarshalIndent(permissiveLocalhostProfile(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(profilePath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(profilePath) })
	auditStart := fileSize(l.AuditLog)

	none := runProbe(t, ctx, "hardened", nil)
	withDefault := runProbe(t, ctx, "hardened", runtimeDefault)
	localhost := runProbe(t, ctx, "hardened", map[string]any{"security_context": map[string]any{
		"seccomp": map[string]any{"profile_type": 2, "localhost_ref": profilePath}}})

	if none.Status["Seccomp"] != "2" {
		t.Fatalf("no seccomp filter without a profile (Seccomp %q)", none.Status["Seccomp"])
	}
	blocked := 0
	for _, a := range none.Attempts {
		if a.OK {
			continue
		}
		blocked++
		for name, r := range map[string]probeReport{"RuntimeDefault": withDefault, "Localhost": localhost} {
			got, ok := r.attempt(a.Name)
			switch {
			case !ok:
				t.Errorf("%s: probe did not report %s", name, a.Name)
			case got.OK:
				t.Errorf("%s: %s succeeded (%s); blocked (%s) without a profile", name, a.Name, got.Detail, a.Errno)
			case got.Errno != a.Errno:
				t.Errorf("%s: %s blocked with %q, %q without a profile", name, a.Name, got.Errno, a.Errno)
			}
		}
	}
	if blocked < 10 {
		t.Fatalf("only %d attempts blocked without a profile: the probe did not run as expected", blocked)
	}
	for name, r := range map[string]probeReport{"RuntimeDefault": withDefault, "Localhost": localhost} {
		if r.Status["Seccomp"] != "2" {
			t.Errorf("%s: Seccomp %q", name, r.Status["Seccomp"])
		}
		if a, ok := r.attempt("io_uring-fallback"); !ok || !a.OK {
			t.Errorf("%s: io_uring-fallback %+v: a program that falls back on ENOSYS must keep working", name, a)
		}
	}

	// The audit log says what happened to each profile.
	b, err = os.ReadFile(l.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) >= auditStart {
		b = b[auditStart:]
	}
	for _, want := range []string{"containerd RuntimeDefault", "own profile strengthened with hardened"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the audit log has no change %q", want)
		}
	}
	t.Logf("%d attempts blocked without a profile; all blocked alike with RuntimeDefault and with a permissive Localhost profile", blocked)
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

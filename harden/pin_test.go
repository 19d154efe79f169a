package harden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
)

func mounted(t *testing.T, p string) bool {
	t.Helper()
	ok, err := mountinfo.Mounted(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return ok
}

// pinInput is a raw container bind-mounting dir/target, with dir allowlisted.
func pinInput(t *testing.T) (*policy.Input, string, string) {
	if os.Geteuid() != 0 {
		t.Fatal("pinning mounts needs root (the tests run as root, as CI does)")
	}
	base := t.TempDir()
	allowed := filepath.Join(base, "allowed")
	target := filepath.Join(allowed, "target")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(target, "marker"), []byte("inside"), 0o644)
	s := &specs.Spec{
		Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}},
		Root:    &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/data", Type: "bind", Source: target, Options: []string{"rbind", "rw"}},
		},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: "pid"}, {Type: "network"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}}},
	}
	o := policy.DefaultOptions()
	o.AllowedHostPaths = []policy.AllowedHostPath{{PathPrefix: allowed}}
	bundle := filepath.Join(base, "bundle")
	os.MkdirAll(bundle, 0o700)
	in := &policy.Input{Spec: s, ID: "c1", Bundle: bundle, Options: o}
	for _, v := range policy.Evaluate(in) {
		if v.Check == "hostPathVolumes" {
			t.Fatalf("the allowlisted mount is refused: %v", v)
		}
	}
	return in, bundle, target
}

func TestPinMounts(t *testing.T) {
	in, bundle, target := pinInput(t)
	pins, changes, vs, err := PinMounts(in, bundle)
	if err != nil || len(vs) != 0 {
		t.Fatalf("PinMounts: %v %v", err, vs)
	}
	staged := filepath.Join(bundle, PinnedDir, "0")
	if pins.Len() != 1 || in.Spec.Mounts[1].Source != staged || len(changes) != 1 || changes[0].From != target {
		t.Fatalf("pins %d, source %q, changes %v", pins.Len(), in.Spec.Mounts[1].Source, changes)
	}
	if !mounted(t, staged) {
		t.Fatalf("%s is not a mount", staged)
	}
	// The path is swapped for something else: the pin still holds the
	// object that was judged.
	os.Rename(target, target+".old")
	os.Symlink("/etc", target)
	if b, err := os.ReadFile(filepath.Join(staged, "marker")); err != nil || string(b) != "inside" {
		t.Fatalf("staged marker %q %v", b, err)
	}
	pins.Close()
	if mounted(t, staged) {
		t.Fatal("the staging mount outlived Close")
	}
	if _, err := os.Stat(filepath.Join(bundle, PinnedDir)); !os.IsNotExist(err) {
		t.Fatalf("the staging directory outlived Close: %v", err)
	}
}

func TestPinMountsRefusesASwappedSource(t *testing.T) {
	in, bundle, target := pinInput(t)
	// Between the check and the pin, the checked directory becomes a symlink
	// out of the allowlist.
	os.Rename(target, target+".old")
	if err := os.Symlink("/etc", target); err != nil {
		t.Fatal(err)
	}
	pins, _, vs, err := PinMounts(in, bundle)
	if err != nil || pins != nil {
		t.Fatalf("PinMounts: pins %v, err %v", pins, err)
	}
	if len(vs) != 1 || !strings.Contains(vs[0].Reason, `comes from host path "/etc"`) || !strings.Contains(vs[0].Reason, "changed between the check and the mount") {
		t.Fatalf("violations %v", vs)
	}
	if _, err := os.Stat(filepath.Join(bundle, PinnedDir)); !os.IsNotExist(err) {
		t.Fatalf("a refusal left the staging directory: %v", err)
	}
}

// TestUnpin: what a killed shim left mounted in the bundle is removed by the
// `shim delete` cleanup.
func TestUnpin(t *testing.T) {
	in, bundle, _ := pinInput(t)
	pins, _, _, err := PinMounts(in, bundle)
	if err != nil || pins.Len() != 1 {
		t.Fatalf("PinMounts: %v", err)
	}
	staged := pins.staged[0]
	// the shim dies: its pins are never closed
	if err := Unpin(bundle); err != nil {
		t.Fatal(err)
	}
	if mounted(t, staged) {
		unix.Unmount(staged, unix.MNT_DETACH)
		t.Fatal("Unpin left the staging mount")
	}
	if _, err := os.Stat(filepath.Join(bundle, PinnedDir)); !os.IsNotExist(err) {
		t.Fatalf("Unpin left the staging directory: %v", err)
	}
	if err := Unpin(bundle); err != nil {
		t.Fatalf("Unpin of a clean bundle: %v", err)
	}
}

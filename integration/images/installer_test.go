package images

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The installer image carries the build machine's files byte for byte, executable, on busybox.
func TestInstallerImage(t *testing.T) {
	dir := t.TempDir()
	files := InstallerFiles{Shim: filepath.Join(dir, "shim"), Kubectl: filepath.Join(dir, "kubectl"), Script: filepath.Join(dir, "script.sh")}
	for i, p := range []string{files.Shim, files.Kubectl, files.Script} {
		if err := os.WriteFile(p, []byte{byte(i), 'x'}, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err := NewBuilder(Options{CacheDir: testCacheDir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	built, err := b.BuildAll(ctx, []Definition{Installer(files, "example.org/installer:v1")})
	if err != nil {
		t.Fatal(err)
	}
	fsys, _ := imageFS(t, built[0].Image)
	for i, p := range []string{"opt/hardened-runtime/bin/containerd-shim-hardened-v2", "usr/local/bin/kubectl", "usr/local/bin/hardened-node-installer"} {
		e, ok := fsys[p]
		if !ok {
			t.Errorf("/%s missing", p)
			continue
		}
		if string(e.data) != string([]byte{byte(i), 'x'}) || e.hdr.Mode != 0o755 {
			t.Errorf("/%s: content %q mode %o, want the host file's content and 0755", p, e.data, e.hdr.Mode)
		}
	}
	for _, p := range []string{"bin/sh", "bin/nsenter", "etc/hardened-runtime/validate-spec.json"} {
		if _, ok := fsys[p]; !ok {
			t.Errorf("/%s missing", p)
		}
	}
	if cfg := configOf(t, built[0].Image); !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/hardened-node-installer"}) ||
		!slices.Equal(cfg.Config.Cmd, []string{"install"}) {
		t.Errorf("entrypoint %q cmd %q", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}

	// a host file that is missing fails the build with its path
	files.Kubectl = filepath.Join(dir, "absent")
	if _, err := b.BuildAll(ctx, []Definition{Installer(files)}); err == nil {
		t.Error("a missing host file built")
	}
	// a relative host path is refused by validation
	files.Kubectl = "kubectl"
	if err := Validate([]Definition{Installer(files)}); err == nil {
		t.Error("a relative host path validated")
	}
}

package images

import (
	"archive/tar"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageFS returns the image's file system after applying its layers in order, and the ordered
// entries of each layer.
func imageFS(t *testing.T, img v1.Image) (map[string]tarEntry, [][]tarEntry) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]tarEntry{}
	var perLayer [][]tarEntry
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		entries := readTar(t, rc)
		rc.Close()
		for _, e := range entries {
			files[strings.TrimSuffix(e.hdr.Name, "/")] = e
		}
		perLayer = append(perLayer, entries)
	}
	return files, perLayer
}

func configOf(t *testing.T, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// assertStatic writes data to a file and checks that it is a static ELF executable.
func assertStatic(t *testing.T, what string, data []byte) {
	t.Helper()
	arch, err := lookupArch(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(f, data, 0o755); err != nil {
		t.Fatal(err)
	}
	static, err := isStatic(f, arch)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !static {
		t.Errorf("%s is dynamically linked", what)
	}
}

func TestAllImagesCommonProperties(t *testing.T) {
	configDigests := map[v1.Hash]string{}
	for _, b := range builtCatalog(t) {
		name := b.Definition.Name
		mt, err := b.Image.MediaType()
		if err != nil || mt != types.OCIManifestSchema1 {
			t.Errorf("%s: manifest media type %q (%v)", name, mt, err)
		}
		cfg := configOf(t, b.Image)
		if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
			t.Errorf("%s: platform %s/%s", name, cfg.OS, cfg.Architecture)
		}
		if len(cfg.Config.Env) == 0 || cfg.Config.Env[0] != DefaultPath {
			t.Errorf("%s: env %q does not start with %s", name, cfg.Config.Env, DefaultPath)
		}
		if cfg.Config.Labels[LabelImage] != name {
			t.Errorf("%s: label %s = %q", name, LabelImage, cfg.Config.Labels[LabelImage])
		}
		if len(cfg.Config.Entrypoint)+len(cfg.Config.Cmd) == 0 {
			t.Errorf("%s: no entrypoint or command", name)
		}
		if len(cfg.RootFS.DiffIDs) == 0 || len(cfg.History) != len(cfg.RootFS.DiffIDs) {
			t.Errorf("%s: %d diff IDs, %d history entries", name, len(cfg.RootFS.DiffIDs), len(cfg.History))
		}
		id, err := b.Image.ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := configDigests[id]; dup {
			t.Errorf("%s and %s have the same image ID %s", other, name, id)
		}
		configDigests[id] = name
	}
}

func TestBusyboxImage(t *testing.T) {
	b := builtByName(t, "busybox")
	files, layers := imageFS(t, b.Image)
	if len(layers) != 1 {
		t.Fatalf("busybox has %d layers, want the shared base layer only", len(layers))
	}
	for _, applet := range []string{"sh", "ls", "top", "sleep", "echo", "cat", "id", "ping", "brctl", "netstat", "hostname", "pidof", "touch", "grep", "mount", "wget", "nc", "seq", "dd"} {
		e, ok := files["bin/"+applet]
		if !ok {
			t.Errorf("/bin/%s is missing", applet)
			continue
		}
		if e.hdr.Typeflag != tar.TypeLink || e.hdr.Linkname != "bin/busybox" || e.hdr.Mode != 0o755 {
			t.Errorf("/bin/%s: type %c, link %q, mode %o; want a 0755 hard link to bin/busybox", applet, e.hdr.Typeflag, e.hdr.Linkname, e.hdr.Mode)
		}
	}
	seenTarget := false
	for _, e := range layers[0] {
		switch {
		case e.hdr.Name == "bin/busybox":
			seenTarget = true
		case e.hdr.Typeflag == tar.TypeLink && !seenTarget:
			t.Errorf("hard link %s precedes bin/busybox in the layer", e.hdr.Name)
		}
	}

	arch, _ := lookupArch(runtime.GOARCH)
	bbInfo, err := readELF(DefaultBusybox, arch)
	if err != nil {
		t.Fatal(err)
	}
	interp := strings.TrimPrefix(bbInfo.interp, "/")
	if e, ok := files[interp]; !ok || e.hdr.Typeflag != tar.TypeReg || len(e.data) == 0 {
		t.Errorf("program interpreter /%s missing or not a regular file", interp)
	}
	if !strings.Contains(interp, "ld-linux") {
		t.Errorf("unexpected interpreter %s", interp)
	}
	if _, ok := files["lib/"+arch.triplet+"/libc.so.6"]; !ok {
		t.Errorf("libc.so.6 missing from /lib/%s", arch.triplet)
	}
	for _, tool := range []string{ToolPgrep, ToolIpcs} {
		e, ok := files["bin/"+tool]
		if !ok {
			t.Errorf("/bin/%s missing", tool)
			continue
		}
		assertStatic(t, "/bin/"+tool, e.data)
	}
	passwd := string(files["etc/passwd"].data)
	for _, want := range []string{"root:x:0:0:", "nobody:x:65534:65534:", "www-data:x:33:33:"} {
		if !strings.Contains(passwd, want) {
			t.Errorf("/etc/passwd lacks %q", want)
		}
	}
	if e := files["tmp"]; e.hdr == nil || e.hdr.Mode != 0o1777 {
		t.Errorf("/tmp is missing or not 1777")
	}
	if e := files["var/run"]; e.hdr == nil || e.hdr.Typeflag != tar.TypeDir {
		t.Errorf("/var/run (nginx's PID file directory) is missing")
	}
	if cfg := configOf(t, b.Image); !slices.Equal(cfg.Config.Cmd, []string{"sh"}) || cfg.Config.User != "" {
		t.Errorf("busybox config: cmd %q user %q", cfg.Config.Cmd, cfg.Config.User)
	}
}

// TestBusyboxRunsInChroot extracts the busybox image and runs commands in it, proving that the
// copied glibc is complete and the applet links work.
func TestBusyboxRunsInChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	root := t.TempDir()
	_, layers := imageFS(t, builtByName(t, "test-image-predefined-group").Image)
	for _, layer := range layers {
		for _, e := range layer {
			p := filepath.Join(root, e.hdr.Name)
			var err error
			switch e.hdr.Typeflag {
			case tar.TypeDir:
				err = os.MkdirAll(p, 0o755)
			case tar.TypeReg:
				err = os.WriteFile(p, e.data, os.FileMode(e.hdr.Mode).Perm())
			case tar.TypeLink:
				os.Remove(p)
				err = os.Link(filepath.Join(root, e.hdr.Linkname), p)
			case tar.TypeSymlink:
				err = os.Symlink(e.hdr.Linkname, p)
			}
			if err != nil {
				t.Fatalf("extracting %s: %v", e.hdr.Name, err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "echo -n hello; echo; id -nu; id -G default-user; ls /bin/sh; pgrep -c nothing-matches || echo no-proc-ok")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = []string{DefaultPath}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("running sh in the image: %v\n%s", err, out)
	}
	want := "hello\nroot\n1000 50000\n/bin/sh\n"
	if !strings.HasPrefix(string(out), want) {
		t.Fatalf("output %q, want prefix %q", out, want)
	}
}

func TestPauseImages(t *testing.T) {
	for _, name := range []string{"pause", "pause-3.9"} {
		b := builtByName(t, name)
		files, layers := imageFS(t, b.Image)
		if len(layers) != 1 || len(files) != 1 {
			t.Errorf("%s: %d layers, %d files; want one layer with /pause only", name, len(layers), len(files))
		}
		e, ok := files["pause"]
		if !ok {
			t.Fatalf("%s: /pause missing", name)
		}
		assertStatic(t, name+" /pause", e.data)
		if e.hdr.Mode != 0o755 {
			t.Errorf("%s: /pause mode %o", name, e.hdr.Mode)
		}
		cfg := configOf(t, b.Image)
		if !slices.Equal(cfg.Config.Entrypoint, []string{"/pause"}) || cfg.Config.User != "65535:65535" {
			t.Errorf("%s: entrypoint %q user %q", name, cfg.Config.Entrypoint, cfg.Config.User)
		}
	}
}

func TestServerImages(t *testing.T) {
	cases := []struct {
		name, binary, listen string
		wantArgs             []string
	}{
		{"nginx", "usr/sbin/nginx", "-listen=:80", []string{"-pid-file=/var/run/nginx.pid", "-title=nginx: master process nginx -g daemon off;"}},
		{"hostnet-nginx", "usr/sbin/nginx", "-listen=:12003", []string{"-pid-file=/var/run/nginx.pid"}},
		{"httpd", "usr/local/apache2/bin/httpd", "-listen=:80", []string{"-name=httpd"}},
	}
	for _, c := range cases {
		b := builtByName(t, c.name)
		files, _ := imageFS(t, b.Image)
		e, ok := files[c.binary]
		if !ok {
			t.Errorf("%s: /%s missing", c.name, c.binary)
			continue
		}
		assertStatic(t, c.name+" /"+c.binary, e.data)
		for _, applet := range []string{"sh", "cat", "grep", "echo", "sleep"} {
			if _, ok := files["bin/"+applet]; !ok {
				t.Errorf("%s: /bin/%s missing (critest execs it in this image)", c.name, applet)
			}
		}
		cfg := configOf(t, b.Image)
		args := cfg.Config.Cmd
		if len(args) == 0 || args[0] != "/"+c.binary || !slices.Contains(args, c.listen) {
			t.Errorf("%s: cmd %q", c.name, args)
		}
		for _, want := range c.wantArgs {
			if !slices.Contains(args, want) {
				t.Errorf("%s: cmd %q lacks %q", c.name, args, want)
			}
		}
	}
}

func TestNoNewPrivsImage(t *testing.T) {
	b := builtByName(t, "nonewprivs")
	files, _ := imageFS(t, b.Image)
	e, ok := files["usr/local/bin/nnp"]
	if !ok {
		t.Fatal("/usr/local/bin/nnp missing")
	}
	if e.hdr.Mode != 0o4755 || e.hdr.Uid != 0 {
		t.Errorf("nnp mode %o owner %d; want set-user-ID root", e.hdr.Mode, e.hdr.Uid)
	}
	assertStatic(t, "nnp", e.data)
	if cfg := configOf(t, b.Image); !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/nnp"}) {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
}

func TestProbeImage(t *testing.T) {
	b := builtByName(t, "probe")
	files, layers := imageFS(t, b.Image)
	if len(layers) != 2 {
		t.Errorf("probe image has %d layers, want the busybox base plus one", len(layers))
	}
	probe, ok := files["usr/local/bin/probe"]
	if !ok {
		t.Fatal("/usr/local/bin/probe missing")
	}
	if probe.hdr.Mode != 0o755 || probe.hdr.Uid != 0 {
		t.Errorf("probe mode %o owner %d", probe.hdr.Mode, probe.hdr.Uid)
	}
	assertStatic(t, "probe", probe.data)
	nnp, ok := files["usr/local/bin/nnp"]
	if !ok {
		t.Fatal("/usr/local/bin/nnp missing")
	}
	if nnp.hdr.Mode != 0o4755 || nnp.hdr.Uid != 0 {
		t.Errorf("nnp mode %o owner %d; want set-user-ID root", nnp.hdr.Mode, nnp.hdr.Uid)
	}
	for _, applet := range []string{"sh", "id", "cat"} {
		if _, ok := files["bin/"+applet]; !ok {
			t.Errorf("/bin/%s missing", applet)
		}
	}
	if string(files["etc/hostname"].data) != "probe\n" {
		t.Errorf("/etc/hostname is %q", files["etc/hostname"].data)
	}
	cfg := configOf(t, b.Image)
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/probe"}) || len(cfg.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
}

// TestProbeImageRunsInChroot extracts the probe image and runs the probe in it as root and as
// nobody: the image's set-user-ID nnp must give nobody euid 0 (no no_new_privs here), and the
// write test must land in, and be removed from, the image's root.
func TestProbeImageRunsInChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	root := extractImage(t, builtByName(t, "probe").Image)
	run := func(cred *syscall.Credential, only string) map[string]probeAttempt {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "/usr/local/bin/probe", "-only", only)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: cred}
		cmd.Dir = "/"
		cmd.Env = []string{DefaultPath}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("probe in the image: %v\n%s", err, out)
		}
		var rep struct {
			Status   map[string]string
			Attempts []probeAttempt
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("probe output %q: %v", out, err)
		}
		got := map[string]probeAttempt{}
		for _, a := range rep.Attempts {
			got[a.Name] = a
		}
		return got
	}

	got := run(nil, "write-rootfs,setuid-gain,io_uring-fallback")
	if a := got["write-rootfs"]; !a.OK {
		t.Errorf("write-rootfs as root: %+v", a)
	}
	if a := got["setuid-gain"]; a.OK || a.Errno != "" || a.Detail != "running as root: not applicable" {
		t.Errorf("setuid-gain as root: %+v", a)
	}
	if a := got["io_uring-fallback"]; !a.OK {
		t.Errorf("io_uring-fallback: %+v", a)
	}

	got = run(&syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}, "write-rootfs,setuid-gain")
	if a := got["setuid-gain"]; !a.OK || !strings.Contains(a.Detail, `"Effective uid: 0"`) {
		t.Errorf("setuid-gain as nobody: %+v", a)
	}
	if a := got["write-rootfs"]; a.OK || a.Errno != "EACCES" {
		t.Errorf("write-rootfs as nobody: %+v", a)
	}
	if _, err := os.Lstat(filepath.Join(root, ".probe-write-test")); err == nil {
		t.Error("/.probe-write-test was left in the image root")
	}
}

// probeAttempt is one attempt of the probe's report.
type probeAttempt struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Errno  string `json:"errno"`
	Detail string `json:"detail"`
}

// extractImage writes the image's file system to a new directory, with owners and set-user-ID
// bits, and returns it.
func extractImage(t *testing.T, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	_, layers := imageFS(t, img)
	for _, layer := range layers {
		for _, e := range layer {
			p := filepath.Join(root, e.hdr.Name)
			mode := os.FileMode(e.hdr.Mode).Perm()
			if e.hdr.Mode&0o4000 != 0 {
				mode |= os.ModeSetuid
			}
			if e.hdr.Mode&0o2000 != 0 {
				mode |= os.ModeSetgid
			}
			if e.hdr.Mode&0o1000 != 0 {
				mode |= os.ModeSticky
			}
			var err error
			switch e.hdr.Typeflag {
			case tar.TypeDir:
				if err = os.MkdirAll(p, 0o755); err == nil {
					err = os.Chmod(p, mode)
				}
			case tar.TypeReg:
				os.Remove(p)
				if err = os.WriteFile(p, e.data, 0o600); err == nil {
					// chown clears the set-user-ID bit, so it comes first.
					if err = os.Lchown(p, e.hdr.Uid, e.hdr.Gid); err == nil {
						err = os.Chmod(p, mode)
					}
				}
			case tar.TypeLink:
				os.Remove(p)
				err = os.Link(filepath.Join(root, e.hdr.Linkname), p)
			case tar.TypeSymlink:
				err = os.Symlink(e.hdr.Linkname, p)
			}
			if err != nil {
				t.Fatalf("extracting %s: %v", e.hdr.Name, err)
			}
		}
	}
	return root
}

func TestProjectWebserverImage(t *testing.T) {
	b := builtByName(t, "webserver")
	files, _ := imageFS(t, b.Image)
	e, ok := files["usr/local/bin/webserver"]
	if !ok {
		t.Fatal("/usr/local/bin/webserver missing")
	}
	assertStatic(t, "webserver", e.data)
	if string(files["var/www/index.html"].data) != webserverIndex {
		t.Errorf("/var/www/index.html is %q", files["var/www/index.html"].data)
	}
	cfg := configOf(t, b.Image)
	if len(cfg.Config.Entrypoint) == 0 || cfg.Config.Entrypoint[0] != "/usr/local/bin/webserver" ||
		!slices.Contains(cfg.Config.Entrypoint, "-root=/var/www") || !slices.Equal(cfg.Config.Cmd, []string{"-listen=:8080"}) {
		t.Errorf("entrypoint %q cmd %q; want the port in the command, so that container args replace it", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v", cfg.Config.ExposedPorts)
	}
}

func TestUserImages(t *testing.T) {
	for name, user := range map[string]string{
		"test-image-user-uid":            "1002",
		"test-image-user-username":       "www-data",
		"test-image-user-uid-group":      "1003:1004",
		"test-image-user-username-group": "www-data:1004",
		"test-image-predefined-group":    "1000",
	} {
		if got := configOf(t, builtByName(t, name).Image).Config.User; got != user {
			t.Errorf("%s: USER %q, want %q", name, got, user)
		}
	}
	files, _ := imageFS(t, builtByName(t, "test-image-predefined-group").Image)
	group := string(files["etc/group"].data)
	if !strings.Contains(group, "\ngroup-defined-in-image:x:50000:default-user\n") || !strings.Contains(group, "\ndefault-user:x:1000:\n") {
		t.Errorf("/etc/group lacks the predefined groups:\n%s", group)
	}
	if !strings.Contains(string(files["etc/passwd"].data), "\ndefault-user:x:1000:1000:") {
		t.Error("/etc/passwd lacks default-user")
	}
	if h := files["home/default-user"].hdr; h == nil || h.Uid != 1000 {
		t.Error("/home/default-user missing or not owned by 1000")
	}
}

func TestMarkerImages(t *testing.T) {
	for name, marker := range map[string]string{
		"test-image-1": "test-image-1", "test-image-tags": "same-image", "test-image-tag-test": "test", "test-image-tag-all": "all",
	} {
		files, _ := imageFS(t, builtByName(t, name).Image)
		if _, ok := files[marker]; !ok {
			t.Errorf("%s: marker /%s missing", name, marker)
		}
		if _, ok := files["bin/ls"]; !ok {
			t.Errorf("%s: /bin/ls missing (critest executes it from an image volume)", name)
		}
	}
}

func TestBuildsAreReproducible(t *testing.T) {
	first := builtByName(t, "busybox")
	b, err := NewBuilder(Options{CacheDir: testCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	img, err := b.Build(context.Background(), first.Definition)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := first.Image.Digest()
	d2, _ := img.Digest()
	if d1 != d2 {
		t.Fatalf("building busybox twice gave %s and %s", d1, d2)
	}
}

func TestBuildRespectsCancellation(t *testing.T) {
	b, err := NewBuilder(Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Build(ctx, Catalog()[0]); err == nil {
		t.Fatal("Build with a cancelled context succeeded")
	}
}

func TestMissingBusyboxIsExplained(t *testing.T) {
	b, err := NewBuilder(Options{CacheDir: testCacheDir, Busybox: "/nonexistent/busybox"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Build(context.Background(), Catalog()[0])
	if err == nil || !strings.Contains(err.Error(), "apt-get install busybox") {
		t.Fatalf("error %v does not explain how to get busybox", err)
	}
}

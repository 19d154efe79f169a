package images

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"strings"
	"testing"
)

type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

// readTar lists a tar stream's entries in order.
func readTar(t *testing.T, r io.Reader) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", hdr.Name, err)
		}
		out = append(out, tarEntry{hdr: hdr, data: data})
	}
}

func TestLayerOrderingAndModes(t *testing.T) {
	l := newLayerFS()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.File("/bin/busybox", []byte("ELF"), 0o755, 0, 0))
	must(l.HardLink("/bin/[", "/bin/busybox")) // sorts before its target
	must(l.HardLink("/bin/sh", "/bin/busybox"))
	must(l.Dir("/tmp", fs.ModeSticky|0o777, 0, 0))
	must(l.File("/usr/local/bin/nnp", []byte("x"), fs.ModeSetuid|0o755, 0, 0))
	must(l.Symlink("/lib64/ld.so", "../lib/ld.so"))
	must(l.Dir("/home/u", 0o750, 1000, 1000))

	raw, err := l.Tar()
	if err != nil {
		t.Fatal(err)
	}
	entries := readTar(t, bytes.NewReader(raw))
	pos := map[string]int{}
	byName := map[string]*tar.Header{}
	for i, e := range entries {
		pos[e.hdr.Name] = i
		byName[e.hdr.Name] = e.hdr
	}
	for _, dir := range []string{"bin/", "usr/", "usr/local/", "usr/local/bin/", "lib64/", "home/"} {
		h, ok := byName[dir]
		if !ok || h.Typeflag != tar.TypeDir || h.Mode != 0o755 {
			t.Errorf("implicit parent %s missing or not a 0755 directory: %+v", dir, h)
		}
	}
	for _, link := range []string{"bin/[", "bin/sh"} {
		h := byName[link]
		if h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "bin/busybox" {
			t.Fatalf("%s is not a hard link to bin/busybox: %+v", link, h)
		}
		if h.Mode != 0o755 {
			t.Errorf("hard link %s has mode %o; containerd would apply it to bin/busybox", link, h.Mode)
		}
		if pos[link] < pos["bin/busybox"] {
			t.Errorf("hard link %s precedes its target in the tar stream", link)
		}
	}
	if h := byName["tmp/"]; h.Mode != 0o1777 {
		t.Errorf("/tmp mode %o, want 1777", h.Mode)
	}
	if h := byName["usr/local/bin/nnp"]; h.Mode != 0o4755 {
		t.Errorf("nnp mode %o, want 4755", h.Mode)
	}
	if h := byName["home/u/"]; h.Uid != 1000 || h.Gid != 1000 || h.Mode != 0o750 {
		t.Errorf("home/u owner/mode %d:%d %o", h.Uid, h.Gid, h.Mode)
	}
	for _, e := range entries {
		if !e.hdr.ModTime.Equal(buildEpoch) || e.hdr.Uname != "" {
			t.Errorf("%s: time %v, uname %q; want the build epoch and no names", e.hdr.Name, e.hdr.ModTime, e.hdr.Uname)
		}
	}
}

func TestLayerRejects(t *testing.T) {
	l := newLayerFS()
	if err := l.File("/a", nil, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.File("/a", nil, 0o644, 0, 0); err == nil {
		t.Error("adding /a twice succeeded")
	}
	if err := l.File("/a/b", nil, 0o644, 0, 0); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("adding below a file: %v", err)
	}
	if err := l.HardLink("/c", "/missing"); err == nil {
		t.Error("hard link to a missing target succeeded")
	}
	if err := l.File("relative", nil, 0o644, 0, 0); err == nil {
		t.Error("relative path accepted")
	}
	if err := l.Dir("/", 0o755, 0, 0); err == nil {
		t.Error("root directory accepted")
	}
}

func TestLayerIsDeterministic(t *testing.T) {
	build := func() string {
		l := newLayerFS()
		for _, p := range []string{"/z", "/a/b", "/m"} {
			if err := l.File(p, []byte(p), 0o644, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		layer, err := l.Layer()
		if err != nil {
			t.Fatal(err)
		}
		d, err := layer.Digest()
		if err != nil {
			t.Fatal(err)
		}
		diff, err := layer.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		if d == diff {
			t.Fatal("digest equals diff ID: the layer is not compressed")
		}
		return d.String()
	}
	if a, b := build(), build(); a != b {
		t.Fatalf("same content gave digests %s and %s", a, b)
	}
}

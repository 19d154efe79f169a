package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// buildEpoch is the timestamp of every file, layer and image config the package produces, so
// that the same inputs always give the same digests.
var buildEpoch = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)

type entryKind int

const (
	kindDir entryKind = iota
	kindFile
	kindSymlink
	kindHardLink
)

// layerEntry is one file system object of a layer.
type layerEntry struct {
	kind     entryKind
	mode     fs.FileMode // permission bits plus fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky
	uid, gid int
	data     []byte // kindFile
	target   string // kindSymlink: link text; kindHardLink: layer path of the target
}

// layerFS accumulates the contents of one image layer and renders it as a deterministic tar
// stream: entries sorted by path, directories before what they contain, hard links after the
// files they point to, fixed timestamps, no user or group names.
type layerFS struct {
	entries map[string]*layerEntry // key: clean relative path ("bin/sh")
}

func newLayerFS() *layerFS {
	return &layerFS{entries: map[string]*layerEntry{}}
}

// layerPath turns an absolute image path into the relative form used in layer tars.
func layerPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q is not absolute", p)
	}
	clean := strings.TrimPrefix(path.Clean(p), "/")
	if clean == "" {
		return "", fmt.Errorf("path %q names the root directory", p)
	}
	return clean, nil
}

// add inserts an entry after creating its missing parent directories (0755, root-owned). A path
// can be added once, except that re-adding an existing directory updates its mode and owner.
func (l *layerFS) add(p string, e *layerEntry) error {
	rel, err := layerPath(p)
	if err != nil {
		return err
	}
	if old, ok := l.entries[rel]; ok {
		if old.kind == kindDir && e.kind == kindDir {
			*old = *e
			return nil
		}
		return fmt.Errorf("%s is already in the layer", p)
	}
	for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
		parent, ok := l.entries[dir]
		if !ok {
			l.entries[dir] = &layerEntry{kind: kindDir, mode: 0o755}
			continue
		}
		if parent.kind != kindDir {
			return fmt.Errorf("cannot add %s: /%s is not a directory", p, dir)
		}
	}
	l.entries[rel] = e
	return nil
}

// Dir adds a directory.
func (l *layerFS) Dir(p string, mode fs.FileMode, uid, gid int) error {
	return l.add(p, &layerEntry{kind: kindDir, mode: mode & tarModeBits, uid: uid, gid: gid})
}

// File adds a regular file.
func (l *layerFS) File(p string, data []byte, mode fs.FileMode, uid, gid int) error {
	return l.add(p, &layerEntry{kind: kindFile, mode: mode & tarModeBits, uid: uid, gid: gid, data: data})
}

// Symlink adds a symbolic link whose text is target.
func (l *layerFS) Symlink(p, target string) error {
	return l.add(p, &layerEntry{kind: kindSymlink, mode: 0o777, target: target})
}

// HardLink adds a hard link to the regular file target, which must already be in the layer. The
// link entry carries the target's mode and owner: containerd applies a link entry's mode to the
// shared inode, so a link with mode 0 would make the target unusable.
func (l *layerFS) HardLink(p, target string) error {
	rel, err := layerPath(target)
	if err != nil {
		return err
	}
	t, ok := l.entries[rel]
	if !ok || t.kind != kindFile {
		return fmt.Errorf("hard link %s: target %s is not a regular file in the layer", p, target)
	}
	return l.add(p, &layerEntry{kind: kindHardLink, mode: t.mode, uid: t.uid, gid: t.gid, target: rel})
}

// Empty reports whether nothing was added.
func (l *layerFS) Empty() bool { return len(l.entries) == 0 }

// tarModeBits are the mode bits a layer entry keeps.
const tarModeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// tarMode converts permission and special bits to the tar header encoding.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// Tar renders the layer as an uncompressed tar stream.
func (l *layerFS) Tar() ([]byte, error) {
	var names, links []string
	for name, e := range l.entries {
		if e.kind == kindHardLink {
			links = append(links, name)
		} else {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	sort.Strings(links)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range append(names, links...) {
		e := l.entries[name]
		hdr := &tar.Header{
			Name:    name,
			Mode:    tarMode(e.mode),
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: buildEpoch,
		}
		switch e.kind {
		case kindDir:
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case kindFile:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.data))
		case kindSymlink:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.target
		case kindHardLink:
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = e.target
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("writing tar header for %s: %w", name, err)
		}
		if e.kind == kindFile {
			if _, err := tw.Write(e.data); err != nil {
				return nil, fmt.Errorf("writing %s to the layer: %w", name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("finishing layer tar: %w", err)
	}
	return buf.Bytes(), nil
}

// Layer renders the layer as a gzip-compressed OCI layer. Compression is deterministic (no name
// or time in the gzip header), so equal contents give equal digests.
func (l *layerFS) Layer() (v1.Layer, error) {
	raw, err := l.Tar()
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	compressed := gz.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("creating layer: %w", err)
	}
	return layer, nil
}

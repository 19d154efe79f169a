package images

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultCacheDir is where built tools are cached unless Options.CacheDir says otherwise; it is
// relative to the working directory.
const DefaultCacheDir = ".lab/images-cache"

// Options configure a Builder.
type Options struct {
	// CacheDir holds the built Go tools between runs; DefaultCacheDir when empty.
	CacheDir string
	// Busybox is the host's dynamically linked busybox; DefaultBusybox when empty.
	Busybox string
	// Go is the go command used to build the tools; "go" (looked up on PATH) when empty.
	Go string
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
}

// Builder builds lab images from host files. Shared parts (the tools and the busybox layer) are
// built once per Builder. A Builder is safe for concurrent use.
type Builder struct {
	opts Options
	arch archInfo

	mu      sync.Mutex
	tools   map[string][]byte
	busybox *busyboxRoot
	bbLayer v1.Layer
}

// NewBuilder returns a Builder for images of the machine's architecture (runtime.GOARCH), which
// is also the architecture of the host files the images are made of.
func NewBuilder(opts Options) (*Builder, error) {
	if opts.CacheDir == "" {
		opts.CacheDir = DefaultCacheDir
	}
	if opts.Busybox == "" {
		opts.Busybox = DefaultBusybox
	}
	if opts.Go == "" {
		opts.Go = "go"
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	arch, err := lookupArch(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	return &Builder{opts: opts, arch: arch}, nil
}

// Built is a built image and the definition it came from.
type Built struct {
	Definition Definition
	Image      v1.Image
}

// BuildAll validates the definitions and builds every image.
func (b *Builder) BuildAll(ctx context.Context, defs []Definition) ([]Built, error) {
	if err := Validate(defs); err != nil {
		return nil, fmt.Errorf("invalid image definitions: %w", err)
	}
	built := make([]Built, 0, len(defs))
	for _, d := range defs {
		img, err := b.Build(ctx, d)
		if err != nil {
			return nil, err
		}
		built = append(built, Built{Definition: d, Image: img})
	}
	return built, nil
}

// Build builds the image of one definition.
func (b *Builder) Build(ctx context.Context, d Definition) (v1.Image, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tools, err := b.ensureTools(ctx)
	if err != nil {
		return nil, err
	}

	var adds []mutate.Addendum
	var root *busyboxRoot
	if d.Base == Busybox {
		var layer v1.Layer
		root, layer, err = b.ensureBusybox(ctx, tools)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{
			Layer:     layer,
			MediaType: types.OCILayer,
			History: v1.History{
				Created:   v1.Time{Time: buildEpoch},
				CreatedBy: fmt.Sprintf("labimages: busybox root file system (%s from %s, host glibc, pgrep and ipcs stand-ins)", root.version, b.opts.Busybox),
				Comment:   "built from host files",
			},
		})
	}

	top, err := definitionLayer(d, root, tools)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", d.Name, err)
	}
	if !top.Empty() {
		layer, err := top.Layer()
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", d.Name, err)
		}
		adds = append(adds, mutate.Addendum{
			Layer:     layer,
			MediaType: types.OCILayer,
			History: v1.History{
				Created:   v1.Time{Time: buildEpoch},
				CreatedBy: "labimages: files of image " + d.Name,
			},
		})
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("image %s: adding layers: %w", d.Name, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: reading config: %w", d.Name, err)
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture = runtime.GOARCH
	cfg.OS = "linux"
	cfg.Created = v1.Time{Time: buildEpoch}
	cfg.Author = "labimages"
	cfg.Config = runtimeConfig(d)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("image %s: setting config: %w", d.Name, err)
	}
	return img, nil
}

// runtimeConfig turns a definition's Config into the image configuration's "config" object.
func runtimeConfig(d Definition) v1.Config {
	c := d.Config
	out := v1.Config{
		Entrypoint: c.Entrypoint,
		Cmd:        c.Cmd,
		Env:        append([]string{DefaultPath}, c.Env...),
		User:       c.User,
		WorkingDir: c.WorkingDir,
		StopSignal: c.StopSignal,
		Labels:     map[string]string{LabelImage: d.Name},
	}
	for k, v := range c.Labels {
		out.Labels[k] = v
	}
	if len(c.Volumes) > 0 {
		out.Volumes = map[string]struct{}{}
		for _, v := range c.Volumes {
			out.Volumes[v] = struct{}{}
		}
	}
	if len(c.ExposedPorts) > 0 {
		out.ExposedPorts = map[string]struct{}{}
		for _, p := range c.ExposedPorts {
			out.ExposedPorts[p] = struct{}{}
		}
	}
	return out
}

// definitionLayer renders the files and accounts a definition adds to its base.
func definitionLayer(d Definition, root *busyboxRoot, tools map[string][]byte) (*layerFS, error) {
	l := newLayerFS()
	if len(d.Users) > 0 || len(d.Groups) > 0 {
		passwd, group := accountFiles(d.Users, d.Groups)
		if err := l.File("/etc/passwd", []byte(passwd), 0o644, 0, 0); err != nil {
			return nil, err
		}
		if err := l.File("/etc/group", []byte(group), 0o644, 0, 0); err != nil {
			return nil, err
		}
		for _, u := range d.Users {
			if u.Home == "" || root.has(u.Home) {
				continue
			}
			if err := l.Dir(u.Home, 0o755, u.UID, u.GID); err != nil {
				return nil, fmt.Errorf("home directory of %s: %w", u.Name, err)
			}
		}
	}
	files := append([]File(nil), d.Files...)
	sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for _, f := range files {
		switch {
		case f.Mode.IsDir():
			mode := f.Mode &^ fs.ModeDir
			if mode == 0 {
				mode = 0o755
			}
			if err := l.Dir(f.Path, mode, f.UID, f.GID); err != nil {
				return nil, err
			}
		case f.HostPath != "":
			data, err := os.ReadFile(f.HostPath)
			if err != nil {
				return nil, fmt.Errorf("file %s: %w", f.Path, err)
			}
			mode := f.Mode
			if mode == 0 {
				mode = 0o644
				if st, err := os.Stat(f.HostPath); err == nil && st.Mode()&0o111 != 0 {
					mode = 0o755
				}
			}
			if err := l.File(f.Path, data, mode, f.UID, f.GID); err != nil {
				return nil, err
			}
		case f.Tool != "":
			mode := f.Mode
			if mode == 0 {
				mode = 0o755
			}
			if err := l.File(f.Path, tools[f.Tool], mode, f.UID, f.GID); err != nil {
				return nil, err
			}
		default:
			mode := f.Mode
			if mode == 0 {
				mode = 0o644
			}
			if err := l.File(f.Path, []byte(f.Content), mode, f.UID, f.GID); err != nil {
				return nil, err
			}
		}
	}
	// Directories the base already has keep the base's mode: drop the implicit 0755 parents
	// that would otherwise override, e.g., /tmp's sticky bit.
	if root != nil {
		for rel, e := range l.entries {
			if e.kind == kindDir && root.has("/"+rel) && !explicitDir(files, rel) {
				base := root.fs.entries[rel]
				e.mode, e.uid, e.gid = base.mode, base.uid, base.gid
			}
		}
	}
	return l, nil
}

// explicitDir reports whether files lists the directory rel itself.
func explicitDir(files []File, rel string) bool {
	for _, f := range files {
		if f.Mode.IsDir() && strings.TrimPrefix(path.Clean(f.Path), "/") == rel {
			return true
		}
	}
	return false
}

// ensureTools builds (or loads from the cache) the Go tools once.
func (b *Builder) ensureTools(ctx context.Context) (map[string][]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tools != nil {
		return b.tools, nil
	}
	tools, err := buildTools(ctx, b.opts.Go, b.opts.CacheDir, runtime.GOARCH, b.opts.Logf)
	if err != nil {
		return nil, err
	}
	b.tools = tools
	return tools, nil
}

// ensureBusybox builds the busybox root file system and its layer once.
func (b *Builder) ensureBusybox(ctx context.Context, tools map[string][]byte) (*busyboxRoot, v1.Layer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busybox != nil {
		return b.busybox, b.bbLayer, nil
	}
	if _, err := os.Stat(b.opts.Busybox); err != nil {
		return nil, nil, fmt.Errorf("busybox-based images need Debian's dynamically linked busybox (apt-get install busybox): %w", err)
	}
	root, err := newBusyboxRoot(ctx, b.opts.Busybox, b.arch, tools)
	if err != nil {
		return nil, nil, err
	}
	layer, err := root.fs.Layer()
	if err != nil {
		return nil, nil, fmt.Errorf("busybox layer: %w", err)
	}
	b.opts.Logf("busybox root file system: %d applets of %q", len(root.applets), root.version)
	b.busybox, b.bbLayer = root, layer
	return root, layer, nil
}

package images

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Base selects the root file system an image starts from.
type Base int

const (
	// Scratch images contain only what Definition.Files adds.
	Scratch Base = iota
	// Busybox images start from the lab's busybox root file system: Debian's dynamically linked
	// busybox with a hard link per applet in /bin, the glibc files it needs, the pgrep and ipcs
	// stand-ins, and the account files of the upstream busybox image (see busybox.go).
	Busybox
)

func (b Base) String() string {
	switch b {
	case Scratch:
		return "scratch"
	case Busybox:
		return "busybox"
	default:
		return fmt.Sprintf("Base(%d)", int(b))
	}
}

// File is a file or directory an image adds on top of its base.
type File struct {
	// Path is the absolute path in the image.
	Path string
	// Mode holds the permission bits plus fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky;
	// fs.ModeDir makes the entry a directory. Zero means 0644 for content, 0755 for tools and
	// directories.
	Mode fs.FileMode
	// UID and GID own the entry.
	UID, GID int
	// Content is the file's content; leave it empty for directories and tools.
	Content string
	// Tool installs one of the Go stand-ins (ToolPause, ToolWebserver, ...) at Path.
	Tool string
	// HostPath copies a file of the build machine (read at build time) to Path.
	HostPath string
}

// Account is a user the image adds to /etc/passwd. Accounts need the Busybox base.
type Account struct {
	Name     string
	UID, GID int
	Gecos    string
	Home     string // created (owned by UID:GID) when it does not exist yet
	Shell    string
}

// Group is a group the image adds to /etc/group. Groups need the Busybox base.
type Group struct {
	Name    string
	GID     int
	Members []string
}

// Config is the runtime part of an image configuration.
type Config struct {
	Entrypoint   []string
	Cmd          []string
	Env          []string // added after PATH
	User         string
	WorkingDir   string
	Volumes      []string
	ExposedPorts []string // "80/tcp"
	StopSignal   string
	Labels       map[string]string
}

// Definition describes one lab image and every reference it is served under. All references
// of a definition name the same image (same digest); different definitions always give
// different images, because each image carries its definition's name in the LabelImage label.
type Definition struct {
	// Name identifies the image in logs and archive file names: lower case letters, digits,
	// '.', '_' and '-'.
	Name string
	// Refs are the references the image is served under, each with an explicit tag. When
	// serving, the registry host is dropped (see TargetOf).
	Refs []string
	// Purpose says who needs the image and why.
	Purpose string
	// Base is the file system the image starts from.
	Base Base
	// Users and Groups are appended to the base's /etc/passwd and /etc/group.
	Users  []Account
	Groups []Group
	// Files are added in one layer on top of the base.
	Files []File
	// Config is the image's runtime configuration.
	Config Config
}

// LabelImage is the label that carries a definition's name in its image's configuration.
const LabelImage = "io.hardened-runtime.lab.image"

// DefaultPath is the PATH every image's environment starts with.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Target is where a reference is stored in the lab registry.
type Target struct {
	// Ref is the normalized reference, e.g. "docker.io/library/busybox:latest".
	Ref string
	// Repository is the repository path without the registry host, e.g. "library/busybox".
	Repository string
	// Tag is the reference's tag.
	Tag string
}

// Path returns "repository:tag".
func (t Target) Path() string { return t.Repository + ":" + t.Tag }

// TargetOf maps a reference to its place in the lab registry. The registry host is dropped:
// the lab's containerd sends requests for every registry host to the one local registry (a
// certs.d/_default/hosts.toml mirror), which sees only the repository path. So
// "registry.k8s.io/pause:3.10.2" is stored as "pause:3.10.2" and "docker.io/library/busybox" as
// "library/busybox:latest". Digest references are refused: locally built images never have
// upstream digests.
func TargetOf(ref string) (Target, error) {
	if strings.Contains(ref, "@") {
		return Target{}, fmt.Errorf("reference %q pins a digest; the lab builds its images locally, so it cannot serve upstream digests", ref)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return Target{}, fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	registry := tag.RegistryStr()
	if registry == name.DefaultRegistry {
		registry = "docker.io" // how containerd and the distribution library spell Docker Hub
	}
	return Target{
		Ref:        registry + "/" + tag.RepositoryStr() + ":" + tag.TagStr(),
		Repository: tag.RepositoryStr(),
		Tag:        tag.TagStr(),
	}, nil
}

// Targets returns the registry targets of the definition's references, without duplicates
// (references that differ only in their registry host share a target).
func (d Definition) Targets() ([]Target, error) {
	var targets []Target
	seen := map[string]bool{}
	for _, ref := range d.Refs {
		t, err := TargetOf(ref)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", d.Name, err)
		}
		if !seen[t.Path()] {
			seen[t.Path()] = true
			targets = append(targets, t)
		}
	}
	return targets, nil
}

// NormalizedRefs returns the definition's references in normalized form, without duplicates.
func (d Definition) NormalizedRefs() ([]string, error) {
	var refs []string
	for _, ref := range d.Refs {
		t, err := TargetOf(ref)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", d.Name, err)
		}
		if !slices.Contains(refs, t.Ref) {
			refs = append(refs, t.Ref)
		}
	}
	return refs, nil
}

var definitionName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Validate checks a set of definitions: well-formed names, references, files and accounts,
// unique names, and no registry target claimed by two definitions.
func Validate(defs []Definition) error {
	var errs []error
	names := map[string]bool{}
	owners := map[string]string{} // target path -> definition name
	for _, d := range defs {
		if !definitionName.MatchString(d.Name) {
			errs = append(errs, fmt.Errorf("image name %q must match %s", d.Name, definitionName))
		}
		if names[d.Name] {
			errs = append(errs, fmt.Errorf("image name %q is defined twice", d.Name))
		}
		names[d.Name] = true
		if err := d.validate(); err != nil {
			errs = append(errs, err)
		}
		targets, err := d.Targets()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, t := range targets {
			if other, ok := owners[t.Path()]; ok {
				errs = append(errs, fmt.Errorf("images %s and %s are both served as %s", other, d.Name, t.Path()))
				continue
			}
			owners[t.Path()] = d.Name
		}
	}
	return errors.Join(errs...)
}

// validate checks one definition on its own.
func (d Definition) validate() error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("image %s: "+format, append([]any{d.Name}, args...)...))
	}
	if len(d.Refs) == 0 {
		fail("has no references")
	}
	for _, ref := range d.Refs {
		if !strings.Contains(path.Base(ref), ":") {
			fail("reference %q has no explicit tag", ref)
		}
	}
	if d.Base != Scratch && d.Base != Busybox {
		fail("unknown base %v", d.Base)
	}
	if (len(d.Users) > 0 || len(d.Groups) > 0) && d.Base != Busybox {
		fail("users and groups need the busybox base, which has /etc/passwd and /etc/group")
	}
	for _, u := range d.Users {
		if u.Name == "" || strings.ContainsAny(u.Name, ":\n") || u.UID < 0 || u.GID < 0 {
			fail("invalid user %+v", u)
		}
	}
	for _, g := range d.Groups {
		if g.Name == "" || strings.ContainsAny(g.Name, ":\n") || g.GID < 0 {
			fail("invalid group %+v", g)
		}
	}
	paths := map[string]bool{}
	for _, f := range d.Files {
		rel, err := layerPath(f.Path)
		if err != nil {
			fail("file: %v", err)
			continue
		}
		if paths[rel] {
			fail("file %s is listed twice", f.Path)
		}
		paths[rel] = true
		if f.Tool != "" && !slices.Contains(toolNames, f.Tool) {
			fail("file %s: unknown tool %q (known: %v)", f.Path, f.Tool, toolNames)
		}
		sources := 0
		for _, set := range []bool{f.Tool != "", f.Content != "", f.HostPath != ""} {
			if set {
				sources++
			}
		}
		if sources > 1 {
			fail("file %s has more than one of content, a tool and a host path", f.Path)
		}
		if f.HostPath != "" && !path.IsAbs(f.HostPath) {
			fail("file %s: host path %q is not absolute", f.Path, f.HostPath)
		}
		if f.Mode.IsDir() && sources > 0 {
			fail("directory %s cannot have content", f.Path)
		}
		if f.Mode&^(tarModeBits|fs.ModeDir) != 0 {
			fail("file %s: unsupported mode bits %v", f.Path, f.Mode)
		}
	}
	if len(d.Config.Entrypoint) == 0 && len(d.Config.Cmd) == 0 {
		fail("has neither an entrypoint nor a command")
	}
	return errors.Join(errs...)
}

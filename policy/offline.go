package policy

import (
	"fmt"
	"hash/fnv"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
)

// OfflineHost judges a spec as it would be judged on a node, without looking
// at the machine it runs on (`check --offline`: a spec captured on another
// node, generated in CI or attached to a bug report). What only the node
// could tell is decided by shape and noted as unverified instead of refused:
//
//   - paths are taken as written (lexically cleaned, /var/run read as /run):
//     symlinks are not followed, so a kubelet- or containerd-managed source
//     is classified by its path layout under the class's roots;
//   - /proc/1/ns/* and /proc/self/ns/* are the host's namespaces;
//     /proc/<pid>/ns/* of any other PID is that process's, and the process
//     the app container's namespace paths name is taken as its pod's pause
//     process; a pod sandbox's CNI netns or pinned user namespace (by its
//     path) is taken as new;
//   - what backs a volume directory or a subPath, the memory backing of
//     secret volumes and whether a cgroup is new are not known;
//   - the node enforces AppArmor only when AppArmor says so (a spec does not
//     tell: CRI leaves the profile empty both on a node without AppArmor and
//     for appArmorProfile.type=Unconfined);
//   - the node's containerd is taken to hold every Linux capability (a
//     privileged container holds them all), unless NodeCapabilities says
//     otherwise.
//
// Whatever the shape decides is refused exactly as on the node.
type OfflineHost struct {
	// NodeCapabilities is the capability bounding set of the node's
	// containerd; nil means every capability Linux defines.
	NodeCapabilities []string
	// AppArmor judges the spec as on a node that enforces AppArmor.
	AppArmor bool

	mu    sync.Mutex
	notes map[string]bool
	// paths are the sources a note already covers.
	paths map[string]bool
}

// Notes returns what could not be verified, sorted.
func (h *OfflineHost) Notes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.notes))
	for n := range h.notes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Note adds what a caller outside the checks could not verify offline.
func (h *OfflineHost) Note(notes ...string) {
	for _, n := range notes {
		h.note("%s", n)
	}
}

func (h *OfflineHost) note(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.notes == nil {
		h.notes = map[string]bool{}
	}
	h.notes[fmt.Sprintf(format, args...)] = true
}

// unverified is implemented by hosts that note what they cannot verify
// instead of refusing it (OfflineHost).
type unverified interface {
	note(format string, args ...any)
	notePath(path, format string, args ...any)
	notedPath(path string) bool
}

// notePath notes something about a path (which then needs no other note).
func (h *OfflineHost) notePath(path, format string, args ...any) {
	h.note(format, args...)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.paths == nil {
		h.paths = map[string]bool{}
	}
	h.paths[path] = true
}

func (h *OfflineHost) notedPath(path string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.paths[path]
}

// offline returns the host's note taker, or nil on a node.
func offline(h Host) unverified {
	u, _ := h.(unverified)
	return u
}

// Resolve takes a path as written: off the node there is nothing to follow.
// /var/run is read as /run, as on every systemd node.
func (h *OfflineHost) Resolve(p string) (string, error) {
	p = filepath.Clean(p)
	if rest, ok := relUnder(p, "/var/run"); ok {
		p = filepath.Join("/run", rest)
	}
	return p, nil
}

var procNSPath = regexp.MustCompile(`^/proc/([^/]+)/ns/([a-z_]+)$`)

// Namespace identifies a namespace by the path's shape: /proc/1/ns/<f> and
// /proc/self/ns/<f> are the host's; /proc/<pid>/ns/<f> is process pid's;
// any other path is a namespace of its own.
func (h *OfflineHost) Namespace(path string) (NSID, error) {
	p, _ := h.Resolve(path)
	if m := procNSPath.FindStringSubmatch(p); m != nil {
		switch m[1] {
		case "1", "self", "thread-self":
			return hostNSID(m[2]), nil
		}
		return NSID{Dev: 1, Ino: hash64("proc/" + m[1] + "/" + m[2])}, nil
	}
	return NSID{Dev: 2, Ino: hash64(p)}, nil
}

func hostNSID(file string) NSID { return NSID{Dev: 0, Ino: hash64("host/" + file)} }

func hash64(s string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(s))
	return f.Sum64()
}

func (h *OfflineHost) HostNamespaces(kind string) ([]NSID, error) {
	f, ok := nsFile[kind]
	if !ok {
		return nil, fmt.Errorf("unknown namespace type %q", kind)
	}
	return []NSID{hostNSID(f)}, nil
}

// NamespaceInUse is asked only for the namespace a pod sandbox joins whose
// path has the shape of one created for it: taken as new.
func (h *OfflineHost) NamespaceInUse(kind string, id NSID) (int, error) {
	h.note("the %s namespace the pod sandbox joins is taken as the new one created for it (its path has that shape); not verified off the node", kind)
	return 0, nil
}

// Mounts is not known off the node; checks that need it ask offline() first.
func (h *OfflineHost) Mounts() ([]*mountinfo.Info, error) {
	return nil, fmt.Errorf("the node's mount table is not known off the node")
}

func (h *OfflineHost) FSType(path string) (int64, error) {
	return 0, fmt.Errorf("the file system of %q is not known off the node", path)
}

func (h *OfflineHost) Mode(path string) (fs.FileMode, error) {
	return 0, fmt.Errorf("%q is not known off the node", path)
}

func (h *OfflineHost) AppArmorEnabled() bool { return h.AppArmor }

func (h *OfflineHost) Capabilities() []string {
	if h.NodeCapabilities != nil {
		return h.NodeCapabilities
	}
	return allCapabilities
}

// offlineNotes adds what the spec's own fields leave unverified off the node:
// the app container's pod (the process its namespace paths name) and the
// bind mounts allowed by their path alone.
func offlineNotes(in *Input, vs []Violation) {
	u := offline(in.Host)
	if u == nil || in.Spec == nil {
		return
	}
	refused := map[string]bool{}
	for _, v := range vs {
		refused[v.Field] = true
	}
	if !in.IsSandbox() && in.SandboxPID > 0 && in.Spec.Linux != nil {
		for _, ns := range in.Spec.Linux.Namespaces {
			if ns.Path != "" && !refused[fmt.Sprintf("linux.namespaces[%q].path", ns.Type)] {
				u.note("process %d, whose namespaces the container joins, is taken as its pod's sandbox (pause) process; not verified off the node", in.SandboxPID)
				break
			}
		}
	}
	for _, m := range in.Spec.Mounts {
		if !isBind(m) || !filepath.IsAbs(m.Source) || refused[mountField(m, "source")] {
			continue
		}
		if src, _ := in.Host.Resolve(m.Source); u.notedPath(src) {
			continue
		}
		u.note("mount %q: source %q is judged by its path; symlinks in it are not resolved off the node", m.Destination, truncate(m.Source, 256))
	}
	if p := in.Spec.Process; p != nil {
		for i, r := range p.Rlimits {
			if _, fixed := fallbackRlimits[strings.ToUpper(r.Type)]; !fixed && !refused[fmt.Sprintf("process.rlimits[%d]", i)] {
				u.note("process.rlimits[%d] (%s): the node's own limit is not known off the node; only the fixed ceilings (RTPRIO 0, NICE 0, MEMLOCK 8 MiB, CORE 0) are applied", i, truncate(r.Type, 64))
			}
		}
	}
	if p := in.Spec.Process; p != nil && !in.IsSandbox() && !in.Host.AppArmorEnabled() && (p.ApparmorProfile == "" || p.ApparmorProfile == "unconfined") {
		u.note("process.apparmorProfile is %q: judged as on a node without AppArmor; on a node that enforces it this is refused (check appArmorProfile; pass --apparmor to judge so)", p.ApparmorProfile)
	}
	if p := in.Spec.Process; p != nil && p.Capabilities != nil && h2caps(in.Host) == nil {
		for _, set := range capabilitySets(p.Capabilities) {
			if n := len(newCapSet(allCapabilities).beyond(newCapSet(set.caps))); n > 0 && n <= 3 {
				u.note("process.capabilities.%s lacks only %d of Linux's capabilities: on a node whose containerd lacks them too it holds every capability (privileged); pass the node's containerd CapBnd with --node-caps to judge that", set.name, n)
				break
			}
		}
	}
}

// h2caps returns the node capabilities an offline host was given, or nil.
func h2caps(h Host) []string {
	if o, ok := h.(*OfflineHost); ok {
		return o.NodeCapabilities
	}
	return nil
}

// CapsFromMask decodes a capability mask as /proc/<pid>/status shows it
// (CapBnd: 000001ffffffffff).
func CapsFromMask(hex string) ([]string, error) {
	return capsFromMask(strings.TrimSpace(hex))
}

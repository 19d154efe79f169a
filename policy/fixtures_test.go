package policy

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeHost is a node described by tables.
type fakeHost struct {
	ns       map[string]NSID // namespace file path -> identity
	hostNS   map[string]NSID // namespace kind -> the host's identity
	mounts   []*mountinfo.Info
	fsType   map[string]int64  // path prefix -> statfs magic (longest prefix wins)
	links    map[string]string // path prefix -> target (symlinks)
	apparmor bool
	caps     []string               // the node's capability set; nil: all
	inUse    map[NSID]int           // namespace -> a process in it
	modes    map[string]fs.FileMode // path -> mode (default: a directory)
}

func newFakeHost() *fakeHost {
	return &fakeHost{
		ns: map[string]NSID{},
		hostNS: map[string]NSID{
			"network": {Dev: 4, Ino: 4026531840}, "pid": {Dev: 4, Ino: 4026531836}, "ipc": {Dev: 4, Ino: 4026531839},
			"uts": {Dev: 4, Ino: 4026531838}, "mount": {Dev: 4, Ino: 4026531841}, "cgroup": {Dev: 4, Ino: 4026531835},
			"user": {Dev: 4, Ino: 4026531837}, "time": {Dev: 4, Ino: 4026531834},
		},
		mounts: []*mountinfo.Info{{ID: 1, Parent: 0, Major: 254, Minor: 0, Root: "/", Mountpoint: "/", FSType: "ext4", Source: "/dev/vda1"}},
		fsType: map[string]int64{"/": 0xEF53},
		links:  map[string]string{},
	}
}

func (h *fakeHost) Namespace(path string) (NSID, error) {
	id, ok := h.ns[path]
	if !ok {
		return NSID{}, os.ErrNotExist
	}
	return id, nil
}

func (h *fakeHost) HostNamespaces(kind string) ([]NSID, error) {
	id, ok := h.hostNS[kind]
	if !ok {
		return nil, os.ErrNotExist
	}
	return []NSID{id}, nil
}

func (h *fakeHost) Mode(path string) (fs.FileMode, error) {
	if m, ok := h.modes[path]; ok {
		return m, nil
	}
	return fs.ModeDir, nil
}

func (h *fakeHost) NamespaceInUse(kind string, id NSID) (int, error) { return h.inUse[id], nil }

func (h *fakeHost) Mounts() ([]*mountinfo.Info, error) { return h.mounts, nil }

func (h *fakeHost) FSType(path string) (int64, error) {
	best, magic := "", int64(0)
	for p, m := range h.fsType {
		if within(path, p) && len(p) >= len(best) {
			best, magic = p, m
		}
	}
	if best == "" {
		return 0, os.ErrNotExist
	}
	return magic, nil
}

func (h *fakeHost) Resolve(path string) (string, error) {
	for i := 0; i < 8; i++ {
		changed := false
		for from, to := range h.links {
			if rel, ok := relUnder(path, from); ok {
				path = filepath.Join(to, rel)
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	return filepath.Clean(path), nil
}

func (h *fakeHost) AppArmorEnabled() bool { return h.apparmor }

// loadSpec reads a fixture spec from testdata.
func loadSpec(t testing.TB, name string) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

const (
	testPodUID    = "0b3c7d52-1d3b-4f83-9f4e-2bd2b7f2a001"
	testSandboxID = "5a1d0f6a3a45a7f7b5bdb3bb4c84e6f1e6b1d5c9d0a8c1d2e3f4a5b6c7d8e9f0"
	testState     = "/run/containerd"
	// testSandboxPID is the pause process of criContainer's pod.
	testSandboxPID = 4242
)

// criContainer returns the ctr default spec dressed as a CRI app container
// named "app" in a pod that joins the sandbox's namespaces by path.
func criContainer(t testing.TB, h *fakeHost) *specs.Spec {
	s := loadSpec(t, "ctr-default.json")
	s.Annotations = map[string]string{
		AnnotationContainerType: ContainerTypeContainer,
		AnnotationContainerName: "app",
		AnnotationSandboxID:     testSandboxID,
		AnnotationSandboxName:   "web-0",
		AnnotationSandboxUID:    testPodUID,
	}
	var nss []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		switch ns.Type {
		case "network", "ipc":
			ns.Path = "/proc/4242/ns/" + nsFile[string(ns.Type)]
			h.ns[ns.Path] = NSID{Dev: 4, Ino: 4026532000 + uint64(len(ns.Type))}
		}
		nss = append(nss, ns)
	}
	s.Linux.Namespaces = nss
	s.Linux.CgroupsPath = "/k8s.io/c1"
	return s
}

// evaluate runs all checks and returns the violations.
func evaluate(s *specs.Spec, h Host, opts *Options) []Violation {
	if opts == nil {
		opts = DefaultOptions()
	}
	return Evaluate(&Input{Spec: s, ID: "c1", StateDir: testState, SandboxPID: testSandboxPID, SandboxUID: testPodUID, Options: opts, Host: h})
}

// checkIDs lists the check IDs of violations.
func checkIDs(vs []Violation) string {
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = v.Check
	}
	return strings.Join(ids, ",")
}

func (h *fakeHost) Capabilities() []string {
	if h.caps != nil {
		return h.caps
	}
	return allCapabilities
}

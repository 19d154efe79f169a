// Package userns allocates each pod of a hardened class its own range of
// host user and group IDs, node-wide: many shims allocate at once, each under
// one lock, from a window kubelet does not hand out, with the state on disk so
// that a shim killed mid-life leaks nothing (its range is released by
// containerd's cleanup, or reconciled on a later allocation once its pod is
// gone).
package userns

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Size is the number of IDs of one pod's range (kubelet's idsPerPod default).
const Size = 65536

// Defaults of the window ranges are drawn from: 2^31 up, 8,192 ranges
// (2^31 … 2^31 + 2^29). kubelet, without a `kubelet` subordinate ID range,
// hands out the lowest free 65,536-ID blocks from 65,536 up (maxPods blocks
// at most), so the two never meet on a node with fewer than ~32,000 pods.
const (
	DefaultFirstID = 1 << 31
	DefaultRanges  = 8192
	DefaultDir     = "/var/lib/containerd-shim-hardened-v2/userns"
)

// Range is one pod's IDs: container IDs 0…Size-1 are host IDs Base….
type Range struct {
	Base uint32 `json:"base"`
	Size uint32 `json:"size"`
}

func (r Range) String() string { return fmt.Sprintf("%d-%d", r.Base, uint64(r.Base)+uint64(r.Size)-1) }

// Overlaps reports whether two ranges share an ID.
func (r Range) Overlaps(o Range) bool {
	return uint64(r.Base) < uint64(o.Base)+uint64(o.Size) && uint64(o.Base) < uint64(r.Base)+uint64(r.Size)
}

// Owner is the pod sandbox a range belongs to.
type Owner struct {
	// Key identifies the pod node-wide: "<containerd namespace>/<sandbox ID>".
	Key string `json:"key"`
	// Bundle is the sandbox's bundle directory: while it exists the pod
	// lives (containerd removes it when the sandbox task is deleted).
	Bundle string `json:"bundle"`
	// Pod is the Kubernetes pod UID, if any: a pod whose sandbox is made
	// again (node reboot, sandbox death) gets its last range back when it
	// is free, so that what it wrote to its emptyDirs stays its own.
	Pod string `json:"pod,omitempty"`
}

// Entry is one allocated range.
type Entry struct {
	Owner
	Range
	// Kubelet marks a range kubelet allocated (a hostUsers: false pod),
	// recorded so that no range of ours overlaps it while the pod lives.
	Kubelet bool      `json:"kubelet,omitempty"`
	Since   time.Time `json:"since"`
	// Members are the bundles of the pod's other containers that run in
	// the range (app containers): while one exists the range is in use,
	// even after the sandbox's own bundle is gone.
	Members []string `json:"members,omitempty"`
	// SandboxGone is set once the sandbox's own bundle was cleaned up.
	SandboxGone bool `json:"sandboxGone,omitempty"`
}

// bundles lists the bundles that keep the entry in use.
func (e *Entry) bundles() []string {
	var out []string
	if !e.SandboxGone && e.Bundle != "" {
		out = append(out, e.Bundle)
	}
	return append(out, e.Members...)
}

func (e *Entry) is(o Owner) bool {
	return e.Key == o.Key && filepath.Clean(e.Bundle) == filepath.Clean(o.Bundle)
}

type state struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
	// Recent remembers the last range of released pods (oldest first, at
	// most maxRecent).
	Recent []recent `json:"recent,omitempty"`
}

type recent struct {
	Pod  string `json:"pod"`
	Base uint32 `json:"base"`
}

const maxRecent = 4096

// forget notes the range of a released entry for its pod.
func (st *state) forget(e Entry) {
	if e.Pod == "" || e.Kubelet {
		return
	}
	st.Recent = slices.DeleteFunc(st.Recent, func(r recent) bool { return r.Pod == e.Pod })
	st.Recent = append(st.Recent, recent{Pod: e.Pod, Base: e.Base})
	if n := len(st.Recent) - maxRecent; n > 0 {
		st.Recent = st.Recent[n:]
	}
}

// Allocator hands out ranges from a window of Ranges blocks of Size IDs
// starting at FirstID, with its state in Dir.
type Allocator struct {
	Dir     string
	FirstID uint32
	Ranges  uint32
	// Live reports whether an owner's pod still exists; nil: its bundle
	// directory exists.
	Live func(Owner) bool
}

// ErrExhausted is returned when every range of the window is in use.
var ErrExhausted = errors.New("user namespace ID ranges exhausted")

// New returns an allocator with defaults for zero fields, after checking
// that the window fits in 32-bit IDs and leaves host root out.
func New(dir string, firstID uint32, ranges uint32) (*Allocator, error) {
	a := &Allocator{Dir: dir, FirstID: firstID, Ranges: ranges}
	if a.Dir == "" {
		a.Dir = DefaultDir
	}
	if a.FirstID == 0 && a.Ranges == 0 {
		a.FirstID, a.Ranges = DefaultFirstID, DefaultRanges
	}
	if !filepath.IsAbs(a.Dir) {
		return nil, fmt.Errorf("user namespace state directory %q is not absolute", a.Dir)
	}
	if a.FirstID < Size {
		return nil, fmt.Errorf("user namespace first_id %d is below %d: the first range would hold host root and system IDs", a.FirstID, Size)
	}
	if a.Ranges == 0 {
		return nil, fmt.Errorf("user namespace ranges is 0")
	}
	if uint64(a.FirstID)+uint64(a.Ranges)*Size > 1<<32-1 {
		return nil, fmt.Errorf("user namespace window %d + %d × %d passes the largest ID (4294967294)", a.FirstID, a.Ranges, Size)
	}
	return a, nil
}

// inWindow reports whether c is one of the window's ranges.
func (a *Allocator) inWindow(c Range) bool {
	return c.Base >= a.FirstID && (c.Base-a.FirstID)%Size == 0 && (c.Base-a.FirstID)/Size < a.Ranges
}

// live reports whether any container of an entry's pod may still run in
// its range: one of its bundles exists (containerd removes a bundle only
// once the container's task is deleted).
func (a *Allocator) live(e *Entry) bool {
	if a.Live != nil {
		return a.Live(e.Owner)
	}
	for _, b := range e.bundles() {
		if exists(b) {
			return true
		}
	}
	return false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

// locked runs f on the state under the node-wide lock and saves what f
// returns true for, atomically (a new file renamed over the old one).
func (a *Allocator) locked(f func(*state) (bool, error)) error {
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		return fmt.Errorf("user namespace state: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(a.Dir, "lock"), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("user namespace state lock: %w", err)
	}
	defer lock.Close()
	if err := flock(lock); err != nil {
		return fmt.Errorf("user namespace state lock: %w", err)
	}
	path := filepath.Join(a.Dir, "ranges.json")
	var st state
	switch b, err := os.ReadFile(path); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("user namespace state: %w", err)
	default:
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("user namespace state %s is corrupt: %w (move it away to start afresh; live pods keep their ranges until they end)", path, err)
		}
	}
	save, err := f(&st)
	if err != nil || !save {
		return err
	}
	st.Version = 1
	sort.Slice(st.Entries, func(i, j int) bool { return st.Entries[i].Base < st.Entries[j].Base })
	b, err := json.MarshalIndent(&st, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
	if err := writeSync(tmp, b); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("user namespace state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("user namespace state: %w", err)
	}
	return nil
}

func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			return err
		}
	}
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// reconcile drops the entries of pods that no longer exist.
func (a *Allocator) reconcile(st *state) bool {
	kept := st.Entries[:0]
	changed := false
	for _, e := range st.Entries {
		if a.live(&e) {
			kept = append(kept, e)
		} else {
			st.forget(e)
			changed = true
		}
	}
	st.Entries = kept
	return changed
}

// Allocate returns the owner's range: the one it has, or the first free
// range of the window (after dropping the ranges of pods that are gone).
func (a *Allocator) Allocate(o Owner) (Range, error) {
	if o.Key == "" {
		return Range{}, errors.New("user namespace range: no owner")
	}
	var r Range
	err := a.locked(func(st *state) (bool, error) {
		for _, e := range st.Entries {
			if e.is(o) && !e.Kubelet {
				r = e.Range
				return false, nil
			}
		}
		changed := a.reconcile(st)
		used := make([]Range, 0, len(st.Entries))
		for _, e := range st.Entries {
			used = append(used, e.Range)
		}
		free := func(c Range) bool {
			for _, u := range used {
				if c.Overlaps(u) {
					return false
				}
			}
			return true
		}
		take := func(c Range) (bool, error) {
			r = c
			st.Entries = append(st.Entries, Entry{Owner: o, Range: c, Since: time.Now().UTC()})
			return true, nil
		}
		if o.Pod != "" {
			for _, rc := range st.Recent {
				c := Range{Base: rc.Base, Size: Size}
				if rc.Pod == o.Pod && a.inWindow(c) && free(c) {
					return take(c)
				}
			}
		}
		// Another pod's last range is taken only when no other is free.
		kept := map[uint32]bool{}
		for _, rc := range st.Recent {
			kept[rc.Base] = true
		}
		for _, avoidKept := range []bool{true, false} {
			for i := uint32(0); i < a.Ranges; i++ {
				c := Range{Base: a.FirstID + i*Size, Size: Size}
				if free(c) && !(avoidKept && kept[c.Base]) {
					return take(c)
				}
			}
		}
		return changed, fmt.Errorf("%w: all %d ranges of %d IDs from %d are held by live pods (raise [userns] ranges or remove pods)", ErrExhausted, a.Ranges, Size, a.FirstID)
	})
	return r, err
}

// Record notes a range kubelet allocated for a pod (hostUsers: false) after
// checking it overlaps no live range of another pod; it is released like
// ours.
func (a *Allocator) Record(o Owner, r Range) error {
	return a.locked(func(st *state) (bool, error) {
		changed := a.reconcile(st)
		for _, e := range st.Entries {
			if e.is(o) {
				if e.Range == r {
					return changed, nil
				}
				continue
			}
			if e.Range.Overlaps(r) {
				return changed, fmt.Errorf("user namespace IDs %s of pod %s overlap IDs %s of live pod %s", r, o.Key, e.Range, e.Key)
			}
		}
		st.Entries = append(st.Entries, Entry{Owner: o, Range: r, Kubelet: true, Since: time.Now().UTC()})
		return true, nil
	})
}

// Attach notes that the container whose bundle is member runs in the
// owner's range: the range stays in use while that bundle exists.
func (a *Allocator) Attach(o Owner, member string) error {
	return a.locked(func(st *state) (bool, error) {
		for i := range st.Entries {
			e := &st.Entries[i]
			if e.is(o) && !slices.Contains(e.Members, member) {
				e.Members = append(e.Members, member)
				return true, nil
			}
		}
		return false, nil
	})
}

// Release frees the owner's ranges (none: nothing to do).
func (a *Allocator) Release(o Owner) error {
	return a.locked(func(st *state) (bool, error) {
		kept := st.Entries[:0]
		for _, e := range st.Entries {
			if !e.is(o) {
				kept = append(kept, e)
			} else {
				st.forget(e)
			}
		}
		changed := len(kept) != len(st.Entries)
		st.Entries = kept
		return changed, nil
	})
}

// ReleaseBundle notes that the container whose bundle this is is gone
// (containerd's `shim delete` cleanup of a shim that died knows the bundle,
// not the pod): a range is freed once no container of its pod is left.
func (a *Allocator) ReleaseBundle(bundle string) error {
	bundle = filepath.Clean(bundle)
	return a.locked(func(st *state) (bool, error) {
		kept := st.Entries[:0]
		changed := false
		for _, e := range st.Entries {
			mine := filepath.Clean(e.Bundle) == bundle || slices.Contains(e.Members, bundle)
			if !mine {
				kept = append(kept, e)
				continue
			}
			changed = true
			if filepath.Clean(e.Bundle) == bundle {
				e.SandboxGone = true
			}
			e.Members = slices.DeleteFunc(e.Members, func(m string) bool { return filepath.Clean(m) == bundle })
			if a.live(&e) {
				kept = append(kept, e)
			} else {
				st.forget(e)
			}
		}
		st.Entries = kept
		return changed, nil
	})
}

// Entries lists the allocated ranges (after reconciling).
func (a *Allocator) Entries() ([]Entry, error) {
	var out []Entry
	err := a.locked(func(st *state) (bool, error) {
		changed := a.reconcile(st)
		out = append(out, st.Entries...)
		return changed, nil
	})
	return out, err
}

// Key is an owner key: "<containerd namespace>/<sandbox ID>".
func Key(namespace, sandboxID string) string {
	return strings.TrimSpace(namespace) + "/" + sandboxID
}

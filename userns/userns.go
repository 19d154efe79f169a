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
// (2^31 … 2^31 + 2^29). kubelet draws its hostUsers: false ranges at random
// from 65,536 up to 2^32 unless its `kubelet` user has subordinate IDs
// (/etc/subuid, /etc/subgid): nodes running such pods of other runtime
// classes give it a range below 2^31. The allocator steers clear of
// ranges any process runs in either way.
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
	// Shim is the shim process serving the pod (with its start time, in
	// clock ticks since boot): the pod's containers may run while it
	// lives, even after the sandbox's own bundle is gone.
	Shim      int    `json:"shim,omitempty"`
	ShimStart uint64 `json:"shimStart,omitempty"`
}

// ProcessStart returns a process's start time (clock ticks since boot), 0
// when it does not exist or is a zombie.
func ProcessStart(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0 // a zombie runs nothing and serves nothing
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// Entry is one allocated range.
type Entry struct {
	Owner
	Range
	// Kubelet marks a range kubelet allocated (a hostUsers: false pod),
	// recorded so that no range of ours overlaps it while the pod lives.
	Kubelet bool      `json:"kubelet,omitempty"`
	Since   time.Time `json:"since"`
	// SandboxGone is set once the sandbox's own bundle was cleaned up
	// (containerd's `shim delete` after the shim died).
	SandboxGone bool `json:"sandboxGone,omitempty"`
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
// its range: the sandbox's bundle exists (containerd removes it once the
// sandbox task is deleted), the shim serving the pod runs (its app
// containers may outlive the sandbox task), or a process runs as one of
// the range's IDs (a dead shim's containers before containerd's cleanup
// has killed them).
func (a *Allocator) live(e *Entry) bool {
	if a.Live != nil {
		return a.Live(e.Owner)
	}
	if !e.SandboxGone && e.Bundle != "" && exists(e.Bundle) {
		return true
	}
	if e.Shim > 0 && e.ShimStart != 0 && ProcessStart(e.Shim) == e.ShimStart {
		return true
	}
	return processesIn(e.Range)
}

// rangesInUse returns the bases of the window's ranges some process's
// effective UID (the owner of its /proc directory) lies in.
func (a *Allocator) rangesInUse() map[uint32]bool {
	busy := map[uint32]bool{}
	d, err := os.ReadDir("/proc")
	if err != nil {
		return busy
	}
	end := uint64(a.FirstID) + uint64(a.Ranges)*Size
	for _, de := range d {
		if de.Name()[0] < '0' || de.Name()[0] > '9' {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+de.Name(), &st) != nil {
			continue
		}
		if uint64(st.Uid) >= uint64(a.FirstID) && uint64(st.Uid) < end {
			busy[a.FirstID+(st.Uid-a.FirstID)/Size*Size] = true
		}
	}
	return busy
}

// processesIn reports whether a process (not a zombie) runs with a real,
// effective, saved or file-system UID in r.
func processesIn(r Range) bool {
	d, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell: keep the range
	}
	for _, de := range d {
		if de.Name()[0] < '0' || de.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + de.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if st, ok := strings.CutPrefix(line, "State:"); ok {
				if st = strings.TrimSpace(st); strings.HasPrefix(st, "Z") || strings.HasPrefix(st, "X") {
					break // a zombie runs nothing
				}
				continue
			}
			ids, ok := strings.CutPrefix(line, "Uid:")
			if !ok {
				continue
			}
			for _, f := range strings.Fields(ids) {
				if v, err := strconv.ParseUint(f, 10, 32); err == nil && v >= uint64(r.Base) && v < uint64(r.Base)+uint64(r.Size) {
					return true
				}
			}
			break
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
			// Written by rename, never in place: only a node that lost
			// power can leave it torn, and no pod of an earlier boot lives.
			if !fromEarlierBoot(path) {
				return fmt.Errorf("user namespace state %s is corrupt: %w (move it away to start afresh; live pods keep their ranges until they end)", path, err)
			}
			if err := os.Rename(path, path+".corrupt"); err != nil {
				return fmt.Errorf("user namespace state %s is corrupt (%v) and cannot be moved away: %w", path, err, err)
			}
			st = state{}
		}
	}
	save, err := f(&st)
	if err != nil || !save {
		return err
	}
	st.Version = 1
	sort.Slice(st.Entries, func(i, j int) bool { return st.Entries[i].Base < st.Entries[j].Base })
	b, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	// Replaced by rename: a shim killed at any point leaves the old state
	// or the new one. No fsync: pods do not outlive the boot (their
	// bundles are on tmpfs), and a state torn by a power loss is moved
	// away on the next boot (fromEarlierBoot).
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
	if err := writeFile(tmp, b); err != nil {
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

func writeFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fromEarlierBoot reports whether the file was last written before this
// boot (its modification time is before the kernel's boot time).
func fromEarlierBoot(path string) bool {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false
	}
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil {
		return false
	}
	boot := time.Now().Add(-time.Duration(info.Uptime) * time.Second)
	return time.Unix(st.Mtim.Sec, st.Mtim.Nsec).Before(boot.Add(-time.Minute))
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
		// ranges a process runs in that the state does not know of: a
		// pod of another runtime class in kubelet's user namespace
		// (kubelet draws those at random), or anything else
		busy := a.rangesInUse()
		free := func(c Range) bool {
			for _, u := range used {
				if c.Overlaps(u) {
					return false
				}
			}
			return !busy[c.Base]
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
			if filepath.Clean(e.Bundle) != bundle {
				kept = append(kept, e)
				continue
			}
			changed = true
			e.SandboxGone = true
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

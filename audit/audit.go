// Package audit appends one JSON line per policy decision to the node audit
// log, safely from many shim processes at once. Every record is capped (see
// Cap) and the log rotates by size (see Options), so the log is bounded on
// disk; it is not written at all when its file system is nearly full.
package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/harden"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
)

// Decisions.
const (
	Allowed = "allowed"
	Refused = "refused"
	Audited = "audited" // allowed in audit mode, with violations recorded
)

// Events: where in the container's life the decision was made.
const (
	EventStart      = "start"
	EventCreate     = "create"
	EventExec       = "exec"
	EventUpdate     = "update"
	EventCheckpoint = "checkpoint"
)

// Record is one decision.
type Record struct {
	Time       time.Time          `json:"time"`
	Event      string             `json:"event"`
	Decision   string             `json:"decision"`
	Class      string             `json:"runtimeClass"`
	Mode       policy.Mode        `json:"mode"`
	Namespace  string             `json:"namespace,omitempty"`
	ID         string             `json:"id"`
	ExecID     string             `json:"execID,omitempty"`
	Subject    string             `json:"subject"`
	Pod        string             `json:"pod,omitempty"`
	PodNS      string             `json:"podNamespace,omitempty"`
	PodUID     string             `json:"podUID,omitempty"`
	Violations []policy.Violation `json:"violations,omitempty"`
	Changes    []harden.Change    `json:"changes,omitempty"`
	Message    string             `json:"message,omitempty"`
	// Unverified lists what an off-node check (`check --offline`) could not
	// verify and took by its shape; the shim itself never fills it.
	Unverified []string `json:"unverified,omitempty"`
	// Truncated is set when the record was capped: it holds how many
	// violations and changes the decision had (the record keeps the first
	// ones). A string that was cut ends with "…[N more bytes]".
	Truncated *Truncation `json:"truncated,omitempty"`
}

// Truncation counts what a capped record stood for.
type Truncation struct {
	Violations int `json:"violations"`
	Changes    int `json:"changes"`
}

// maxLine bounds one line of the log, newline included.
const maxLine = 256 << 10

// Caps, in bytes of encoded JSON (quotes and escapes included). Worst case
// of a capped record: ~21 KiB of single fields + 96 KiB of violations + 96
// KiB of changes, under maxLine; Marshal still checks the result.
const (
	capShort       = 128      // event, decision, mode, violation check
	capName        = 512      // class, namespace, IDs, pod name, namespace and UID
	capSubject     = 1024     // subject
	capField       = 1024     // violation and change field
	capText        = 2048     // violation value and reason
	capMessage     = 16 << 10 // message
	capChangeValue = 4096     // a change's from or to, encoded
	capItemString  = 256      // a string inside a summarised change value
	maxItems       = 64       // violations kept; changes kept
	itemsBudget    = 96 << 10 // encoded violations kept; changes kept
	listItems      = 16       // list items (or object keys) kept in a summarised value
	valueDepth     = 4        // nesting kept in a summarised value
	clipReserve    = 40       // room for the "…[N more bytes]" marker
)

// Cap returns a copy of r in which every string is bounded, large change
// values are summarised (first items + "… and K more"), and at most
// maxItems violations and changes (within a byte budget each) are kept. r is
// not modified. A capped record encodes to less than 256 KiB.
func Cap(r *Record) *Record {
	c := *r
	cut := false
	clipTo := func(s *string, max int) {
		if t := clip(*s, max); t != *s {
			*s, cut = t, true
		}
	}
	if y := c.Time.Year(); y < 0 || y > 9999 { // not encodable as RFC 3339
		c.Time = time.Time{}
	}
	clipTo(&c.Event, capShort)
	clipTo(&c.Decision, capShort)
	mode := string(c.Mode)
	clipTo(&mode, capShort)
	c.Mode = policy.Mode(mode)
	for _, s := range []*string{&c.Class, &c.Namespace, &c.ID, &c.ExecID, &c.Pod, &c.PodNS, &c.PodUID} {
		clipTo(s, capName)
	}
	clipTo(&c.Subject, capSubject)
	clipTo(&c.Message, capMessage)

	c.Violations = nil
	used := 0
	for i, v := range r.Violations {
		if i == maxItems {
			break
		}
		cv := policy.Violation{Check: clip(v.Check, capShort), Field: clip(v.Field, capField), Value: clip(v.Value, capText), Reason: clip(v.Reason, capText), Hint: clip(v.Hint, capText)}
		if cv != v {
			cut = true
		}
		b, _ := json.Marshal(cv) // strings only: cannot fail
		if used += len(b) + 1; used > itemsBudget {
			break
		}
		c.Violations = append(c.Violations, cv)
	}
	c.Changes = nil
	used = 0
	for i, ch := range r.Changes {
		if i == maxItems {
			break
		}
		cc := harden.Change{Field: clip(ch.Field, capField)}
		var fromCut, toCut bool
		cc.From, fromCut = capValue(ch.From)
		cc.To, toCut = capValue(ch.To)
		if cc.Field != ch.Field || fromCut || toCut {
			cut = true
		}
		b, err := json.Marshal(cc)
		if err != nil {
			break
		}
		if used += len(b) + 1; used > itemsBudget {
			break
		}
		c.Changes = append(c.Changes, cc)
	}
	c.Unverified = nil
	for i, u := range r.Unverified {
		if i == maxItems {
			cut = true
			break
		}
		c.Unverified = append(c.Unverified, clip(u, capText))
	}
	if cut || len(c.Violations) < len(r.Violations) || len(c.Changes) < len(r.Changes) {
		c.Truncated = &Truncation{Violations: len(r.Violations), Changes: len(r.Changes)}
	}
	return &c
}

// minimal is the last resort for a record that does not fit even capped:
// what was decided, about what, and how many violations and changes.
func minimal(r *Record) *Record {
	m := &Record{
		Time: r.Time, Event: clip(r.Event, capShort), Decision: clip(r.Decision, capShort),
		Class: clip(r.Class, capShort), Mode: policy.Mode(clip(string(r.Mode), capShort)),
		Namespace: clip(r.Namespace, capShort), ID: clip(r.ID, capShort), ExecID: clip(r.ExecID, capShort),
		Subject:   clip(r.Subject, 256),
		Message:   "record too large: reduced to its summary",
		Truncated: &Truncation{Violations: len(r.Violations), Changes: len(r.Changes)},
	}
	if y := m.Time.Year(); y < 0 || y > 9999 {
		m.Time = time.Time{}
	}
	return m
}

// Marshal encodes a record, capped (see Cap), as one JSON line with the
// trailing newline, of at most 256 KiB. A record that does not fit capped is
// reduced to a minimal one (event, decision, class, mode, IDs, subject and
// counts).
func Marshal(r *Record) ([]byte, error) { return marshal(r, maxLine) }

func marshal(r *Record, limit int) ([]byte, error) {
	b, err := json.Marshal(Cap(r))
	if err != nil || len(b)+1 > limit {
		if b, err = json.Marshal(minimal(r)); err != nil {
			return nil, err
		}
		if len(b)+1 > limit {
			return nil, fmt.Errorf("audit record of %d bytes exceeds the %d byte limit", len(b)+1, limit)
		}
	}
	return append(b, '\n'), nil
}

// clip bounds s so that its JSON encoding (quotes included) takes at most max
// bytes; a cut string ends with "…[N more bytes]".
func clip(s string, max int) string {
	n, cut := 2, -1
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		n += encodedLen(r, size)
		if cut < 0 && n > max-clipReserve {
			cut = i
		}
		if n > max {
			return s[:cut] + fmt.Sprintf("…[%d more bytes]", len(s)-cut)
		}
		i += size
	}
	return s
}

// encodedLen is at least what encoding/json writes for one rune of a string.
func encodedLen(r rune, size int) int {
	switch {
	case r == utf8.RuneError && size == 1: // invalid byte: \ufffd
		return 6
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
		return 6
	}
	return size
}

// capValue bounds one change value: small ones are kept as they are, large
// ones are summarised; the bool reports a summary.
func capValue(v any) (any, bool) {
	b, err := json.Marshal(v)
	if err != nil {
		return clip(fmt.Sprintf("unencodable %T: %v", v, err), capText), true
	}
	if len(b) <= capChangeValue {
		return v, false // encodes to b again
	}
	var x any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&x) == nil {
		sum := summarise(x, 0)
		if s, err := json.Marshal(sum); err == nil && len(s) <= capChangeValue {
			return sum, true
		}
	}
	return clip(string(b), capChangeValue), true
}

// summarise keeps the first listItems items of lists and keys of objects,
// valueDepth levels deep, and cuts long strings.
func summarise(x any, depth int) any {
	switch v := x.(type) {
	case string:
		return clip(v, capItemString)
	case json.Number:
		if len(v) > 64 {
			return clip(string(v), 64)
		}
		return v
	case []any:
		if depth >= valueDepth {
			return fmt.Sprintf("…[list of %d items]", len(v))
		}
		out := make([]any, 0, min(len(v), listItems)+1)
		for _, e := range v[:min(len(v), listItems)] {
			out = append(out, summarise(e, depth+1))
		}
		if len(v) > listItems {
			out = append(out, fmt.Sprintf("… and %d more", len(v)-listItems))
		}
		return out
	case map[string]any:
		if depth >= valueDepth {
			return fmt.Sprintf("…[object of %d keys]", len(v))
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := map[string]any{}
		for _, k := range keys[:min(len(keys), listItems)] {
			out[clip(k, capItemString)] = summarise(v[k], depth+1)
		}
		if len(keys) > listItems {
			out["…"] = fmt.Sprintf("and %d more keys", len(keys)-listItems)
		}
		return out
	}
	return x // bool, nil
}

// Options bound the log on disk. A zero field takes its default.
type Options struct {
	// MaxSize is the size at which the log rotates: a record that would take
	// it past MaxSize first moves it to <path>.1. A record larger than
	// MaxSize (at most 256 KiB) gets a file of its own.
	MaxSize int64
	// MaxFiles is how many rotated files (<path>.1 … <path>.N, newest first)
	// are kept; the oldest is dropped. On disk: at most MaxSize×(MaxFiles+1).
	MaxFiles int
	// MinFree is the free space (for unprivileged users) the log leaves on
	// its file system: a record that would leave less is not written and
	// Append returns an error wrapping ErrLowDiskSpace. Negative: no check.
	MinFree int64
}

// Defaults. 100 MiB × (5+1) caps the log at 600 MiB per path — about 370,000
// records of a typical 1.7 KB, i.e. days of history even for a pod that is
// exec-probed every second — small next to a node's image and container
// storage on the same file system. 64 MiB of free space is left for
// containerd, kubelet and the runtime's own small writes (state files, pod
// logs being rotated) when the disk is nearly full: the audit log must never
// be what fills it. Kubelet's own eviction (nodefs.available < 10% by
// default) normally acts long before.
const (
	DefaultMaxSize  = 100 << 20
	DefaultMaxFiles = 5
	DefaultMinFree  = 64 << 20
)

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{MaxSize: DefaultMaxSize, MaxFiles: DefaultMaxFiles, MinFree: DefaultMinFree}
}

func (o Options) withDefaults() Options {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MinFree == 0 {
		o.MinFree = DefaultMinFree
	}
	return o
}

// ErrLowDiskSpace is wrapped by the error of a record not written because
// the log's file system is nearly full.
var ErrLowDiskSpace = errors.New("file system nearly full")

// Append writes the record to the log at path with the default Options.
func Append(path string, r *Record) error { return AppendWith(path, Options{}, r) }

// AppendWith writes the record to the log at path as one write, rotating the
// log first when the record would take it past o.MaxSize. It creates the file
// (0600) and its directory (0700). Writers (many shim processes) are
// serialised by flock on <path>.lock, which is never renamed. Neither path
// nor the lock may be a symbolic link, and the log must be a regular file.
func AppendWith(path string, o Options, r *Record) error {
	o = o.withDefaults()
	line, err := Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("audit log %s: %w", path, err)
	}
	lockPath := path + ".lock"
	lock, err := openRegular(lockPath, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return fmt.Errorf("audit log lock %s: %w", lockPath, err)
	}
	defer lock.Close()
	if err := flock(lock); err != nil {
		return fmt.Errorf("audit log lock %s: %w", lockPath, err)
	}
	if o.MinFree > 0 {
		var fs unix.Statfs_t
		if err := unix.Fstatfs(int(lock.Fd()), &fs); err != nil {
			return fmt.Errorf("audit log %s: statfs: %w", path, err)
		}
		unit := uint64(fs.Frsize)
		if unit == 0 {
			unit = uint64(fs.Bsize)
		}
		if avail := fs.Bavail * unit; avail < uint64(o.MinFree)+uint64(len(line)) {
			return fmt.Errorf("audit log %s: record not written: %d bytes available, below the %d bytes kept free (audit_log_min_free): %w",
				path, avail, o.MinFree, ErrLowDiskSpace)
		}
	}
	f, size, err := openLog(path)
	if err != nil {
		return err
	}
	if size > 0 && size+int64(len(line)) > o.MaxSize {
		f.Close()
		if err := rotate(path, o.MaxFiles); err != nil {
			return fmt.Errorf("audit log %s: rotating: %w", path, err)
		}
		if f, size, err = openLog(path); err != nil {
			return err
		}
	}
	defer f.Close()
	if _, err := f.Write(line); err != nil {
		// Leave no partial line behind (ENOSPC, quota).
		f.Truncate(size)
		return fmt.Errorf("audit log %s: %w", path, err)
	}
	return nil
}

// openLog opens the log for appending and returns its size. It also takes
// flock on the log itself: shims of an earlier version, still running after
// an upgrade, serialise on that lock.
func openLog(path string) (*os.File, int64, error) {
	f, err := openRegular(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE)
	if err != nil {
		return nil, 0, fmt.Errorf("audit log %s: %w", path, err)
	}
	if err := flock(f); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("audit log %s: lock: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("audit log %s: %w", path, err)
	}
	return f, st.Size(), nil
}

// openRegular opens path without following a symbolic link (and without
// blocking on a FIFO or taking a terminal), and only if it is a regular
// file with one link.
func openRegular(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY, 0o600)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, errors.New("is a symbolic link: not followed")
		}
		if errors.Is(err, unix.ENXIO) {
			return nil, errors.New("not a regular file")
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("not a regular file (%v)", st.Mode().Type())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Nlink > 1 {
		f.Close()
		return nil, fmt.Errorf("has %d hard links", sys.Nlink)
	}
	return f, nil
}

func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			return err
		}
	}
}

// rotate moves path.N-1 → path.N … path → path.1 (dropping the oldest, and
// any file beyond N left by a larger earlier MaxFiles). The caller holds the
// lock. rename does not follow symbolic links.
func rotate(path string, n int) error {
	for i := n + 1; os.Remove(fmt.Sprintf("%s.%d", path, i)) == nil; i++ {
	}
	for i := n - 1; i >= 1; i-- {
		err := os.Rename(fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return os.Rename(path, path+".1")
}

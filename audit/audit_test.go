package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/harden"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
)

// logFiles returns the log and its rotated files, oldest first.
func logFiles(t *testing.T, path string) []string {
	t.Helper()
	var rotated []string
	for i := 1; ; i++ {
		p := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Lstat(p); err != nil {
			break
		}
		rotated = append([]string{p}, rotated...)
	}
	return append(rotated, path)
}

// readIDs reads every record of the log and its rotated files, oldest first,
// failing on any torn or invalid line.
func readIDs(t *testing.T, path string, maxSize int64) []string {
	t.Helper()
	var ids []string
	for _, p := range logFiles(t, path) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		if maxSize > 0 && st.Size() > maxSize {
			t.Errorf("%s: %d bytes, over MaxSize %d", p, st.Size(), maxSize)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, st.Mode().Perm())
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, maxLine), maxLine)
		for sc.Scan() {
			var r Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: torn or invalid line: %v", p, err)
			}
			ids = append(ids, r.ID)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return ids
}

// assertEachOnce checks that every want ID appears exactly once.
func assertEachOnce(t *testing.T, ids []string, want int) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range ids {
		seen[id]++
		if seen[id] == 2 {
			t.Errorf("record %s appears twice", id)
		}
	}
	if len(seen) != want || len(ids) != want {
		t.Fatalf("%d records (%d distinct), want %d", len(ids), len(seen), want)
	}
}

func TestAppendConcurrentWritersProduceWholeLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"defaults", Options{}},
		// ~8 KB records against 64 KiB files: ~200 rotations during the run;
		// enough files kept that nothing is dropped.
		{"rotating", Options{MaxSize: 64 << 10, MaxFiles: 1000, MinFree: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "audit.log")
			const writers, each = 8, 200
			// A long message makes torn writes visible if they happened.
			long := strings.Repeat("x", 8000)
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; i < each; i++ {
						r := &Record{Time: time.Now(), Event: EventCreate, Decision: Refused, Class: "hardened", Mode: policy.ModeEnforce,
							ID: fmt.Sprintf("w%d-%d", w, i), Subject: "container", Message: long,
							Violations: []policy.Violation{{Check: "privileged", Field: "f", Value: "v", Reason: "r"}}}
						if err := AppendWith(path, tc.o, r); err != nil {
							t.Error(err)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			assertEachOnce(t, readIDs(t, path, tc.o.MaxSize), writers*each)
			if n := len(logFiles(t, path)); tc.o.MaxSize != 0 && n < 100 {
				t.Fatalf("only %d files: the log did not rotate during the run", n)
			}
			st, err := os.Stat(filepath.Dir(path))
			if err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("directory: %v %v, want 0700", st.Mode().Perm(), err)
			}
		})
	}
}

// TestAppendAcrossProcesses runs writers in separate processes (the shims
// are separate processes) against one log that rotates during the run.
func TestAppendAcrossProcesses(t *testing.T) {
	const procs, each = 4, 300
	opts := Options{MaxSize: 32 << 10, MaxFiles: 1000, MinFree: -1}
	if os.Getenv("AUDIT_CHILD") != "" {
		for i := 0; i < each; i++ {
			r := &Record{Event: EventExec, Decision: Allowed, ID: fmt.Sprintf("%s-%d", os.Getenv("AUDIT_CHILD"), i), Message: strings.Repeat("y", 5000)}
			if err := AppendWith(os.Getenv("AUDIT_PATH"), opts, r); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		return
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	var cmds []*exec.Cmd
	for i := 0; i < procs; i++ {
		c := exec.Command(os.Args[0], "-test.run=^TestAppendAcrossProcesses$")
		c.Env = append(os.Environ(), fmt.Sprintf("AUDIT_CHILD=p%d", i), "AUDIT_PATH="+path)
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	assertEachOnce(t, readIDs(t, path, opts.MaxSize), procs*each)
	if n := len(logFiles(t, path)); n < 100 {
		t.Fatalf("only %d files: the log did not rotate during the run", n)
	}
}

func TestRotationBoundsFilesAndBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	o := Options{MaxSize: 4096, MaxFiles: 3, MinFree: -1}
	// Files beyond MaxFiles left by a larger earlier setting go at the
	// first rotation.
	for _, n := range []int{4, 5} {
		os.WriteFile(fmt.Sprintf("%s.%d", path, n), []byte("old\n"), 0o600)
	}
	const n = 200
	for i := 0; i < n; i++ {
		r := &Record{Event: EventExec, Decision: Allowed, ID: fmt.Sprintf("r%03d", i), Message: strings.Repeat("m", 300)}
		if err := AppendWith(path, o, r); err != nil {
			t.Fatal(err)
		}
	}
	files := logFiles(t, path)
	if len(files) != o.MaxFiles+1 {
		t.Fatalf("files %v, want the log and %d rotated", files, o.MaxFiles)
	}
	for _, extra := range []string{".4", ".5"} {
		if _, err := os.Lstat(path + extra); err == nil {
			t.Errorf("%s%s kept", path, extra)
		}
	}
	var total int64
	for _, f := range files {
		st, _ := os.Stat(f)
		total += st.Size()
	}
	if total > o.MaxSize*int64(o.MaxFiles+1) {
		t.Fatalf("%d bytes on disk, over %d", total, o.MaxSize*int64(o.MaxFiles+1))
	}
	ids := readIDs(t, path, o.MaxSize)
	// The newest records survive, in order, without gaps; the oldest went.
	if ids[len(ids)-1] != fmt.Sprintf("r%03d", n-1) || ids[0] == "r000" {
		t.Fatalf("kept %s … %s", ids[0], ids[len(ids)-1])
	}
	first, _ := strconv.Atoi(strings.TrimPrefix(ids[0], "r"))
	for i, id := range ids {
		if id != fmt.Sprintf("r%03d", first+i) {
			t.Fatalf("record %d is %s, want r%03d", i, id, first+i)
		}
	}
	// Roughly MaxFiles+1 files' worth is kept: the log is not dropping more than it must.
	if float64(total) < 0.75*float64(o.MaxSize*int64(o.MaxFiles)) {
		t.Fatalf("only %d bytes kept", total)
	}
}

func TestRotationRecordLargerThanMaxSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	o := Options{MaxSize: 1000, MaxFiles: 2, MinFree: -1}
	for i := 0; i < 3; i++ {
		if err := AppendWith(path, o, &Record{ID: fmt.Sprint(i), Message: strings.Repeat("b", 2000)}); err != nil {
			t.Fatal(err)
		}
	}
	// One record per file, nothing torn.
	if ids := readIDs(t, path, 0); strings.Join(ids, ",") != "0,1,2" {
		t.Fatalf("ids %v", ids)
	}
}

func TestAppendMinFreeRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	// More than any test machine has free: the record must not be written.
	err := AppendWith(path, Options{MinFree: 1 << 62}, &Record{ID: "x"})
	if !errors.Is(err, ErrLowDiskSpace) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "audit_log_min_free") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("log created: %v", err)
	}
	if err := AppendWith(path, Options{MinFree: -1}, &Record{ID: "y"}); err != nil {
		t.Fatal(err)
	}
	if ids := readIDs(t, path, 0); len(ids) != 1 || ids[0] != "y" {
		t.Fatalf("ids %v", ids)
	}
}

func TestAppendRefusesNonRegularLogs(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep\n"), 0o600)
	check := func(name, path, want string) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- Append(path, &Record{ID: "x"}) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: got %v, want an error with %q", name, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Append blocked", name)
		}
		if b, _ := os.ReadFile(target); string(b) != "keep\n" {
			t.Fatalf("%s: target written: %q", name, b)
		}
	}

	link := filepath.Join(dir, "link.log")
	os.Symlink(target, link)
	check("symlinked log", link, "symbolic link")

	lockLinked := filepath.Join(dir, "l.log")
	os.Symlink(target, lockLinked+".lock")
	check("symlinked lock", lockLinked, "symbolic link")

	fifo := filepath.Join(dir, "fifo.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	check("fifo", fifo, "not a regular file")

	d := filepath.Join(dir, "dir.log")
	os.Mkdir(d, 0o700)
	check("directory", d, d)

	hard := filepath.Join(dir, "hard.log")
	os.Link(target, hard)
	check("hard link", hard, "hard links")

	// A symlink among the rotated files is renamed, never written through.
	rot := filepath.Join(dir, "rot.log")
	os.Symlink(target, rot+".1")
	o := Options{MaxSize: 100, MaxFiles: 3, MinFree: -1}
	for i := 0; i < 4; i++ {
		if err := AppendWith(rot, o, &Record{ID: fmt.Sprint(i), Message: strings.Repeat("r", 200)}); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Fatalf("target written through a rotated symlink: %q", b)
	}
}

// hugeRecord is a refused exec carrying absurd amounts of request data.
func hugeRecord() *Record {
	r := &Record{Time: time.Now(), Event: EventExec, Decision: Refused, Class: "hardened", Mode: policy.ModeEnforce,
		Namespace: "k8s.io", ID: strings.Repeat("i", 1<<20), ExecID: strings.Repeat("e", 1<<20),
		Subject: "exec " + strings.Repeat("s", 4<<20), Pod: strings.Repeat("p", 1<<20),
		PodNS: strings.Repeat("<", 1<<20), PodUID: strings.Repeat("\x01", 1<<20)}
	caps := make([]string, 100000)
	var msg strings.Builder
	for i := range caps {
		caps[i] = fmt.Sprintf("CAP_BOGUS_%d", i)
		r.Violations = append(r.Violations, policy.Violation{Check: "execEscalation", Field: "process.capabilities.bounding",
			Value: caps[i], Reason: "exec asks for capability " + caps[i] + " its container does not hold"})
		msg.WriteString(caps[i] + ", ")
	}
	r.Message = msg.String()
	r.Violations[0].Value = strings.Repeat("v", 4<<20)
	r.Violations[1].Reason = strings.Repeat("\"\\", 1<<20) + "\xff\xfe"
	r.Violations[2].Field = strings.Repeat("&\u2028", 1<<20)
	nested := map[string]any{}
	cur := nested
	for i := 0; i < 50; i++ {
		next := map[string]any{"list": caps[:1000], "s": strings.Repeat("n", 10000)}
		cur[fmt.Sprintf("k%d", i)] = next
		cur = next
	}
	r.Changes = make([]harden.Change, 1000000)
	for i := range r.Changes {
		r.Changes[i] = harden.Change{Field: "process.capabilities.bounding", From: false, To: true}
	}
	r.Changes[0] = harden.Change{Field: "process.capabilities.bounding", From: caps, To: []string{"CAP_KILL"}}
	r.Changes[1] = harden.Change{Field: strings.Repeat("f", 1<<20), From: strings.Repeat("x", 4<<20), To: nested}
	r.Changes[2] = harden.Change{Field: "bad", From: make(chan int), To: map[string]any{"x": 1}}
	return r
}

func TestMarshalCapsHugeRecords(t *testing.T) {
	r := hugeRecord()
	start := time.Now()
	line, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d-byte line in %v", len(line), time.Since(start))
	if len(line) > maxLine {
		t.Fatalf("line of %d bytes, over %d", len(line), maxLine)
	}
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatal("not exactly one line")
	}
	var back Record
	if err := json.Unmarshal(line, &back); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	if back.Truncated == nil || back.Truncated.Violations != 100000 || back.Truncated.Changes != 1000000 {
		t.Fatalf("truncation %+v", back.Truncated)
	}
	if back.Event != EventExec || back.Decision != Refused || back.Class != "hardened" || back.Mode != policy.ModeEnforce {
		t.Fatalf("summary fields lost: %+v", back)
	}
	if len(back.Violations) == 0 || len(back.Violations) > maxItems || len(back.Changes) == 0 || len(back.Changes) > maxItems {
		t.Fatalf("%d violations, %d changes kept", len(back.Violations), len(back.Changes))
	}
	if !strings.HasPrefix(back.Subject, "exec sss") || !strings.Contains(back.Subject, "more bytes]") || len(back.Subject) > capSubject {
		t.Fatalf("subject %q…", back.Subject[:min(40, len(back.Subject))])
	}
	from, _ := back.Changes[0].From.([]any)
	if len(from) != listItems+1 || from[0] != "CAP_BOGUS_0" || from[listItems] != fmt.Sprintf("… and %d more", 100000-listItems) {
		t.Fatalf("change 0 from %v", back.Changes[0].From)
	}
	if to, _ := back.Changes[0].To.([]any); len(to) != 1 || to[0] != "CAP_KILL" {
		t.Fatalf("change 0 to %v", back.Changes[0].To)
	}
	if s, _ := back.Changes[2].From.(string); !strings.Contains(s, "unencodable chan int") {
		t.Fatalf("change 2 from %v", back.Changes[2].From)
	}
	// Caps are on what was cut, not on what was kept: Marshal leaves r as it was.
	if len(r.Violations) != 100000 || len(r.Violations[0].Value) != 4<<20 {
		t.Fatal("Marshal modified its record")
	}
}

// TestCapWorstCaseFits fills every capped field to its cap: the capped
// record itself fits, without the minimal fallback.
func TestCapWorstCaseFits(t *testing.T) {
	big := strings.Repeat("<", 1<<20)
	r := &Record{Event: big, Decision: big, Class: big, Mode: policy.Mode(big), Namespace: big, ID: big, ExecID: big,
		Subject: big, Pod: big, PodNS: big, PodUID: big, Message: big}
	list := make([]string, 100)
	for i := range list {
		list[i] = strings.Repeat("&", 1000)
	}
	for i := 0; i < 1000; i++ {
		r.Violations = append(r.Violations, policy.Violation{Check: big, Field: big, Value: big, Reason: big})
		r.Changes = append(r.Changes, harden.Change{Field: big, From: list, To: map[string]any{"a": list, "b": big}})
	}
	c, err := json.Marshal(Cap(r))
	if err != nil || len(c)+1 > maxLine {
		t.Fatalf("capped record of %d bytes (%v)", len(c), err)
	}
	line, err := Marshal(r)
	if err != nil || strings.Contains(string(line), "reduced to its summary") {
		t.Fatalf("fell back to the minimal record (%v)", err)
	}
	t.Logf("worst case: %d bytes", len(line))
}

func TestMarshalFallsBackToMinimalRecord(t *testing.T) {
	r := hugeRecord()
	line, err := marshal(r, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if len(line) > 4096 || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("%d bytes", len(line))
	}
	var back Record
	if err := json.Unmarshal(line, &back); err != nil {
		t.Fatal(err)
	}
	if back.Event != EventExec || back.Decision != Refused || back.Class != "hardened" || back.Mode != policy.ModeEnforce ||
		!strings.HasPrefix(back.ID, "iii") || !strings.HasPrefix(back.Subject, "exec ") || back.Truncated == nil ||
		back.Truncated.Violations != 100000 || back.Truncated.Changes != 1000000 || len(back.Violations) != 0 {
		t.Fatalf("minimal record %+v", back)
	}
}

func TestMarshalTruncatesHugeRecords(t *testing.T) {
	r := &Record{ID: "x"}
	for i := 0; i < 20000; i++ {
		r.Violations = append(r.Violations, policy.Violation{Check: "hostPathVolumes", Reason: strings.Repeat("z", 100)})
	}
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > maxLine {
		t.Fatalf("line of %d bytes", len(b))
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil || back.Truncated == nil || back.Truncated.Violations != 20000 || len(back.Violations) != maxItems {
		t.Fatalf("got %v %+v %d", err, back.Truncated, len(back.Violations))
	}
}

func TestMarshalKeepsOrdinaryRecords(t *testing.T) {
	r := &Record{Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Event: EventCreate, Decision: Allowed, Class: "hardened",
		Mode: policy.ModeEnforce, ID: "abc", Subject: `container "app"`,
		Changes: []harden.Change{
			{Field: "process.capabilities.bounding", From: []string{"CAP_CHOWN", "CAP_NET_RAW"}, To: []string{"CAP_CHOWN"}},
			{Field: "process.noNewPrivileges", From: false, To: true},
		}}
	want, _ := json.Marshal(r)
	got, err := Marshal(r)
	if err != nil || string(got) != string(want)+"\n" {
		t.Fatalf("got %s (%v), want %s", got, err, want)
	}
	// An unencodable time does not lose the record.
	r.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := Marshal(r); err != nil {
		t.Fatal(err)
	}
}

func TestClipBoundsEncodedLength(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{"a", "é", "€", "😀", "<", "&", "\"", "\\", "\n", "\x01", "\xff", "\u2028"}
	for i := 0; i < 2000; i++ {
		var b strings.Builder
		for j := rng.Intn(600); j > 0; j-- {
			b.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		s, max := b.String(), 64+rng.Intn(400)
		c := clip(s, max)
		enc, _ := json.Marshal(c)
		if len(enc) > max {
			t.Fatalf("clip(%q, %d) encodes to %d bytes", s, max, len(enc))
		}
		if e, _ := json.Marshal(s); len(e) <= max && c != s {
			t.Fatalf("clip cut %q that fits", s)
		}
	}
}

func TestAppendBadPath(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	if err := Append(filepath.Join(blocker, "audit.log"), &Record{}); err == nil || !strings.Contains(err.Error(), blocker) {
		t.Fatalf("got %v", err)
	}
}

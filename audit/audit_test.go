package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
)

func TestAppendConcurrentWritersProduceWholeLines(t *testing.T) {
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
				if err := Append(path, r); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("torn or invalid line: %v", err)
		}
		seen[r.ID] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct records, want %d", len(seen), writers*each)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}

// TestAppendAcrossProcesses runs writers in separate processes (the shims
// are separate processes) against one file.
func TestAppendAcrossProcesses(t *testing.T) {
	if os.Getenv("AUDIT_CHILD") != "" {
		for i := 0; i < 300; i++ {
			r := &Record{Event: EventExec, Decision: Allowed, ID: fmt.Sprintf("%s-%d", os.Getenv("AUDIT_CHILD"), i), Message: strings.Repeat("y", 5000)}
			if err := Append(os.Getenv("AUDIT_PATH"), r); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		return
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	var cmds []*exec.Cmd
	for i := 0; i < 4; i++ {
		c := exec.Command(os.Args[0], "-test.run=TestAppendAcrossProcesses")
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
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 1200 {
		t.Fatalf("%d lines, want 1200", len(lines))
	}
	for _, l := range lines {
		var r Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("invalid line: %v", err)
		}
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
	if err := json.Unmarshal(b, &back); err != nil || !strings.Contains(back.Message, "20000 violations") {
		t.Fatalf("got %v %q", err, back.Message)
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

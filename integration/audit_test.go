//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
)

// auditRecords returns the lab audit log's records for a container ID.
func (l *lab) auditRecords(t *testing.T, id string) []audit.Record {
	t.Helper()
	var out []audit.Record
	for _, r := range l.allAuditRecords(t) {
		if r.ID == id {
			out = append(out, r)
		}
	}
	return out
}

// allAuditRecords reads every record of the lab's audit log and of its
// rotated files (oldest first); a line that is not a well-formed record fails
// the test.
func (l *lab) allAuditRecords(t *testing.T) []audit.Record {
	t.Helper()
	files := []string{l.AuditLog}
	for i := 1; i <= 10; i++ {
		p := fmt.Sprintf("%s.%d", l.AuditLog, i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		files = append([]string{p}, files...)
	}
	var out []audit.Record
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r audit.Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				f.Close()
				t.Fatalf("audit log %s: invalid line %q: %v", file, sc.Text(), err)
			}
			out = append(out, r)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
)

// auditRecords returns the lab audit log's records for a container ID.
func (l *lab) auditRecords(t *testing.T, id string) []audit.Record {
	t.Helper()
	f, err := os.Open(l.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit log %s: invalid line %q: %v", l.AuditLog, sc.Text(), err)
		}
		if r.ID == id {
			out = append(out, r)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

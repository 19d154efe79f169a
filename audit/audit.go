// Package audit appends one JSON line per policy decision to the node audit
// log, safely from many shim processes at once.
package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
	EventStart  = "start"
	EventCreate = "create"
	EventExec   = "exec"
	EventUpdate = "update"
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
}

// maxLine bounds one record; larger ones are truncated to their summary.
const maxLine = 256 << 10

// Marshal encodes a record as one JSON line (with the trailing newline).
func Marshal(r *Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(b) > maxLine {
		short := *r
		n := len(short.Violations)
		short.Violations = short.Violations[:min(n, 16)]
		short.Changes = nil
		short.Message = fmt.Sprintf("record truncated: %d violations, %d changes", n, len(r.Changes))
		if b, err = json.Marshal(&short); err != nil {
			return nil, err
		}
	}
	return append(b, '\n'), nil
}

// Append writes the record to the log at path as one write under an
// exclusive lock, creating the file (0600) and its directory (0700).
func Append(path string, r *Record) error {
	line, err := Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("audit log %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("audit log %s: %w", path, err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("audit log %s: lock: %w", path, err)
	}
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("audit log %s: %w", path, err)
	}
	return nil
}

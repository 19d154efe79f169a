//go:build linux

package shim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/harden"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/sandbox"
)

// refusal is a policy refusal: its text is the refusal message alone, and it
// is errdefs.ErrPermissionDenied, so it maps to gRPC PermissionDenied.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func (r *refusal) Is(target error) bool { return target == errdefs.ErrPermissionDenied }

// decision is the outcome of evaluating one request.
type decision struct {
	record  audit.Record
	refused bool
	// in is the evaluation's input (spec evaluations only).
	in *policy.Input
	// auditErr is why the node audit log did not take the record (set by record).
	auditErr error
}

// err returns the refusal error, or nil when the request is allowed. A
// refusal the audit log did not take says so: the client learns that the
// node kept no record of it.
func (d *decision) err() error {
	if !d.refused {
		return nil
	}
	return auditFailed(&refusal{msg: d.record.Message}, d.auditErr)
}

// newDecision builds the decision for violations found by one evaluation.
func newDecision(ctx context.Context, event string, class *runtimeclass.Class, id, execID string, spec *specs.Spec, subject string, vs []policy.Violation, changes []harden.Change) *decision {
	ns, _ := namespaces.Namespace(ctx)
	mode := class.PolicyMode()
	vs = policy.FillHints(vs) // violations made in shim/ (class, checkpoint) get theirs too
	d := &decision{record: audit.Record{
		Time: time.Now().UTC(), Event: event, Class: class.Name(), Mode: mode,
		Namespace: ns, ID: id, ExecID: execID, Subject: subject,
		Violations: vs, Changes: changes,
	}}
	if spec != nil {
		d.record.Pod = spec.Annotations[policy.AnnotationSandboxName]
		d.record.PodNS = spec.Annotations["io.kubernetes.cri.sandbox-namespace"]
		d.record.PodUID = spec.Annotations[policy.AnnotationSandboxUID]
	}
	switch {
	case len(vs) == 0:
		d.record.Decision = audit.Allowed
	case mode == policy.ModeAudit:
		d.record.Decision = audit.Audited
		d.record.Message = policy.Message(subject, vs, class.Name(), mode)
	default:
		d.record.Decision = audit.Refused
		d.record.Message = policy.Message(subject, vs, class.Name(), mode)
		d.refused = true
	}
	return d
}

// refuseWith turns an allowed decision into the refusal of violations a
// later step found (pinning, the user namespace), for the same request.
func (d *decision) refuseWith(ctx context.Context, class *runtimeclass.Class, spec *specs.Spec, vs []policy.Violation) {
	r := d.record
	nd := newDecision(ctx, r.Event, class, r.ID, r.ExecID, spec, r.Subject, vs, nil)
	nd.in = d.in
	*d = *nd
}

// request is what one Start, Create or check evaluation judges besides the
// class: the container, its bundle and spec, the pod sandbox it belongs to
// and the stdio the shim would open for it.
type request struct {
	id, bundle string
	spec       *specs.Spec
	// sandboxPID is the pod sandbox's init process (0: none this shim
	// serves), sandboxUID its pod UID.
	sandboxPID    int
	sandboxUID    string
	sandboxCgroup string
	// stdio is the task's stdio (nil at Start, which has none).
	stdio *policy.IO
	// rootfs is the task's root file system mounts (Create only).
	rootfs []policy.RootfsMount
	// restore names the CRIU image paths a Create restores from, if any.
	restore []string
	// host is what the checks look up (nil: the node; check --offline
	// passes a policy.OfflineHost).
	host policy.Host
}

// evaluateSpec runs the checks on a container's spec and, when it is allowed,
// the hardening step (applied in enforce mode, recorded as would-be changes
// in audit mode).
func evaluateSpec(ctx context.Context, event string, class *runtimeclass.Class, r request) (*decision, error) {
	in, vs := checkSpec(class, r)
	var changes []harden.Change
	if len(vs) == 0 || class.PolicyMode() == policy.ModeAudit {
		opts, err := class.HardenOptions()
		if err != nil {
			return nil, err
		}
		if changes, err = harden.Apply(r.spec, opts, class.PolicyMode() == policy.ModeAudit); err != nil {
			return nil, err
		}
	}
	d := newDecision(ctx, event, class, r.id, "", r.spec, in.Subject(), vs, changes)
	d.in = in
	return d, nil
}

// pinSources pins the allowlisted host directories an allowed container
// mounts (harden.PinMounts) and adds the changes to its decision; a source
// that changed into something refused turns the decision into a refusal.
// The pins must be closed once runc has created the container.
func pinSources(ctx context.Context, class *runtimeclass.Class, d *decision, bundle string) (*harden.Pins, error) {
	if d.refused || d.in == nil || class.PolicyMode() != policy.ModeEnforce {
		return nil, nil
	}
	pins, changes, vs, err := harden.PinMounts(d.in, bundle)
	if err != nil {
		return nil, err
	}
	if len(vs) > 0 {
		d.refuseWith(ctx, class, d.in.Spec, vs)
		return nil, nil
	}
	d.record.Changes = append(d.record.Changes, changes...)
	return pins, nil
}

// checkSpec runs the checks only.
func checkSpec(class *runtimeclass.Class, r request) (*policy.Input, []policy.Violation) {
	in := &policy.Input{Spec: r.spec, ID: r.id, StateDir: runtimeclass.StateDir(r.bundle), Bundle: r.bundle,
		SandboxPID: r.sandboxPID, SandboxUID: r.sandboxUID, SandboxCgroup: r.sandboxCgroup, Options: class.PolicyOptions(), Host: r.host}
	if in.Host == nil {
		in.Host = policy.NodeHost{}
	}
	vs := policy.Evaluate(in)
	if r.stdio != nil && !in.Options.IsDisabled(policy.IOCheckID) {
		vs = append(vs, policy.EvaluateIO(*r.stdio, in.StateDir, in.Options, in.Host)...)
	}
	if len(r.rootfs) > 0 && !in.Options.IsDisabled("hostPathVolumes") {
		vs = append(vs, policy.EvaluateRootfs(r.rootfs, in.Options.ContainerdRoot, in.Host)...)
	}
	if len(r.restore) > 0 {
		vs = append(vs, restoreRefusal(r.restore))
	}
	if backend, err := sandbox.For(class); err == nil {
		vs = append(vs, backend.Gaps(r.spec)...)
	}
	return in, vs
}

// record writes a decision to the node audit log (capped, rotated per the
// class's audit_log_* keys) and, when toLog or when the audit log fails, to
// the shim's log: no decision goes unrecorded. A failing audit log (including
// one not written because its disk is nearly full) is reported in the shim's
// log with the decision, and kept in it (d.err reports it with a refusal); it
// does not change the decision.
func record(ctx context.Context, class *runtimeclass.Class, d *decision, toLog bool) {
	if class.AuditLog != "-" {
		d.auditErr = audit.AppendWith(class.AuditLog, class.AuditOptions(), &d.record)
	}
	if !toLog && d.auditErr == nil {
		return
	}
	// The shim's log gets the same capped record as the audit log.
	r := audit.Cap(&d.record)
	entry := log.G(ctx).WithFields(log.Fields{
		"decision": r.Decision, "event": r.Event, "class": r.Class,
		"mode": r.Mode, "id": r.ID, "subject": r.Subject,
	})
	if r.ExecID != "" {
		entry = entry.WithField("exec_id", r.ExecID)
	}
	if len(r.Changes) > 0 {
		entry = entry.WithField("changes", r.Changes)
	}
	if r.Truncated != nil {
		entry = entry.WithField("truncated", *r.Truncated)
	}
	if d.auditErr != nil {
		entry.WithError(d.auditErr).Error("writing the audit log failed")
	}
	switch r.Decision {
	case audit.Allowed:
		entry.Info("policy decision")
	default:
		entry.WithField("violations", r.Violations).Warn(r.Message)
	}
}

// startLog points ctx's logger at the shim log of the start step: the
// bundle's log FIFO, which containerd opens (and copies into its own log)
// before it runs the start step, whose stdout and stderr containerd parses.
// Without the FIFO (a client that made none) the logger is unchanged. The
// returned func closes it.
func startLog(ctx context.Context, bundle string) (context.Context, func()) {
	// O_NONBLOCK: never wait for a reader (a full pipe loses the line, not
	// the decision); O_NOFOLLOW and the check after opening: only the FIFO
	// itself is written, never a file a link points at
	f, err := os.OpenFile(filepath.Join(bundle, "log"), os.O_WRONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return ctx, func() {}
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		f.Close()
		return ctx, func() {}
	}
	l := logrus.New()
	l.SetOutput(f)
	l.SetFormatter(&logrus.TextFormatter{TimestampFormat: log.RFC3339NanoFixed, FullTimestamp: true})
	return log.WithLogger(ctx, logrus.NewEntry(l).WithFields(log.G(ctx).Data)), func() { f.Close() }
}

// auditFailed adds an audit log failure to a refusal's error.
func auditFailed(err, auditErr error) error {
	if auditErr == nil {
		return err
	}
	return fmt.Errorf("%w (the node audit log did not record this: %v)", err, auditErr)
}

// restoreRefusal refuses a checkpoint or restore: runc runs CRIU as the
// node's root on host paths the client names, and a restored image brings
// its own credentials, capabilities and seccomp state, past the hardening.
func restoreRefusal(paths []string) policy.Violation {
	return policy.Violation{Check: policy.IOCheckID, Field: "checkpoint", Value: strings.Join(paths, ", "),
		Reason: fmt.Sprintf("checkpoint/restore with CRIU images at %q: runc would run CRIU on host paths as root and a restored process keeps the image's privileges; not supported by the hardened runtime", strings.Join(paths, ", "))}
}

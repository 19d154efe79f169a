//go:build linux

// Package shim is the hardened shim itself: a manager that resolves a
// container's runtime class before its shim process exists, and a task
// service that wraps containerd's runc task service.
package shim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	runcmanager "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	cshim "github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/log"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/harden"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/sandbox"
)

// RuntimeName is the runtime type containerd knows this shim by.
const RuntimeName = "io.containerd.hardened.v2"

// argv0Env carries the shim's invoked name from its start step to the shim
// daemon, which runs from the resolved executable.
const argv0Env = "CONTAINERD_SHIM_HARDENED_ARGV0"

// invokedAs returns the name containerd invoked this shim binary as.
func invokedAs() string {
	if a := os.Getenv(argv0Env); a != "" {
		return a
	}
	return os.Args[0]
}

// maxOptionsSize bounds the runtime options read for -info.
const maxOptionsSize = 1 << 20

// NewManager returns the shim manager: containerd's runc manager with the
// runtime class resolved (and its options translated for runc) first.
func NewManager(name string) cshim.Shim {
	return &manager{name: name, runc: runcmanager.NewShimManager(name), resolver: runtimeclass.Resolver{Argv0: invokedAs()}}
}

type manager struct {
	name     string
	runc     cshim.Shim
	resolver runtimeclass.Resolver
}

func (m *manager) Name() string { return m.name }

// Start runs once per container, in the bundle directory, before any process
// of that container exists. It resolves the class (a bad configuration fails
// here, with the error containerd reports to its client) and hands the runc
// manager the translated options so it can group containers and place the
// shim in its cgroup.
func (m *manager) Start(ctx context.Context, params *bootapi.BootstrapParams) (*bootapi.BootstrapResult, error) {
	bundle, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	opts, rest := splitOptions(params.GetExtensions())
	spec, err := readBundleSpec(bundle)
	if err != nil {
		return nil, err
	}
	class, err := resolveClass(m.resolver, opts, bundle, spec)
	if err != nil {
		return nil, err
	}
	runcOpts, err := runcOptionsAny(class)
	if err != nil {
		return nil, err
	}
	if err := checkBackend(class); err != nil {
		return nil, err
	}
	// Refuse before any shim daemon or container process exists. Nothing may
	// be written to stdout or stderr here: containerd reads the bootstrap
	// result from their combined output.
	id := params.GetInstanceID()
	req := request{id: id, bundle: bundle, spec: spec}
	group, label, claims := grouping(id, spec)
	if sb := (&policy.Input{Spec: spec}).SandboxID(); claims && sb == group {
		req.sandboxPID = sandboxPIDFromRuntime(class, params.GetNamespace(), sb)
		req.sandboxUID = sandboxUIDFromBundle(bundle, sb)
	}
	in, vs := checkSpec(class, req)
	if len(vs) == 0 {
		vs = usernsStartCheck(class, spec)
	}
	if d := newDecision(ctx, audit.EventStart, class, id, "", spec, in.Subject(), vs, nil); d.refused {
		lctx, closeLog := startLog(ctx, bundle)
		defer closeLog()
		record(lctx, class, d, true)
		return nil, d.err()
	}
	if err := class.Save(bundle); err != nil {
		return nil, err
	}
	// The shim daemon is re-executed from the resolved binary: hand it the
	// name containerd invoked (which names the node class file).
	if err := os.Setenv(argv0Env, os.Args[0]); err != nil {
		return nil, err
	}
	translated := proto.CloneOf(params)
	translated.Extensions = append(rest, &bootapi.Extension{Value: runcOpts})
	res, err := m.runc.Start(ctx, translated)
	if err != nil || !claims {
		return res, err
	}
	// A container that claims another container's shim group is handed to
	// whatever shim serves that group: it must be this class's.
	if err := verifyPeer(ctx, res.GetAddress(), group, label, class); err != nil {
		d := newDecision(ctx, audit.EventStart, class, id, "", spec, in.Subject(),
			[]policy.Violation{{Check: "runtimeClass", Field: "annotations[" + label + "]", Value: group, Reason: err.Error()}}, nil)
		d.refused, d.record.Decision = true, audit.Refused
		d.record.Message = err.Error()
		lctx, closeLog := startLog(ctx, bundle)
		defer closeLog()
		record(lctx, class, d, true)
		return nil, auditFailed(err, d.auditErr)
	}
	return res, nil
}

// Stop cleans up after a shim that died; the runc manager reads the options
// the task service wrote into the bundle.
func (m *manager) Stop(ctx context.Context, id string) (cshim.StopStatus, error) {
	// The runtime first: the container's processes are gone before its
	// user namespace IDs are released. A delegated container is cleaned up
	// by its delegate shim.
	// containerd runs `shim delete` in the bundle.
	bundle, bundleErr := os.Getwd()
	var (
		status    cshim.StopStatus
		stopErr   error
		delegated bool
	)
	if bundleErr == nil {
		status, delegated, stopErr = stopDelegated(ctx, bundle, id)
	}
	if !delegated {
		status, stopErr = m.runc.Stop(ctx, id)
	}
	// A shim killed between pinning mount sources and closing the pins left
	// them mounted in the bundle.
	if bundleErr == nil {
		if err := harden.Unpin(bundle); err != nil {
			log.G(ctx).WithError(err).Warn("removing pinned mount sources")
		}
		// ... and the pod's range of user namespace IDs, once none of its
		// processes is left (an app container has no saved class: the
		// node class names the allocator).
		class, err := runtimeclass.LoadSaved(bundle)
		if err != nil {
			class, err = m.resolver.Node(bundle)
		}
		if err == nil && class.UsernsMode() != runtimeclass.UsernsOff {
			a, err := class.Allocator()
			if err == nil {
				err = a.ReleaseBundle(bundle)
			}
			if err != nil {
				log.G(ctx).WithError(err).Warn("releasing the pod's user namespace IDs")
			}
		}
		// ... and the socket of a shim that died without removing it
		if err := removeDeadSocket(bundle); err != nil {
			log.G(ctx).WithError(err).Warn("removing the dead shim's socket")
		}
	}
	return status, stopErr
}

// shimSocketPath: a shim socket as containerd's shim library names it, in a
// socket directory ".../s" and named by a SHA-256 in hex; nothing else is
// ever removed, whatever a bundle file says.
func shimSocketPath(path string) bool {
	if filepath.Clean(path) != path || filepath.Base(filepath.Dir(path)) != "s" {
		return false
	}
	name := filepath.Base(path)
	if len(name) != 64 {
		return false
	}
	for _, c := range name {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// removeDeadSocket removes the shim socket a bundle names (bootstrap.json,
// containerd 2.3+; address, 2.0–2.2) when nothing serves it any more (a
// shim killed with SIGKILL leaves it). An app container's bundle names its
// pod's shim, which may still run: a socket that accepts a connection is
// left alone.
func removeDeadSocket(bundle string) error {
	address, err := cshim.ReadAddress(filepath.Join(bundle, "address"))
	if err != nil {
		var b struct {
			Address string `json:"address"`
		}
		data, rerr := os.ReadFile(filepath.Join(bundle, "bootstrap.json"))
		if rerr != nil || json.Unmarshal(data, &b) != nil || b.Address == "" {
			return nil // no address: no socket of this bundle's
		}
		address = b.Address
	}
	path, ok := strings.CutPrefix(address, "unix://")
	if !ok || !filepath.IsAbs(path) || !shimSocketPath(path) {
		return nil // abstract, not a unix socket, or not a shim's
	}
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&os.ModeSocket == 0 {
		return nil
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return nil // served
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return nil // not known to be dead
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// stopDelegated runs a delegated container's cleanup through its delegate
// shim; delegated is false when the container was not delegated.
func stopDelegated(ctx context.Context, bundle, id string) (status cshim.StopStatus, delegated bool, err error) {
	resp, delegated, err := sandbox.StopDelegated(ctx, shimEnv(ctx, bundle), bundle, id)
	if resp != nil {
		status = cshim.StopStatus{Pid: int(resp.GetPid()), ExitStatus: int(resp.GetExitStatus()), ExitedAt: resp.GetExitedAt().AsTime()}
	}
	return status, delegated, err
}

// Info reports the underlying runtime's features (`runc features`) so that
// containerd's CRI treats the handler like runc (user namespaces, idmapped
// mounts, recursive read-only mounts).
func (m *manager) Info(ctx context.Context, optionsR io.Reader) (*types.RuntimeInfo, error) {
	data, err := io.ReadAll(io.LimitReader(optionsR, maxOptionsSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading runtime options: %w", err)
	}
	if len(data) > maxOptionsSize {
		return nil, fmt.Errorf("runtime options exceed %d bytes", maxOptionsSize)
	}
	var opts *anypb.Any
	if len(data) > 0 {
		opts = &anypb.Any{}
		if err := proto.Unmarshal(data, opts); err != nil {
			return nil, fmt.Errorf("decoding runtime options: %w", err)
		}
	}
	class, err := m.resolver.Resolve(opts, "")
	if err != nil {
		return nil, err
	}
	runcOpts, err := runcOptionsAny(class)
	if err != nil {
		return nil, err
	}
	b, err := proto.Marshal(runcOpts)
	if err != nil {
		return nil, err
	}
	info, err := m.runc.Info(ctx, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	// Report the options as containerd sent them, not their runc translation.
	info.Options = opts
	return info, nil
}

// splitOptions picks the runtime options (runtimeoptions.v1 or runc options)
// out of the bootstrap extensions and returns the other extensions untouched.
func splitOptions(exts []*bootapi.Extension) (*anypb.Any, []*bootapi.Extension) {
	var (
		opts *anypb.Any
		rest []*bootapi.Extension
	)
	for _, e := range exts {
		if opts == nil && runtimeclass.IsRuntimeOptions(e.GetValue()) {
			opts = e.GetValue()
			continue
		}
		rest = append(rest, e)
	}
	return opts, rest
}

// runcOptionsAny translates a class into the runc options the runc manager
// and task service expect.
func runcOptionsAny(class *runtimeclass.Class) (*anypb.Any, error) {
	backend, err := sandbox.For(class)
	if err != nil {
		return nil, err
	}
	return anypb.New(backend.RuncOptions(class))
}

// checkBackend verifies that this node can run the class's backend as configured.
func checkBackend(class *runtimeclass.Class) error {
	backend, err := sandbox.For(class)
	if err != nil {
		return err
	}
	return backend.Check(class)
}

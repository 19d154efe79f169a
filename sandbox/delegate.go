//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	cshim "github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// kata hands a class's containers to another containerd v2 shim (Kata's by
// default, any v2 shim binary works) after the hardened shim has checked and
// hardened them. The hardened shim stays in the request path: containerd
// talks to it, and it forwards the task API of delegated containers to the
// delegate (Delegator), so exec and update checks keep applying and a
// refusal never reaches the delegate. The delegate publishes its events
// (create, start, exit, OOM) to containerd itself.
type kata struct{}

func (kata) Name() string { return runtimeclass.BackendKata }

// RuncOptions are the options of the hardened shim's own process (its
// cgroup) and, without [kata] config_path, what the delegate is sent.
func (kata) RuncOptions(c *runtimeclass.Class) *runcoptions.Options { return runc{}.RuncOptions(c) }

// Check verifies that the delegate shim and its configuration exist.
func (kata) Check(c *runtimeclass.Class) error {
	if _, err := exec.LookPath(c.Kata.Shim); err != nil {
		return fmt.Errorf("runtime class %q: the delegate shim %q ([kata] shim): %w", c.Name(), c.Kata.Shim, err)
	}
	if p := c.Kata.ConfigPath; p != "" {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("runtime class %q: the delegate's configuration ([kata] config_path): %w", c.Name(), err)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("runtime class %q: the delegate's configuration %s ([kata] config_path) is not a regular file", c.Name(), p)
		}
	}
	return nil
}

func (kata) Prepare(*runtimeclass.Class) error { return nil }

func (kata) AppStats(*runtimeclass.Class, string, string, bool) (any, bool, error) {
	return nil, false, nil
}

func (kata) Unsupported(string, bool) error { return nil }

// Gaps: what a delegate runs differently is the delegate's to say; the
// README lists Kata's.
func (kata) Gaps(*specs.Spec) []policy.Violation { return nil }

// FailedCreate: the delegate cleans up after its own failed create.
func (kata) FailedCreate(*runtimeclass.Class, *specs.Spec) error { return nil }

// ShimEnv is what containerd told the hardened shim about itself (its flags
// and environment); a delegate is started and cleaned up with the same.
type ShimEnv struct {
	ID            string // the container the shim process was started for (-id)
	Namespace     string
	Address       string // containerd's gRPC address (-address)
	TTRPCAddress  string // where shims publish events (TTRPC_ADDRESS)
	PublishBinary string // containerd's binary (-publish-binary), if known
	SocketDir     string // where shims create their sockets, if configured
	Debug         bool
}

// Delegator is a backend whose containers another v2 shim runs.
type Delegator interface {
	// Delegate returns the task service of the delegate shim that runs this
	// shim process's containers, starting it for container id (in bundle)
	// when none runs yet, and the runtime options the container's Create
	// gets (runcOpts are the class's runc options).
	Delegate(ctx context.Context, c *runtimeclass.Class, env ShimEnv, id, bundle string, runcOpts *anypb.Any) (taskAPI.TTRPCTaskService, *anypb.Any, error)
}

// delegateRecord is written into a delegated container's bundle: `shim
// delete` (containerd's cleanup after the hardened shim died) reads it to
// clean up through the delegate.
type delegateRecord struct {
	Shim     string `json:"shim"`
	Address  string `json:"address"`
	Protocol string `json:"protocol"`
	Version  int32  `json:"version"`
	// Deleted: the container was deleted through the delegate's task API;
	// only the delegate itself may be left to shut down.
	Deleted bool `json:"deleted,omitempty"`
}

const delegateRecordFile = "hardened-delegate.json"

// delegateAddressSuffix makes the containerd address a delegate is given
// differ from the hardened shim's, so that its socket (a hash of that
// address, the namespace and the shim group) is its own: with the same
// address a delegate grouping by the same pod annotation would find the
// hardened shim's socket and hand back the hardened shim's address.
const delegateAddressSuffix = ".hardened-delegate"

// delegateTimeout bounds a delegate's start and delete steps.
const delegateTimeout = 30 * time.Second

// delegates are the connections of this shim process to its delegates, by
// address, and the address of the one serving its containers. A shim
// process serves one shim group (a pod, or a container of no pod), so one
// delegate serves all its containers, whatever group annotation a
// container's spec claims: the shim's start step already judged that claim
// (verifyPeer), and the delegate is not chosen by what a client sends.
var delegates = struct {
	sync.Mutex
	conns   map[string]*delegateConn
	serving string
}{conns: map[string]*delegateConn{}}

type delegateConn struct {
	task *remoteTask
	rec  delegateRecord
}

// Delegate implements Delegator.
func (kata) Delegate(ctx context.Context, c *runtimeclass.Class, env ShimEnv, id, bundle string, runcOpts *anypb.Any) (taskAPI.TTRPCTaskService, *anypb.Any, error) {
	opts := runcOpts
	if c.Kata.ConfigPath != "" {
		var err error
		if opts, err = anypb.New(&runtimeoptions.Options{ConfigPath: c.Kata.ConfigPath}); err != nil {
			return nil, nil, err
		}
	}
	shim, err := exec.LookPath(c.Kata.Shim)
	if err != nil {
		return nil, nil, fmt.Errorf("runtime class %q: the delegate shim %q ([kata] shim): %w", c.Name(), c.Kata.Shim, err)
	}
	delegates.Lock()
	defer delegates.Unlock()
	conn := delegates.conns[delegates.serving]
	if conn == nil || conn.rec.Shim != shim {
		res, err := startDelegate(shim, env, id, bundle, opts)
		if err != nil {
			return nil, nil, err
		}
		if conn = delegates.conns[res.GetAddress()]; conn == nil {
			if conn, err = dialDelegate(ctx, shim, res); err != nil {
				return nil, nil, err
			}
		}
		delegates.serving = res.GetAddress()
	}
	if err := writeDelegateRecord(bundle, conn.rec); err != nil {
		return nil, nil, err
	}
	return conn.task, opts, nil
}

func writeDelegateRecord(bundle string, rec delegateRecord) error {
	b, err := json.Marshal(rec)
	if err == nil {
		err = os.WriteFile(filepath.Join(bundle, delegateRecordFile), b, 0o600)
	}
	if err != nil {
		return fmt.Errorf("recording the delegate shim in the bundle: %w", err)
	}
	return nil
}

// DelegatedDeleted records that the delegated container of bundle was
// deleted through its delegate: `shim delete` then has nothing to clean up
// in the delegate but the delegate itself, if it still runs.
func DelegatedDeleted(bundle string) error {
	rec, err := readDelegateRecord(bundle)
	if err != nil {
		return err
	}
	rec.Deleted = true
	return writeDelegateRecord(bundle, rec)
}

func readDelegateRecord(bundle string) (delegateRecord, error) {
	var rec delegateRecord
	b, err := os.ReadFile(filepath.Join(bundle, delegateRecordFile))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("%s: %w", delegateRecordFile, err)
	}
	return rec, nil
}

// ShutdownDelegates asks every delegate of this shim process to shut down
// (a delegate that still runs containers stays) and reports whether one
// refused; connections that end are forgotten.
func ShutdownDelegates(ctx context.Context, r *taskAPI.ShutdownRequest) error {
	delegates.Lock()
	conns := make([]*delegateConn, 0, len(delegates.conns))
	for _, c := range delegates.conns {
		conns = append(conns, c)
	}
	delegates.Unlock()
	var errs []error
	for _, c := range conns {
		if _, err := c.task.Shutdown(ctx, r); err != nil && !isClosed(err) {
			errs = append(errs, fmt.Errorf("delegate shim %s at %s: %w", c.rec.Shim, c.rec.Address, err))
		}
	}
	return errors.Join(errs...)
}

func isClosed(err error) bool {
	return errors.Is(err, ttrpc.ErrClosed) || strings.Contains(err.Error(), "ttrpc: closed")
}

// shimArgs are the flags containerd gives a shim binary (pkg/shim), with the
// delegate's own address.
func shimArgs(env ShimEnv, id string) []string {
	args := []string{"-namespace", env.Namespace, "-address", env.Address + delegateAddressSuffix, "-id", id}
	if env.PublishBinary != "" {
		args = append(args, "-publish-binary", env.PublishBinary)
	}
	if env.Debug {
		args = append(args, "-debug")
	}
	return args
}

// shimCommand is a delegate's start or delete step, as containerd runs one.
func shimCommand(shim string, env ShimEnv, args []string, bundle string) *exec.Cmd {
	cmd := exec.Command(shim, args...)
	cmd.Dir = bundle
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2", "MAX_SHIM_VERSION=2",
		"TTRPC_ADDRESS="+env.TTRPCAddress, "GRPC_ADDRESS="+env.Address, "NAMESPACE="+env.Namespace)
	// the delegate's daemon may hold inherited descriptors: do not wait for them
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// startDelegate runs the delegate's start step in the container's bundle
// and returns where its task service listens.
func startDelegate(shim string, env ShimEnv, id, bundle string, opts *anypb.Any) (*bootapi.BootstrapResult, error) {
	cmd := shimCommand(shim, env, append(shimArgs(env, id), "start"), bundle)
	var stdin []byte
	var err error
	name := filepath.Base(shim)
	if strings.Contains(name, "shim-runc-v1") {
		// what containerd sends a 1.7 runc v1 shim: the options alone
		if opts != nil {
			stdin, err = proto.Marshal(opts)
		}
	} else {
		params := &bootapi.BootstrapParams{
			InstanceID:             id,
			Namespace:              env.Namespace,
			LogLevel:               bootapi.LogLevel_LOG_LEVEL_INFO,
			ContainerdGrpcAddress:  env.Address + delegateAddressSuffix,
			ContainerdTtrpcAddress: env.TTRPCAddress,
			ContainerdBinary:       env.PublishBinary,
		}
		if env.Debug {
			params.LogLevel = bootapi.LogLevel_LOG_LEVEL_DEBUG
		}
		if env.SocketDir != "" {
			params.SocketDir = &env.SocketDir
		}
		if opts != nil {
			params.Extensions = append(params.Extensions, &bootapi.Extension{Value: opts})
		}
		stdin, err = proto.Marshal(params)
	}
	if err != nil {
		return nil, err
	}
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := outputReaped(cmd, delegateTimeout)
	if err != nil {
		return nil, fmt.Errorf("starting the delegate shim %s: %w", shim, err)
	}
	res, err := parseStartResult(out)
	if err != nil {
		return nil, fmt.Errorf("delegate shim %s: %w", shim, err)
	}
	return res, nil
}

// parseStartResult reads a start step's answer as containerd does: a
// bootstrap result, else a legacy JSON or plain address.
func parseStartResult(out []byte) (*bootapi.BootstrapResult, error) {
	var res bootapi.BootstrapResult
	if err := proto.Unmarshal(out, &res); err == nil && res.GetAddress() != "" && res.GetVersion() >= 2 {
		return &res, nil
	}
	out = bytes.TrimSpace(out)
	p := &bootapi.BootstrapResult{}
	if err := json.Unmarshal(out, p); err != nil || p.Version < 2 {
		p = &bootapi.BootstrapResult{Address: string(out), Protocol: "ttrpc", Version: 2}
	}
	if p.Address == "" {
		return nil, errors.New("its start step printed no address")
	}
	if p.Version > 3 {
		return nil, fmt.Errorf("task API version %d is not supported (2 and 3 are)", p.Version)
	}
	if !strings.EqualFold(p.Protocol, "ttrpc") {
		return nil, fmt.Errorf("it serves %q; only ttrpc delegates are supported", p.Protocol)
	}
	return p, nil
}

// dialDelegate connects to a delegate's task service (the caller holds the
// delegates lock).
func dialDelegate(ctx context.Context, shim string, res *bootapi.BootstrapResult) (*delegateConn, error) {
	nc, err := cshim.AnonDialer(res.GetAddress(), 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connecting to the delegate shim %s at %s: %w", shim, res.GetAddress(), err)
	}
	addr := res.GetAddress()
	client := ttrpc.NewClient(nc, ttrpc.WithOnClose(func() {
		delegates.Lock()
		defer delegates.Unlock()
		delete(delegates.conns, addr)
		if delegates.serving == addr {
			delegates.serving = ""
		}
	}))
	conn := &delegateConn{task: newRemoteTask(client, res.GetVersion()),
		rec: delegateRecord{Shim: shim, Address: addr, Protocol: res.GetProtocol(), Version: res.GetVersion()}}
	delegates.conns[addr] = conn
	log.G(ctx).WithFields(log.Fields{"shim": shim, "address": addr, "version": res.GetVersion()}).Info("connected to the delegate shim")
	return conn, nil
}

// StopDelegated cleans up container id of bundle after the hardened shim
// died (`shim delete`). The delegate may still run and hold the container:
// it is killed and deleted through the delegate's task API, then the
// delegate's own delete step runs (for a delegate that died too), then the
// delegate is asked to shut down (it stays while it runs other containers).
// handled is false when the container was not delegated.
func StopDelegated(ctx context.Context, env ShimEnv, bundle, id string) (resp *taskAPI.DeleteResponse, handled bool, err error) {
	rec, err := readDelegateRecord(bundle)
	if os.IsNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	var task *remoteTask
	if nc, err := cshim.AnonReconnectDialer(rec.Address, 2*time.Second); err == nil {
		client := ttrpc.NewClient(nc)
		defer client.Close()
		task = newRemoteTask(client, rec.Version)
		if !rec.Deleted {
			resp = deleteThrough(ctx, task, id)
		}
	}
	if rec.Deleted {
		// deleted through the delegate: only the delegate may be left
		if task != nil {
			shutdownThrough(ctx, task, id)
		}
		return &taskAPI.DeleteResponse{}, true, nil
	}
	cmd := shimCommand(rec.Shim, env, append(shimArgs(env, id), "-bundle", bundle, "delete"), bundle)
	out, err := outputReaped(cmd, delegateTimeout)
	if err == nil && resp == nil {
		var dr taskAPI.DeleteResponse
		if err = proto.Unmarshal(out, &dr); err == nil {
			resp = &dr
		}
	}
	if err != nil {
		err = fmt.Errorf("the delegate shim %s's delete step: %w", rec.Shim, err)
	}
	if task != nil {
		shutdownThrough(ctx, task, id)
	}
	if resp != nil {
		// the container is gone: a failed delete step (nothing left to do) is only logged
		if err != nil {
			log.G(ctx).WithError(err).Warn("cleaning up after the delegated container")
		}
		return resp, true, nil
	}
	return nil, true, err
}

// shutdownThrough asks a delegate to shut down (it stays while it runs
// containers).
func shutdownThrough(ctx context.Context, task *remoteTask, id string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := task.Shutdown(ctx, &taskAPI.ShutdownRequest{ID: id}); err != nil && !isClosed(err) {
		log.G(ctx).WithError(err).Warn("shutting the delegate shim down")
	}
}

// deleteThrough kills and deletes container id through a running delegate's
// task API; nil if the delegate does not hold it (or failed to).
func deleteThrough(ctx context.Context, task *remoteTask, id string) *taskAPI.DeleteResponse {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := task.State(ctx, &taskAPI.StateRequest{ID: id}); err != nil {
		return nil
	}
	_, _ = task.Kill(ctx, &taskAPI.KillRequest{ID: id, Signal: uint32(syscall.SIGKILL), All: true})
	if _, err := task.Wait(ctx, &taskAPI.WaitRequest{ID: id}); err != nil {
		log.G(ctx).WithError(err).Warn("waiting for the delegated container to exit")
	}
	resp, err := task.Delete(ctx, &taskAPI.DeleteRequest{ID: id})
	if err != nil {
		log.G(ctx).WithError(err).Warn("deleting the delegated container through its delegate")
		return nil
	}
	return resp
}

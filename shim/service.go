//go:build linux

package shim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/harden"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/sandbox"
)

// service wraps containerd's runc task service. Every call it does not
// override goes to runc unchanged. Create resolves the container's class,
// checks and hardens its spec and translates its options; Exec and Update are
// checked against what the container was created with.
type service struct {
	taskAPI.TTRPCTaskService

	mu         sync.Mutex
	containers map[string]*containerState
	// pending counts releases of deleted containers' user namespace IDs
	// still under way: Shutdown waits for them.
	pending sync.WaitGroup
	// release returns the heap a burst of creates left behind to the
	// kernel once creates have stopped for releaseDelay (the shim library
	// does so only every 30 seconds).
	release *time.Timer
}

// releaseDelay is how long after the last Create the shim hands its free
// heap back to the kernel.
const releaseDelay = time.Second

// releaseMemorySoon (re)arms the release of free heap after a Create.
func (s *service) releaseMemorySoon() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.release == nil {
		s.release = time.AfterFunc(releaseDelay, debug.FreeOSMemory)
		return
	}
	s.release.Reset(releaseDelay)
}

// containerState is what the service remembers of a created container.
type containerState struct {
	class     *runtimeclass.Class
	subject   string
	spec      *specs.Spec    // of the final spec runc was given, its annotations and (hardened) process only
	process   *specs.Process // the process as created, before hardening
	resources *specs.LinuxResources
	stateDir  string // containerd's state directory (from the bundle path)
	bundle    string
	// sandboxPID is the init process of a CRI pod sandbox (pause), 0 for
	// every other container; podUID its pod UID, cgroup its cgroupsPath.
	sandboxPID int
	podUID     string
	cgroup     string
	// userns is the user namespace the container runs in (nil: none).
	userns *usernsState
	// task runs the container: a delegate shim's task service, or nil for
	// the runc task service.
	task taskAPI.TTRPCTaskService
}

// isApp reports whether the container is an app container of a CRI pod.
func (st *containerState) isApp() bool { return (&policy.Input{Spec: st.spec}).IsAppContainer() }

// newService wraps a runc task service.
func newService(runc taskAPI.TTRPCTaskService) *service {
	return &service{TTRPCTaskService: runc, containers: make(map[string]*containerState)}
}

// RegisterTTRPC registers the wrapper, not the wrapped service, so that
// containerd's calls reach the overrides.
func (s *service) RegisterTTRPC(server *ttrpc.Server) error {
	taskAPI.RegisterTTRPCTaskService(server, s)
	return nil
}

func invalid(err error) error {
	return errgrpc.ToGRPC(fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err))
}

// Create resolves the class, checks the bundle's spec, hardens it (rewriting
// config.json before runc reads it) and hands the runc task service runc
// options.
func (s *service) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (*taskAPI.CreateTaskResponse, error) {
	spec, err := readBundleSpec(r.Bundle)
	if err != nil {
		return nil, invalid(err)
	}
	class, err := s.classFor(r, spec)
	if err != nil {
		return nil, invalid(err)
	}
	var process specs.Process
	if err := roundTrip(spec.Process, &process); err != nil {
		return nil, invalid(err)
	}
	opts, err := runcOptionsAny(class)
	if err != nil {
		return nil, invalid(err)
	}
	sb := s.sandbox(spec)
	req := request{id: r.ID, bundle: r.Bundle, spec: spec,
		sandboxPID: sb.sandboxPID, sandboxUID: sb.podUID, sandboxCgroup: sb.cgroup,
		stdio: &policy.IO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal}}
	for _, m := range r.Rootfs {
		req.rootfs = append(req.rootfs, policy.RootfsMount{Type: m.GetType(), Source: m.GetSource(), Target: m.GetTarget(), Options: m.GetOptions()})
	}
	for _, p := range []string{r.Checkpoint, r.ParentCheckpoint} {
		if p != "" {
			req.restore = append(req.restore, p)
		}
	}
	d, err := evaluateSpec(ctx, audit.EventCreate, class, req)
	if err != nil {
		return nil, invalid(err)
	}
	// runc mounts the pinned objects, not the paths: released once it has
	// created the container.
	pins, err := pinSources(ctx, class, d, r.Bundle)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	defer pins.Close()
	uns, err := s.userNamespace(ctx, class, d, r, spec)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	defer uns.unstage()
	if uns != nil && uns.injected && !d.refused {
		// the bundle and root file system for the container's root
		changes, err := prepareBundle(r, uns.ns, class.PolicyOptions().ContainerdRoot)
		if err != nil {
			s.releaseUserns(ctx, class, uns)
			return nil, errgrpc.ToGRPC(err)
		}
		d.record.Changes = append(d.record.Changes, changes...)
		idmapRootfs(r, uns.ns)
		if opts, err = usernsRuncOptions(opts, uns.ns, spec.Process); err != nil {
			s.releaseUserns(ctx, class, uns)
			return nil, invalid(err)
		}
	}
	if !d.refused && class.Runtime == runtimeclass.BackendRunsc {
		d.record.Changes = append(d.record.Changes, harden.UnjoinUserNamespace(spec)...)
	}
	record(ctx, class, d, true)
	if err := d.err(); err != nil {
		s.releaseUserns(ctx, class, uns)
		return nil, errgrpc.ToGRPC(err)
	}
	if len(d.record.Changes) > 0 && class.PolicyMode() == policy.ModeEnforce {
		if err := writeBundleSpec(r.Bundle, spec); err != nil {
			s.releaseUserns(ctx, class, uns)
			return nil, errgrpc.ToGRPC(fmt.Errorf("writing the hardened spec: %w", err))
		}
	}
	r.Options = opts
	task, err := s.backendTask(ctx, class, r)
	if err != nil {
		s.releaseUserns(ctx, class, uns)
		return nil, errgrpc.ToGRPC(err)
	}
	resp, err := task.Create(ctx, r)
	if err != nil {
		s.releaseUserns(ctx, class, uns)
		if backend, berr := sandbox.For(class); berr == nil {
			if cerr := backend.FailedCreate(class, spec); cerr != nil {
				log.G(ctx).WithError(cerr).Warn("cleaning up after the failed create")
			}
		}
		return nil, err
	}
	// Only what later calls read is kept of the spec (the seccomp profile,
	// mounts and the rest would stay on every shim's heap for the container's
	// life).
	kept := &specs.Spec{Annotations: spec.Annotations, Process: spec.Process}
	st := &containerState{class: class, subject: d.record.Subject, spec: kept, process: &process, stateDir: runtimeclass.StateDir(r.Bundle), bundle: r.Bundle, userns: uns}
	if task != s.TTRPCTaskService {
		st.task = task
	}
	if spec.Linux != nil {
		st.resources = spec.Linux.Resources
	}
	if in := (&policy.Input{Spec: spec, ID: r.ID}); in.IsSandbox() && in.OwnSandboxID() == r.ID {
		st.sandboxPID, st.podUID = int(resp.GetPid()), in.PodUID()
		if err := uns.noteSandbox(st.sandboxPID); err != nil {
			log.G(ctx).WithError(err).Warn("its app containers will be refused")
		}
		if spec.Linux != nil {
			st.cgroup = spec.Linux.CgroupsPath
		}
	}
	s.mu.Lock()
	s.containers[r.ID] = st
	s.mu.Unlock()
	s.releaseMemorySoon()
	return resp, nil
}

// backendTask readies the node for the class's backend and returns the task
// service that creates the container: the runc task service, or the task
// service of the shim the backend delegates to (r.Options then become the
// delegate's).
func (s *service) backendTask(ctx context.Context, class *runtimeclass.Class, r *taskAPI.CreateTaskRequest) (taskAPI.TTRPCTaskService, error) {
	backend, err := sandbox.For(class)
	if err != nil {
		return nil, err
	}
	if err := backend.Prepare(class); err != nil {
		return nil, err
	}
	d, ok := backend.(sandbox.Delegator)
	if !ok {
		return s.TTRPCTaskService, nil
	}
	task, opts, err := d.Delegate(ctx, class, shimEnv(ctx, r.Bundle), r.ID, r.Bundle, r.Options)
	if err != nil {
		return nil, err
	}
	r.Options = opts
	return task, nil
}

// taskFor returns the task service that runs container id: its delegate's,
// or the runc task service (also for containers the shim does not know).
func (s *service) taskFor(id string) taskAPI.TTRPCTaskService {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.containers[id]; ok && st.task != nil {
		return st.task
	}
	return s.TTRPCTaskService
}

// The calls the shim does not judge go to the task service that runs the
// container.

func (s *service) State(ctx context.Context, r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	return s.taskFor(r.ID).State(ctx, r)
}

func (s *service) Start(ctx context.Context, r *taskAPI.StartRequest) (*taskAPI.StartResponse, error) {
	return s.taskFor(r.ID).Start(ctx, r)
}

func (s *service) Kill(ctx context.Context, r *taskAPI.KillRequest) (*emptypb.Empty, error) {
	return s.taskFor(r.ID).Kill(ctx, r)
}

func (s *service) Pids(ctx context.Context, r *taskAPI.PidsRequest) (*taskAPI.PidsResponse, error) {
	return s.taskFor(r.ID).Pids(ctx, r)
}

func (s *service) CloseIO(ctx context.Context, r *taskAPI.CloseIORequest) (*emptypb.Empty, error) {
	return s.taskFor(r.ID).CloseIO(ctx, r)
}

func (s *service) ResizePty(ctx context.Context, r *taskAPI.ResizePtyRequest) (*emptypb.Empty, error) {
	return s.taskFor(r.ID).ResizePty(ctx, r)
}

func (s *service) Wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	return s.taskFor(r.ID).Wait(ctx, r)
}

// Connect reports this process as the shim: containerd talks to it, whoever
// runs the task.
func (s *service) Connect(ctx context.Context, r *taskAPI.ConnectRequest) (*taskAPI.ConnectResponse, error) {
	task := s.taskFor(r.ID)
	resp, err := task.Connect(ctx, r)
	if err == nil && task != s.TTRPCTaskService {
		resp.ShimPid = uint32(os.Getpid())
	}
	return resp, err
}

// sandbox returns what the shim knows of the pod sandbox a container belongs
// to when this shim serves that sandbox (its init process, pod UID and
// cgroup), else nothing: only then may the container join namespaces by path
// or mount the pod's volumes.
func (s *service) sandbox(spec *specs.Spec) containerState {
	in := &policy.Input{Spec: spec}
	id := in.SandboxID()
	if id == "" || in.IsSandbox() {
		return containerState{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.containers[id]; ok {
		return containerState{sandboxPID: st.sandboxPID, podUID: st.podUID, cgroup: st.cgroup}
	}
	return containerState{}
}

// classFor returns the class the start step resolved and saved in the
// bundle (with the stdio owner containerd's CRI sends as runc options for
// user-namespaced pods), else resolves it: CRI app containers reach Create
// without a start step of their own.
func (s *service) classFor(r *taskAPI.CreateTaskRequest, spec *specs.Spec) (*runtimeclass.Class, error) {
	class, err := runtimeclass.LoadSaved(r.Bundle)
	if os.IsNotExist(err) {
		return resolveClass(runtimeclass.Resolver{Argv0: invokedAs()}, r.Options, r.Bundle, spec)
	}
	if err != nil {
		return nil, err
	}
	if err := class.ApplyAny(r.Options); err != nil {
		return nil, err
	}
	return class, nil
}

// Exec refuses an exec process that holds more privilege than its container.
func (s *service) Exec(ctx context.Context, r *taskAPI.ExecProcessRequest) (*emptypb.Empty, error) {
	st, err := s.container(r.ID)
	if err != nil {
		return nil, err
	}
	var p specs.Process
	if err := json.Unmarshal(r.Spec.GetValue(), &p); err != nil {
		return nil, invalid(fmt.Errorf("exec %q: process spec: %w", r.ExecID, err))
	}
	// Escalation is judged against the process the container was created
	// with (what CRI copies into exec requests); then the exec process is
	// hardened like the container's own.
	vs := policy.EvaluateExec(st.process, &p)
	if o := st.class.PolicyOptions(); !o.IsDisabled(policy.IOCheckID) {
		vs = append(vs, policy.EvaluateIO(policy.IO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal}, st.stateDir, o, policy.NodeHost{})...)
	}
	opts, err := st.class.HardenOptions()
	if err != nil {
		return nil, invalid(err)
	}
	audited := st.class.PolicyMode() == policy.ModeAudit
	changes := harden.ApplyExec(&p, opts, audited)
	if len(changes) > 0 && !audited {
		b, err := json.Marshal(&p)
		if err != nil {
			return nil, invalid(fmt.Errorf("exec %q: %w", r.ExecID, err))
		}
		r.Spec.Value = b
	}
	d := newDecision(ctx, audit.EventExec, st.class, r.ID, r.ExecID, st.spec, fmt.Sprintf("exec %q in %s", r.ExecID, st.subject), vs, compactExecChanges(changes, &p, st.spec))
	record(ctx, st.class, d, true)
	if err := d.err(); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return s.taskFor(r.ID).Exec(ctx, r)
}

// Update refuses device access the container did not have.
func (s *service) Update(ctx context.Context, r *taskAPI.UpdateTaskRequest) (*emptypb.Empty, error) {
	st, err := s.container(r.ID)
	if err != nil {
		return nil, err
	}
	if r.Resources != nil && len(r.Resources.GetValue()) > 0 {
		var res specs.LinuxResources
		if err := json.Unmarshal(r.Resources.GetValue(), &res); err != nil {
			return nil, invalid(fmt.Errorf("update: resources: %w", err))
		}
		vs := policy.EvaluateUpdate(st.resources, &res)
		d := newDecision(ctx, audit.EventUpdate, st.class, r.ID, "", st.spec, st.subject, vs, nil)
		record(ctx, st.class, d, len(vs) > 0)
		if err := d.err(); err != nil {
			return nil, errgrpc.ToGRPC(err)
		}
	}
	return s.taskFor(r.ID).Update(ctx, r)
}

// Checkpoint is refused: runc would run CRIU as the node's root on host paths
// the client names (image, work and parent paths), dumping the container's
// memory wherever asked.
func (s *service) Checkpoint(ctx context.Context, r *taskAPI.CheckpointTaskRequest) (*emptypb.Empty, error) {
	st, err := s.container(r.ID)
	if err != nil {
		return nil, err
	}
	d := newDecision(ctx, audit.EventCheckpoint, st.class, r.ID, "", st.spec, st.subject, []policy.Violation{restoreRefusal([]string{r.Path})}, nil)
	record(ctx, st.class, d, true)
	if err := d.err(); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return s.taskFor(r.ID).Checkpoint(ctx, r)
}

// Delete forgets a deleted container.
func (s *service) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	resp, err := s.taskFor(r.ID).Delete(ctx, r)
	if err == nil && r.ExecID == "" {
		s.mu.Lock()
		st := s.containers[r.ID]
		delete(s.containers, r.ID)
		s.mu.Unlock()
		if st != nil && st.task != nil {
			// containerd's cleanup (`shim delete`) need not go through the delegate again
			if err := sandbox.DelegatedDeleted(st.bundle); err != nil {
				log.G(ctx).WithError(err).Warn("recording the delegated container's deletion")
			}
		}
		if st != nil && st.userns != nil {
			// off the reply's path: containerd's cleanup races its own
			// deletes against a slow reply; Shutdown waits for it
			s.pending.Add(1)
			go func() {
				defer s.pending.Done()
				s.releaseDeleted(context.WithoutCancel(ctx), st.class, st.userns)
			}()
		}
	}
	return resp, err
}

// Shutdown lets the releases of deleted containers' user namespace IDs end
// before the shim does, and passes the request on to the delegate shims (a
// delegate exits once it runs nothing). The shim stays while it knows a
// container.
func (s *service) Shutdown(ctx context.Context, r *taskAPI.ShutdownRequest) (*emptypb.Empty, error) {
	s.pending.Wait()
	if err := sandbox.ShutdownDelegates(ctx, r); err != nil {
		log.G(ctx).WithError(err).Warn("shutting delegate shims down")
	}
	s.mu.Lock()
	n := len(s.containers)
	s.mu.Unlock()
	if n > 0 {
		return &emptypb.Empty{}, nil
	}
	return s.TTRPCTaskService.Shutdown(ctx, r)
}

// Pause and Resume go to the runc task service unless the container's backend
// cannot do them for this container as runc would.
func (s *service) Pause(ctx context.Context, r *taskAPI.PauseRequest) (*emptypb.Empty, error) {
	if err := s.unsupported(r.ID, "pause"); err != nil {
		return nil, err
	}
	return s.taskFor(r.ID).Pause(ctx, r)
}

func (s *service) Resume(ctx context.Context, r *taskAPI.ResumeRequest) (*emptypb.Empty, error) {
	if err := s.unsupported(r.ID, "resume"); err != nil {
		return nil, err
	}
	return s.taskFor(r.ID).Resume(ctx, r)
}

// unsupported asks the container's backend whether it can do op for it.
func (s *service) unsupported(id, op string) error {
	st, backend, err := s.backendOf(id)
	if st == nil {
		return err // nil: the runc task service answers for containers the shim does not know
	}
	if err := backend.Unsupported(op, st.isApp()); err != nil {
		return errgrpc.ToGRPC(err)
	}
	return nil
}

// Stats reports a container's metrics; the backend measures the ones it runs
// itself (a gVisor pod's app containers), the runc task service the rest.
func (s *service) Stats(ctx context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	st, backend, err := s.backendOf(r.ID)
	if st == nil {
		if err != nil {
			return nil, err
		}
		return s.taskFor(r.ID).Stats(ctx, r)
	}
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	m, handled, err := backend.AppStats(st.class, ns, r.ID, st.isApp())
	if !handled {
		return s.taskFor(r.ID).Stats(ctx, r)
	}
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	a, err := typeurl.MarshalAnyToProto(m)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &taskAPI.StatsResponse{Stats: a}, nil
}

// backendOf returns what Create recorded of a container and its class's
// backend; st is nil (with a nil error) for a container the shim does not
// know.
func (s *service) backendOf(id string) (*containerState, sandbox.Backend, error) {
	st, err := s.container(id)
	if err != nil {
		return nil, nil, nil
	}
	backend, err := sandbox.For(st.class)
	if err != nil {
		return nil, nil, errgrpc.ToGRPC(err)
	}
	return st, backend, nil
}

// container returns what Create recorded of a container.
func (s *service) container(id string) (*containerState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.containers[id]
	if !ok {
		return nil, errgrpc.ToGRPC(fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound))
	}
	return st, nil
}

// roundTrip deep-copies src into dst through JSON.
func roundTrip(src, dst any) error {
	b, err := json.Marshal(src)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

// compactExecChanges shortens the audit record of an exec hardened to
// exactly its container's hardened privileges (what every CRI exec is: CRI
// copies the container's process as created): the full from/to lists are in
// the container's create record, and an exec probe every second would
// otherwise write them ~86,400 times a day.
func compactExecChanges(changes []harden.Change, exec *specs.Process, spec *specs.Spec) []harden.Change {
	if len(changes) == 0 || spec == nil || spec.Process == nil {
		return changes
	}
	c := spec.Process
	if exec.NoNewPrivileges != c.NoNewPrivileges || !reflect.DeepEqual(exec.Capabilities, c.Capabilities) {
		return changes
	}
	fields := make([]string, len(changes))
	for i, ch := range changes {
		fields[i] = ch.Field
	}
	return []harden.Change{{Field: strings.Join(fields, ", "), From: "the container's process as created",
		To: "the container's hardened process (see its create record)"}}
}

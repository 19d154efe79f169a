// Package sandbox maps a runtime class onto the OCI runtime that runs its
// containers, expressed as the options containerd's runc task service takes.
package sandbox

import (
	"fmt"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// Backend drives one kind of OCI runtime through the runc task service.
type Backend interface {
	// Name is the backend's name as written in the class config.
	Name() string
	// RuncOptions returns the options the runc task service and manager use
	// for containers of class c.
	RuncOptions(c *runtimeclass.Class) *runcoptions.Options
	// Check verifies, before anything of the pod exists, that this node can
	// run class c's containers as the class says (binaries, flags).
	Check(c *runtimeclass.Class) error
	// Prepare readies the node for class c's containers (idempotent); it runs
	// before the runc task service creates one.
	Prepare(c *runtimeclass.Class) error
	// AppStats returns the metrics of container id (app: an app container of a
	// pod) when the backend measures it itself (handled), else handled is false
	// and the runc task service reads its cgroup.
	AppStats(c *runtimeclass.Class, namespace, id string, app bool) (metrics any, handled bool, err error)
	// Unsupported says why the backend cannot do task operation op ("pause",
	// "resume") on a container (app: an app container of a pod) as runc
	// would, or returns nil.
	Unsupported(op string, app bool) error
	// Gaps lists what of spec the backend would silently run differently from
	// runc; each is refused (check BackendCheckID) before anything starts.
	Gaps(spec *specs.Spec) []policy.Violation
	// FailedCreate removes what a create that failed midway left on the node
	// for a container of spec: runc killed after it made the container's
	// cgroup leaves the cgroup, which its own delete (it saved no state)
	// cannot find.
	FailedCreate(c *runtimeclass.Class, spec *specs.Spec) error
}

// BackendCheckID names the refusals of what a class's backend cannot give.
const BackendCheckID = "backend"

// For returns the backend of a class.
func For(c *runtimeclass.Class) (Backend, error) {
	switch c.Runtime {
	case runtimeclass.BackendRunc:
		return runc{}, nil
	case runtimeclass.BackendRunsc:
		return runsc{}, nil
	case runtimeclass.BackendKata:
		return kata{}, nil
	default:
		return nil, fmt.Errorf("runtime class %q: backend %q is not supported by this build", c.Name(), c.Runtime)
	}
}

// runc runs containers with runc (or any runc-compatible CLI).
type runc struct{}

func (runc) Name() string { return runtimeclass.BackendRunc }

func (runc) Check(*runtimeclass.Class) error   { return nil }
func (runc) Prepare(*runtimeclass.Class) error { return nil }

func (runc) Unsupported(string, bool) error { return nil }

func (runc) Gaps(*specs.Spec) []policy.Violation { return nil }

func (runc) FailedCreate(c *runtimeclass.Class, spec *specs.Spec) error {
	return removeEmptyCgroup(c, spec)
}

func (runc) AppStats(*runtimeclass.Class, string, string, bool) (any, bool, error) {
	return nil, false, nil
}

func (runc) RuncOptions(c *runtimeclass.Class) *runcoptions.Options {
	return &runcoptions.Options{
		BinaryName:    c.BinaryName,
		Root:          c.Root,
		SystemdCgroup: c.SystemdCgroup,
		ShimCgroup:    c.ShimCgroup,
		IoUid:         c.IoUID,
		IoGid:         c.IoGID,
	}
}

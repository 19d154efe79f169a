//go:build linux

package shim

import (
	"context"
	"fmt"
	"sync"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// service wraps containerd's runc task service. Every call it does not
// override goes to runc unchanged; Create resolves the container's class and
// translates its options.
type service struct {
	taskAPI.TTRPCTaskService

	mu      sync.Mutex
	classes map[string]*runtimeclass.Class
}

// newService wraps a runc task service.
func newService(runc taskAPI.TTRPCTaskService) *service {
	return &service{TTRPCTaskService: runc, classes: make(map[string]*runtimeclass.Class)}
}

// RegisterTTRPC registers the wrapper, not the wrapped service, so that
// containerd's calls reach the overrides.
func (s *service) RegisterTTRPC(server *ttrpc.Server) error {
	taskAPI.RegisterTTRPCTaskService(server, s)
	return nil
}

// Create resolves the class from the request's runtime options and hands the
// runc task service runc options.
func (s *service) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (*taskAPI.CreateTaskResponse, error) {
	class, err := runtimeclass.FromAny(r.Options, r.Bundle)
	if err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err))
	}
	opts, err := runcOptionsAny(class)
	if err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err))
	}
	r.Options = opts
	log.G(ctx).WithFields(log.Fields{"id": r.ID, "class": class.Name(), "source": class.Source}).Debug("create")
	resp, err := s.TTRPCTaskService.Create(ctx, r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.classes[r.ID] = class
	s.mu.Unlock()
	return resp, nil
}

// Delete forgets a deleted container's class.
func (s *service) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	resp, err := s.TTRPCTaskService.Delete(ctx, r)
	if err == nil && r.ExecID == "" {
		s.mu.Lock()
		delete(s.classes, r.ID)
		s.mu.Unlock()
	}
	return resp, err
}

// class returns the class a container was created with.
func (s *service) class(id string) (*runtimeclass.Class, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.classes[id]
	return c, ok
}

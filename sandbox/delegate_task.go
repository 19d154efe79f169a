//go:build linux

package sandbox

import (
	"context"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// remoteTask is a delegate shim's task service, as a client. Task API
// versions 2 (shims built on containerd 1.x, Kata's) and 3 have the same
// messages under another service name, so one client speaks both.
type remoteTask struct {
	client  *ttrpc.Client
	service string
}

var _ taskAPI.TTRPCTaskService = (*remoteTask)(nil)

func newRemoteTask(c *ttrpc.Client, version int32) *remoteTask {
	service := "containerd.task.v3.Task"
	if version == 2 {
		service = "containerd.task.v2.Task"
	}
	return &remoteTask{client: c, service: service}
}

// call forwards one request and returns its response, or nil and the
// delegate's error as it sent it.
func call[Resp any](ctx context.Context, t *remoteTask, method string, req any) (*Resp, error) {
	var resp Resp
	if err := t.client.Call(ctx, t.service, method, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

func (t *remoteTask) State(ctx context.Context, r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	return call[taskAPI.StateResponse](ctx, t, "State", r)
}

func (t *remoteTask) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (*taskAPI.CreateTaskResponse, error) {
	return call[taskAPI.CreateTaskResponse](ctx, t, "Create", r)
}

func (t *remoteTask) Start(ctx context.Context, r *taskAPI.StartRequest) (*taskAPI.StartResponse, error) {
	return call[taskAPI.StartResponse](ctx, t, "Start", r)
}

func (t *remoteTask) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	return call[taskAPI.DeleteResponse](ctx, t, "Delete", r)
}

func (t *remoteTask) Pids(ctx context.Context, r *taskAPI.PidsRequest) (*taskAPI.PidsResponse, error) {
	return call[taskAPI.PidsResponse](ctx, t, "Pids", r)
}

func (t *remoteTask) Pause(ctx context.Context, r *taskAPI.PauseRequest) (*emptypb.Empty, error) {
	return call[emptypb.Empty](ctx, t, "Pause", r)
}

func (t *remoteTask) Resume(ctx context.Context, r *taskAPI.ResumeRequest) (*emptypb.Empty, error) {
	return call[emptypb.Empty](ctx, t, "Resume", r)
}

func (t *remoteTask) Checkpoint(ctx context.Context, r *taskAPI.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return call[emptypb.Empty](ctx, t, "Checkpoint", r)
}

func (t *remoteTask) Kill(ctx context.Context, r *taskAPI.KillRequest) (*emptypb.Empty, error) {
	return call[emptypb.Empty](ctx, t, "Kill", r)
}

func (t *remoteTask) Exec(ctx context.Context, r *taskAPI.ExecProcessRequest) (*emptypb.Empty, error) {
	return call[emptypb.Empty](ctx, t, "Exec", r)
}

func (t *remoteTask) ResizePty(ctx context.Context, r *taskAPI.ResizePtyRequest) (*emptypb.Empty, error) {
	return call[emptypb.Empty](ctx, t, "ResizePty", r)
}

func (t *remoteTask) CloseIO(ctx context.Context, r *taskAPI.CloseIORequest) (*emptypb.Empty, error) {
	return call[emptypb.Empty](ctx, t, "CloseIO", r)
}

func (t *remoteTask) Update(ctx context.Context, r *taskAPI.UpdateTaskRequest) (*emptypb.Empty, error) {
	return call[emptypb.Empty](ctx, t, "Update", r)
}

func (t *remoteTask) Wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	return call[taskAPI.WaitResponse](ctx, t, "Wait", r)
}

func (t *remoteTask) Stats(ctx context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	return call[taskAPI.StatsResponse](ctx, t, "Stats", r)
}

func (t *remoteTask) Connect(ctx context.Context, r *taskAPI.ConnectRequest) (*taskAPI.ConnectResponse, error) {
	return call[taskAPI.ConnectResponse](ctx, t, "Connect", r)
}

func (t *remoteTask) Shutdown(ctx context.Context, r *taskAPI.ShutdownRequest) (*emptypb.Empty, error) {
	return call[emptypb.Empty](ctx, t, "Shutdown", r)
}

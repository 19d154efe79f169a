//go:build linux

package shim

import (
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task"
	cshim "github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
)

// Register adds the shim's task service to the shim library's plugin
// registry. It replaces containerd's runc task plugin (whose package must not
// be imported: both use the plugin ID "task").
func Register() {
	registry.Register(&plugin.Registration{
		Type: plugins.TTRPCPlugin,
		ID:   "task",
		Requires: []plugin.Type{
			plugins.EventPlugin,
			plugins.InternalPlugin,
		},
		InitFn: func(ic *plugin.InitContext) (any, error) {
			pp, err := ic.GetByID(plugins.EventPlugin, "publisher")
			if err != nil {
				return nil, err
			}
			ss, err := ic.GetByID(plugins.InternalPlugin, "shutdown")
			if err != nil {
				return nil, err
			}
			runc, err := task.NewTaskService(ic.Context, pp.(cshim.Publisher), ss.(shutdown.Service))
			if err != nil {
				return nil, err
			}
			// a delegating class's delegate starts while containerd connects
			go prestartDelegate(ic.Context)
			return newService(runc), nil
		},
	})
}

var _ taskAPI.TTRPCTaskService = (*service)(nil)

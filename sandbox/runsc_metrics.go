package sandbox

import (
	"github.com/containerd/cgroups/v3"
	cgroupsv1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroupsv2 "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// runscMetrics turns runsc's stats into the metrics type the runc task service reports on
// this host's cgroup version, so that clients read a gVisor container like any other.
func runscMetrics(ev *runscEvent) any {
	d := &ev.Data
	if cgroups.Mode() == cgroups.Unified {
		return &cgroupsv2.Metrics{
			Pids: &cgroupsv2.PidsStat{Current: d.Pids.Current, Limit: d.Pids.Limit},
			CPU: &cgroupsv2.CPUStat{UsageUsec: d.CPU.Usage.Total / 1000, UserUsec: d.CPU.Usage.User / 1000,
				SystemUsec: d.CPU.Usage.Kernel / 1000},
			Memory: &cgroupsv2.MemoryStat{Usage: d.Memory.Usage.Usage, UsageLimit: d.Memory.Usage.Limit,
				MaxUsage: d.Memory.Usage.Max, SwapUsage: d.Memory.Swap.Usage, SwapLimit: d.Memory.Swap.Limit,
				File: d.Memory.Cache},
		}
	}
	return &cgroupsv1.Metrics{
		Pids: &cgroupsv1.PidsStat{Current: d.Pids.Current, Limit: d.Pids.Limit},
		CPU: &cgroupsv1.CPUStat{Usage: &cgroupsv1.CPUUsage{Total: d.CPU.Usage.Total, Kernel: d.CPU.Usage.Kernel,
			User: d.CPU.Usage.User, PerCPU: d.CPU.Usage.PerCPU}},
		Memory: &cgroupsv1.MemoryStat{Cache: d.Memory.Cache,
			Usage: &cgroupsv1.MemoryEntry{Usage: d.Memory.Usage.Usage, Limit: d.Memory.Usage.Limit, Max: d.Memory.Usage.Max, Failcnt: d.Memory.Usage.Failcnt},
			Swap:  &cgroupsv1.MemoryEntry{Usage: d.Memory.Swap.Usage, Limit: d.Memory.Swap.Limit, Max: d.Memory.Swap.Max, Failcnt: d.Memory.Swap.Failcnt}},
	}
}

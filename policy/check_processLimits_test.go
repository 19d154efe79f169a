package policy

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rlimitHost is a fakeHost whose shim runs with the given hard limits.
type rlimitHost struct {
	*fakeHost
	hard map[string]uint64
}

func (h rlimitHost) Rlimit(r string) (uint64, bool) { v, ok := h.hard[r]; return v, ok }

func TestProcessLimits(t *testing.T) {
	i := func(v int) *int { return &v }
	for _, tc := range []struct {
		name   string
		mutate func(p *specs.Process)
		reason string // "" for allowed
	}{
		{"ctr's default NOFILE", func(p *specs.Process) {}, ""},
		{"lower NOFILE", func(p *specs.Process) { p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 64, Soft: 64}} }, ""},
		{"NOFILE above the shim's", func(p *specs.Process) {
			p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 30, Soft: 1 << 30}}
		}, "above the 20000 the runtime itself runs with"},
		{"realtime priority limit", func(p *specs.Process) { p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_RTPRIO", Hard: 99, Soft: 99}} }, "RLIMIT_RTPRIO"},
		{"unlimited locked memory", func(p *specs.Process) {
			p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_MEMLOCK", Hard: ^uint64(0), Soft: ^uint64(0)}}
		}, "RLIMIT_MEMLOCK"},
		{"unknown rlimit", func(p *specs.Process) { p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}} }, "not a Linux resource limit"},
		{"SCHED_FIFO", func(p *specs.Process) { p.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO, Priority: 99} }, "realtime policy"},
		{"SCHED_DEADLINE", func(p *specs.Process) { p.Scheduler = &specs.Scheduler{Policy: specs.SchedDeadline} }, "realtime policy"},
		{"negative nice", func(p *specs.Process) { p.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Nice: -20} }, "nice -20"},
		{"SCHED_BATCH with nice 10", func(p *specs.Process) { p.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 10} }, ""},
		{"realtime I/O class", func(p *specs.Process) { p.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_RT} }, "realtime I/O class"},
		{"best-effort I/O", func(p *specs.Process) {
			p.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 4}
		}, ""},
		{"OOM-unkillable", func(p *specs.Process) { p.OOMScoreAdj = i(-1000) }, "below kubelet's lowest"},
		{"guaranteed pod's pause", func(p *specs.Process) { p.OOMScoreAdj = i(-998) }, ""},
		{"best-effort", func(p *specs.Process) { p.OOMScoreAdj = i(1000) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := rlimitHost{newFakeHost(), map[string]uint64{"RLIMIT_NOFILE": 20000, "RLIMIT_RTPRIO": 0, "RLIMIT_MEMLOCK": 8 << 20}}
			s := criContainer(t, h.fakeHost)
			tc.mutate(s.Process)
			var vs []Violation
			for _, v := range evaluate(s, h, nil) {
				if v.Check == "processLimits" {
					vs = append(vs, v)
				}
			}
			if tc.reason == "" {
				if len(vs) != 0 {
					t.Fatalf("violations %v", vs)
				}
				return
			}
			if len(vs) != 1 || !strings.Contains(vs[0].Reason, tc.reason) {
				t.Fatalf("violations %v, want one with %q", vs, tc.reason)
			}
			// An exec may not carry them either.
			c := criContainer(t, h.fakeHost).Process
			if evs := EvaluateExecOn(h, c, s.Process); len(evs) == 0 || evs[0].Check != ExecCheckID {
				t.Fatalf("exec with the same settings: %v", evs)
			}
		})
	}
	t.Run("fallback ceilings without the host's limits", func(t *testing.T) {
		h := newFakeHost()
		s := criContainer(t, h)
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_RTPRIO", Hard: 1, Soft: 1}}
		if vs := evaluate(s, h, nil); checkIDs(vs) != "processLimits" {
			t.Fatalf("violations %v", vs)
		}
	})
	t.Run("exec lowers the OOM score", func(t *testing.T) {
		c, e := criContainer(t, newFakeHost()).Process, criContainer(t, newFakeHost()).Process
		c.OOMScoreAdj, e.OOMScoreAdj = i(500), i(-500)
		if vs := EvaluateExecOn(newFakeHost(), c, e); len(vs) != 1 || vs[0].Field != "process.oomScoreAdj" {
			t.Fatalf("violations %v", vs)
		}
	})
}

func TestLinuxLimits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(l *specs.Linux)
		reason string
	}{
		{"closID alone", func(l *specs.Linux) { l.IntelRdt = &specs.LinuxIntelRdt{ClosID: "gold"} }, ""},
		{"own group's schemata", func(l *specs.Linux) { l.IntelRdt = &specs.LinuxIntelRdt{L3CacheSchema: "L3:0=f"} }, ""},
		{"another group's schemata", func(l *specs.Linux) {
			l.IntelRdt = &specs.LinuxIntelRdt{ClosID: "system", Schemata: []string{"L3:0=1"}}
		}, "does not own"},
		{"closID path", func(l *specs.Linux) { l.IntelRdt = &specs.LinuxIntelRdt{ClosID: "../info"} }, "not a resctrl group name"},
		{"LINUX", func(l *specs.Linux) { l.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux} }, ""},
		{"LINUX32", func(l *specs.Linux) { l.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32} }, "only the plain LINUX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost()
			s := criContainer(t, h)
			tc.mutate(s.Linux)
			var vs []Violation
			for _, v := range evaluate(s, h, nil) {
				if v.Check == "processLimits" {
					vs = append(vs, v)
				}
			}
			if tc.reason == "" {
				if len(vs) != 0 {
					t.Fatalf("violations %v", vs)
				}
				return
			}
			if len(vs) != 1 || !strings.Contains(vs[0].Reason, tc.reason) || vs[0].Hint == "" {
				t.Fatalf("violations %v, want one with %q and a hint", vs, tc.reason)
			}
		})
	}
}

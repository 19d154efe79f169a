package policy

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	register(Check{
		ID: "processLimits",
		Description: "Process settings runc applies as the node's root that kubelet never sends: rlimits above what the shim itself runs with " +
			"(what a container without rlimits inherits), a realtime scheduling policy or a negative nice value, a realtime I/O priority class, " +
			"and an oomScoreAdj below kubelet's lowest (-998), which would make the process the last one the OOM killer takes; " +
			"Intel RDT schemata written to a resctrl group the container does not own, and a personality other than plain LINUX.",
		Evaluate: func(in *Input) []Violation {
			var vs []Violation
			if in.Spec.Process != nil {
				vs = processLimits(in.Host, "process", in.Spec.Process)
			}
			return append(vs, linuxLimits(in)...)
		},
	})
}

// MinOOMScoreAdj is the lowest oomScoreAdj kubelet gives a container (the
// pause container of a guaranteed pod, -998); -999 and -1000 are kubelet's
// and the kernel's own.
const MinOOMScoreAdj = -998

// RlimitHost is implemented by hosts that know the shim's own resource
// limits. NodeHost does; others get conservative ceilings.
type RlimitHost interface {
	// Rlimit returns the shim's hard limit of an RLIMIT_* resource.
	Rlimit(resource string) (hard uint64, ok bool)
}

// rlimitResources maps the OCI names runc accepts to Linux resource numbers.
var rlimitResources = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": 10,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15, "RLIMIT_SIGPENDING": 11, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// fallbackRlimits are the ceilings used when the host cannot say its own:
// no realtime priority, no nice raise, 8 MiB of locked memory, no core files.
var fallbackRlimits = map[string]uint64{"RLIMIT_RTPRIO": 0, "RLIMIT_NICE": 0, "RLIMIT_MEMLOCK": 8 << 20, "RLIMIT_CORE": 0}

func (NodeHost) Rlimit(resource string) (uint64, bool) {
	r, ok := rlimitResources[resource]
	if !ok {
		return 0, false
	}
	var l unix.Rlimit
	if err := unix.Getrlimit(r, &l); err != nil {
		return 0, false
	}
	return l.Max, true
}

// processLimits judges the settings of one process (the container's or an
// exec's); field prefixes the field names.
func processLimits(h Host, field string, p *specs.Process) []Violation {
	var vs []Violation
	add := func(f, value, reason string) {
		vs = append(vs, Violation{Check: "processLimits", Field: field + "." + f, Value: value, Reason: reason})
	}
	for i, r := range p.Rlimits {
		name := strings.ToUpper(r.Type)
		f := fmt.Sprintf("rlimits[%d]", i)
		if _, ok := rlimitResources[name]; !ok {
			add(f+".type", truncate(r.Type, 64), fmt.Sprintf("%s.%s.type %q is not a Linux resource limit", field, f, truncate(r.Type, 64)))
			continue
		}
		ceiling, ok := uint64(0), false
		if rh, is := h.(RlimitHost); is {
			ceiling, ok = rh.Rlimit(name)
		}
		if !ok {
			if ceiling, ok = fallbackRlimits[name]; !ok {
				continue
			}
		}
		if r.Hard > ceiling || r.Soft > ceiling {
			add(f, fmt.Sprintf("%s soft %d hard %d", name, r.Soft, r.Hard),
				fmt.Sprintf("%s.%s raises %s to soft %d / hard %d, above the %d the runtime itself runs with", field, f, name, r.Soft, r.Hard, ceiling))
		}
	}
	if s := p.Scheduler; s != nil {
		realtime := false
		switch s.Policy {
		case specs.SchedFIFO, specs.SchedRR, specs.SchedDeadline:
			realtime = true
			add("scheduler.policy", string(s.Policy), fmt.Sprintf("%s.scheduler.policy %s is a realtime policy: the process could starve the node's CPUs", field, s.Policy))
		}
		if s.Nice < 0 {
			add("scheduler.nice", fmt.Sprint(s.Nice), fmt.Sprintf("%s.scheduler.nice %d raises the process's priority above ordinary processes", field, s.Nice))
		}
		// A priority is only meaningful (and only accepted by the kernel)
		// with a realtime policy, which is refused above already.
		if s.Priority != 0 && !realtime {
			add("scheduler.priority", fmt.Sprint(s.Priority), fmt.Sprintf("%s.scheduler.priority %d is a realtime priority", field, s.Priority))
		}
	}
	if io := p.IOPriority; io != nil && io.Class == specs.IOPRIO_CLASS_RT {
		add("ioPriority.class", string(io.Class), fmt.Sprintf("%s.ioPriority.class %s is the realtime I/O class: the process could starve the node's disks", field, io.Class))
	}
	if p.OOMScoreAdj != nil && *p.OOMScoreAdj < MinOOMScoreAdj {
		add("oomScoreAdj", fmt.Sprint(*p.OOMScoreAdj), fmt.Sprintf("%s.oomScoreAdj %d is below kubelet's lowest (%d): the OOM killer would take node processes first", field, *p.OOMScoreAdj, MinOOMScoreAdj))
	}
	return vs
}

// linuxLimits judges the node-wide settings runc applies from linux.*: Intel
// RDT (runc writes the schemata into /sys/fs/resctrl/<closID>, a group other
// processes may be in: with a closID naming an existing group, the container
// would rewrite that group's cache and memory-bandwidth limits) and the
// execution domain.
func linuxLimits(in *Input) []Violation {
	l := in.Spec.Linux
	if l == nil {
		return nil
	}
	var vs []Violation
	add := func(f, value, reason string) {
		vs = append(vs, Violation{Check: "processLimits", Field: f, Value: truncate(value, 256), Reason: reason})
	}
	if r := l.IntelRdt; r != nil {
		schemata := len(r.Schemata) > 0 || r.L3CacheSchema != "" || r.MemBwSchema != ""
		switch {
		case strings.ContainsAny(r.ClosID, "/\x00") || r.ClosID == "." || r.ClosID == "..":
			add("linux.intelRdt.closID", r.ClosID, fmt.Sprintf("linux.intelRdt.closID %q is not a resctrl group name", truncate(r.ClosID, 128)))
		case schemata && r.ClosID != "" && r.ClosID != in.ID:
			add("linux.intelRdt.closID", r.ClosID, fmt.Sprintf("linux.intelRdt sets schemata for resctrl group %q, which the container does not own: runc would rewrite the cache and memory-bandwidth limits of every process in it", truncate(r.ClosID, 128)))
		}
	}
	if p := l.Personality; p != nil && (p.Domain != specs.PerLinux || len(p.Flags) > 0) {
		add("linux.personality", fmt.Sprintf("%s %v", p.Domain, p.Flags), fmt.Sprintf("linux.personality %s %v: only the plain LINUX execution domain is allowed (the class's seccomp profile refuses 32-bit system calls anyway)", truncate(string(p.Domain), 64), p.Flags))
	}
	return vs
}

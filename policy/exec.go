package policy

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExecCheckID is the check ID of exec refusals (the admission plugin
// DenyEscalatingExec, done at the node against the container's real spec).
const ExecCheckID = "execEscalation"

// UsernsCheckID is the check ID of user namespace refusals (made by the shim,
// which owns the ID allocator).
const UsernsCheckID = "userNamespace"

// EvaluateExec compares an exec process with its container's process and
// returns every way the exec would hold more privilege than the container.
func EvaluateExec(container *specs.Process, exec *specs.Process) []Violation {
	return EvaluateExecOn(NodeHost{}, container, exec)
}

// EvaluateExecOn is EvaluateExec against a given host (for its limits).
func EvaluateExecOn(host Host, container *specs.Process, exec *specs.Process) []Violation {
	if exec == nil {
		return []Violation{{Check: ExecCheckID, Field: "process", Value: "null", Reason: "the exec request has no process"}}
	}
	if container == nil {
		container = &specs.Process{}
	}
	var vs []Violation
	add := func(field, value, reason string) {
		vs = append(vs, Violation{Check: ExecCheckID, Field: field, Value: value, Reason: reason})
	}
	var cc, ec []namedCaps
	if container.Capabilities != nil {
		cc = capabilitySets(container.Capabilities)
	} else {
		cc = capabilitySets(&specs.LinuxCapabilities{})
	}
	if exec.Capabilities != nil {
		ec = capabilitySets(exec.Capabilities)
	}
	for i, set := range ec {
		if extra := newCapSet(set.caps).beyond(newCapSet(cc[i].caps)); len(extra) > 0 {
			add("process.capabilities."+set.name, fmt.Sprint(extra),
				fmt.Sprintf("exec process.capabilities.%s holds %s, which the container does not", set.name, quoteList(extra)))
		}
	}
	if container.NoNewPrivileges && !exec.NoNewPrivileges {
		add("process.noNewPrivileges", "false", "exec clears noNewPrivileges, which the container sets (allowPrivilegeEscalation)")
	}
	if exec.User.UID == 0 && container.User.UID != 0 {
		add("process.user.uid", "0", fmt.Sprintf("exec runs as uid 0, the container as uid %d", container.User.UID))
	}
	// Groups are privilege too: gid 0 or a supplementary group the
	// container's process does not hold opens files that group owns.
	if exec.User.GID == 0 && container.User.GID != 0 {
		add("process.user.gid", "0", fmt.Sprintf("exec runs as gid 0, the container as gid %d", container.User.GID))
	}
	have := map[uint32]bool{container.User.GID: true}
	for _, g := range container.User.AdditionalGids {
		have[g] = true
	}
	var extra []string
	for _, g := range exec.User.AdditionalGids {
		if !have[g] {
			extra = append(extra, fmt.Sprint(g))
		}
	}
	if len(extra) > 0 {
		add("process.user.additionalGids", fmt.Sprint(extra),
			fmt.Sprintf("exec adds supplementary group(s) %s, which the container's process does not have", quoteList(extra)))
	}
	// An empty profile or label in an exec inherits the container's (runc).
	if exec.ApparmorProfile == "unconfined" && container.ApparmorProfile != "unconfined" && container.ApparmorProfile != "" {
		add("process.apparmorProfile", fmt.Sprintf("%q", exec.ApparmorProfile),
			fmt.Sprintf("exec drops the container's AppArmor profile %q", container.ApparmorProfile))
	}
	if exec.SelinuxLabel != "" && exec.SelinuxLabel != container.SelinuxLabel && container.SelinuxLabel != "" {
		add("process.selinuxLabel", exec.SelinuxLabel,
			fmt.Sprintf("exec changes the SELinux label from %q", container.SelinuxLabel))
	}
	// rlimits, scheduler, I/O priority and OOM score: the same ceilings as
	// the container's process, and an exec may not lower its OOM score
	// below the container's.
	for _, v := range processLimits(host, "process", exec) {
		v.Check = ExecCheckID
		vs = append(vs, v)
	}
	if exec.OOMScoreAdj != nil && container.OOMScoreAdj != nil && *exec.OOMScoreAdj < *container.OOMScoreAdj {
		add("process.oomScoreAdj", fmt.Sprint(*exec.OOMScoreAdj), fmt.Sprintf("exec lowers oomScoreAdj to %d, below the container's %d", *exec.OOMScoreAdj, *container.OOMScoreAdj))
	}
	for _, v := range procFdCwd("process.cwd", exec.Cwd) {
		v.Check = ExecCheckID
		vs = append(vs, v)
	}
	return withHints(vs, &hintContext{container: container})
}

// Package policy evaluates a container's final OCI spec (and its exec and
// update requests) against Pod-Security-grade checks and names every violation.
//
// The layout follows Kubernetes' pod-security-admission: one file per check
// (check_<id>.go), a registry, and messages that name the container and the
// field. Check IDs are Pod Security Admission's where one exists.
package policy

import (
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CRI annotations containerd puts on every spec it generates.
const (
	AnnotationContainerType = "io.kubernetes.cri.container-type"
	AnnotationContainerName = "io.kubernetes.cri.container-name"
	AnnotationSandboxID     = "io.kubernetes.cri.sandbox-id"
	AnnotationSandboxName   = "io.kubernetes.cri.sandbox-name"
	AnnotationSandboxUID    = "io.kubernetes.cri.sandbox-uid"

	ContainerTypeSandbox   = "sandbox"
	ContainerTypeContainer = "container"
)

// Violation is one reason a spec is refused.
type Violation struct {
	// Check is the check ID, e.g. "hostPathVolumes".
	Check string `json:"check"`
	// Field is the spec field, e.g. `mounts["/data"].source`.
	Field string `json:"field"`
	// Value is the offending value.
	Value string `json:"value"`
	// Reason says what is wrong, in words a workload owner understands.
	Reason string `json:"reason"`
	// Hint says how to fix it: the pod field to change, or the class key a
	// node admin could extend (hints.go).
	Hint string `json:"hint,omitempty"`
}

// String formats a violation as "<check>: <reason>", followed by
// " (fix: <hint>)" when it has a hint.
func (v Violation) String() string {
	if v.Hint == "" {
		return v.Check + ": " + v.Reason
	}
	return v.Check + ": " + v.Reason + " (fix: " + v.Hint + ")"
}

// Check is one registered check.
type Check struct {
	// ID is the check ID used in messages, the audit log and configuration.
	ID string
	// Description says what the check refuses, for documentation.
	Description string
	// Evaluate returns the violations of a spec.
	Evaluate func(*Input) []Violation
}

var registry = map[string]Check{}

// register adds a check; each check file calls it from init.
func register(c Check) {
	if _, dup := registry[c.ID]; dup {
		panic("policy: duplicate check " + c.ID)
	}
	registry[c.ID] = c
}

// Checks returns the registered checks sorted by ID.
func Checks() []Check {
	out := make([]Check, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Input is what a check looks at: the spec, the container's identity, the
// class's policy options and the node.
type Input struct {
	Spec *specs.Spec
	// ID is containerd's container (or sandbox) ID.
	ID string
	// StateDir is containerd's state directory (derived from the bundle path).
	StateDir string
	// Bundle is the container's bundle directory, where its root must be.
	Bundle string
	// SandboxPID is the init process of the pod sandbox the container
	// belongs to, as the shim serving the pod knows it; 0 when the container
	// belongs to no pod sandbox the shim serves (then it may join no
	// namespace by path).
	SandboxPID int
	// SandboxUID is the pod UID of that pod sandbox, from the spec the shim
	// created it with; SandboxCgroup its linux.cgroupsPath.
	SandboxUID    string
	SandboxCgroup string
	Options       *Options
	Host          Host
	// allowlisted holds the indices of the bind mounts the hostPathVolumes
	// check admitted through policy.allowed_host_paths (AllowlistedMounts).
	allowlisted []int
	// podPrivate holds the bind mounts the check found to be the pod's own
	// writable storage (PodPrivateMounts).
	podPrivate []PrivateMount
}

// IsSandbox reports whether the spec is a CRI pod sandbox (pause container).
func (in *Input) IsSandbox() bool {
	return in.annotation(AnnotationContainerType) == ContainerTypeSandbox
}

// IsCRI reports whether the spec carries containerd CRI's annotations.
func (in *Input) IsCRI() bool { return in.annotation(AnnotationContainerType) != "" }

// IsAppContainer reports whether the spec is an app container of a CRI pod.
func (in *Input) IsAppContainer() bool { return in.IsCRI() && !in.IsSandbox() }

func (in *Input) annotation(k string) string {
	if in.Spec == nil {
		return ""
	}
	return in.Spec.Annotations[k]
}

// isCRIID reports whether s is containerd CRI's sandbox or container ID
// shape: 64 lower-case hex digits. (Hand-written: the regexp's counted
// repetition compiled to a program held by every shim from its start.)
func isCRIID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isUIDShape reports whether s looks like a Kubernetes pod UID: a UUID, or
// any 1–128 characters of [A-Za-z0-9._-] starting with a letter or digit.
func isUIDShape(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// SandboxID returns the CRI sandbox ID annotation when it is a well-formed
// CRI ID (64 hex digits), else "": it is joined into host paths.
func (in *Input) SandboxID() string {
	if id := in.annotation(AnnotationSandboxID); isCRIID(id) {
		return id
	}
	return ""
}

// PodUID returns the CRI pod UID annotation when it is a single safe path
// element (no "/", not "." or ".."), else "": it is joined into host paths.
func (in *Input) PodUID() string {
	if uid := in.annotation(AnnotationSandboxUID); isUIDShape(uid) && uid != "." && uid != ".." && !strings.Contains(uid, "..") {
		return uid
	}
	return ""
}

// OwnSandboxID returns the pod sandbox whose containerd-managed files (hosts,
// resolv.conf, shm, image volumes) the container may mount: a pod sandbox's
// own ID, or for an app container the sandbox the shim serves it in. Any
// other sandbox-id annotation is a claim a raw client can copy, and grants
// nothing.
func (in *Input) OwnSandboxID() string {
	id := in.SandboxID()
	switch {
	case id == "":
		return ""
	case in.IsSandbox():
		if id == in.ID {
			return id
		}
		return ""
	case in.SandboxPID > 0:
		return id
	}
	return ""
}

// OwnPodUID returns the pod UID whose kubelet directories (volumes, etc-hosts,
// termination log) the container may mount: an app container's, when it is
// the UID of the pod sandbox the shim serves it in. A pod sandbox gets none
// (kubelet mounts no volume into it), nor does a container of no pod: a
// copied UID annotation grants nothing.
func (in *Input) OwnPodUID() string {
	uid := in.PodUID()
	if uid == "" || in.IsSandbox() || in.SandboxPID <= 0 || uid != in.SandboxUID {
		return ""
	}
	return uid
}

// Subject names the container in messages: `container "app"`, `pod sandbox
// "web-0"` or, outside CRI, `container "<id>"`.
func (in *Input) Subject() string {
	if in.IsSandbox() {
		if n := in.annotation(AnnotationSandboxName); n != "" {
			return fmt.Sprintf("pod sandbox %q", n)
		}
		return fmt.Sprintf("pod sandbox %q", in.ID)
	}
	if n := in.annotation(AnnotationContainerName); n != "" {
		return fmt.Sprintf("container %q", n)
	}
	return fmt.Sprintf("container %q", in.ID)
}

// Evaluate runs every registered check that the options enable and returns
// all violations, in check-ID order.
func Evaluate(in *Input) []Violation {
	in.setDefaults()
	var out []Violation
	for _, c := range Checks() {
		if in.Options.disabled(c.ID) {
			continue
		}
		out = append(out, c.Evaluate(in)...)
	}
	offlineNotes(in, out)
	return withHints(out, &hintContext{in: in})
}

// Message joins violations into the one refusal message: subject, every
// violation, runtime class and mode.
func Message(subject string, vs []Violation, class string, mode Mode) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return fmt.Sprintf("%s refused by %s (runtime class %q, mode %s)", subject, strings.Join(parts, "; "), class, mode)
}

// quote formats a list of strings for messages, bounded in length.
func quoteList(items []string) string {
	const max = 8
	q := make([]string, 0, max+1)
	for i, s := range items {
		if i == max {
			q = append(q, fmt.Sprintf("and %d more", len(items)-max))
			break
		}
		q = append(q, fmt.Sprintf("%q", s))
	}
	return strings.Join(q, ", ")
}

// setDefaults fills in the options and host of an input that has none.
func (in *Input) setDefaults() {
	if in.Options == nil {
		in.Options = DefaultOptions()
	}
	if in.Host == nil {
		in.Host = NodeHost{}
	}
}

// withDefaults returns the input with its defaults filled in.
func (in *Input) withDefaults() *Input {
	in.setDefaults()
	return in
}

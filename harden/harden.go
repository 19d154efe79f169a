// Package harden rewrites an allowed spec according to its runtime class and
// reports every field it changed, from what to what.
package harden

import (
	"context"
	"slices"
	"sync"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
)

// Change is one field the hardening step changed.
type Change struct {
	Field string `json:"field"`
	From  any    `json:"from"`
	To    any    `json:"to"`
}

// Apply hardens spec in place for a class and returns the changes. With
// dryRun (audit mode) the spec is left as it is and the changes are what
// enforce mode would have made.
func Apply(spec *specs.Spec, opts *policy.Options, dryRun bool) []Change {
	var changes []Change
	for _, m := range mutations {
		changes = append(changes, m(spec, opts, dryRun)...)
	}
	return changes
}

type mutation func(spec *specs.Spec, opts *policy.Options, dryRun bool) []Change

// mutations run in order; each reports its own changes.
var mutations = []mutation{restoreProcMasks}

// restoreProcMasks puts containerd's default masked and read-only paths back
// on a spec whose /proc is unmasked (procMount: Unmasked), unless the class
// refuses such specs instead.
func restoreProcMasks(spec *specs.Spec, opts *policy.Options, dryRun bool) []Change {
	if opts.UnmaskedProc != policy.UnmaskedProcRestore || !policy.ProcUnmasked(&policy.Input{Spec: spec}) {
		return nil
	}
	masked, readonly := DefaultProcMasks()
	var fromMasked, fromReadonly []string
	if spec.Linux != nil {
		fromMasked, fromReadonly = spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths
	}
	changes := []Change{
		{Field: "linux.maskedPaths", From: fromMasked, To: masked},
		{Field: "linux.readonlyPaths", From: fromReadonly, To: readonly},
	}
	if !dryRun {
		if spec.Linux == nil {
			spec.Linux = &specs.Linux{}
		}
		spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = masked, readonly
	}
	return changes
}

var defaultMasks = sync.OnceValues(func() ([]string, []string) {
	ctx := namespaces.WithNamespace(context.Background(), "default")
	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "defaults"})
	if err != nil || s.Linux == nil {
		// GenerateSpec only fails on a missing namespace; keep a safe floor.
		return []string{"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
				"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
				"/sys/firmware", "/sys/devices/virtual/powercap", "/proc/scsi"},
			[]string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	}
	return s.Linux.MaskedPaths, s.Linux.ReadonlyPaths
})

// DefaultProcMasks returns containerd's default masked and read-only paths.
func DefaultProcMasks() (masked, readonly []string) {
	m, r := defaultMasks()
	return slices.Clone(m), slices.Clone(r)
}

//go:build linux

package shim

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// Exit codes of the check command.
const (
	CheckAllowed  = 0
	CheckRefused  = 1
	CheckBadInput = 2
)

// RunCheck is `containerd-shim-hardened-v2 check [flags] SPEC.json`: it
// evaluates a spec offline exactly as the shim's Create does and prints the
// verdict, each violation and each change the hardening step makes.
func RunCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "runtime class config file (TOML); default: the built-in defaults")
	stateDir := fs.String("state-dir", "/run/containerd", "containerd's state directory, for containerd-managed mounts")
	id := fs.String("id", "", "container ID (default: the spec file's name)")
	asJSON := fs.Bool("json", false, "print the decision as the audit log's JSON record")
	offline := fs.Bool("offline", false, "judge a spec captured on another node or generated elsewhere: nothing on this machine is looked up; kubelet and containerd paths are classified by their layout under the class's roots and --state-dir, namespace paths by their shape, and what only the node could tell is listed as unverified")
	nodeCaps := fs.String("node-caps", "", "with --offline: the CapBnd mask of the node's containerd (grep CapBnd /proc/$(pidof containerd)/status); default every Linux capability")
	apparmor := fs.Bool("apparmor", false, "with --offline: judge as on a node that enforces AppArmor")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s check [--config FILE] [--state-dir DIR] [--id ID] [--json] [--offline [--node-caps MASK] [--apparmor]] SPEC.json\n\n"+
			"Evaluates an OCI runtime spec (a bundle's config.json) with the shim's checks.\n"+
			"On the node it looks up what the shim would (fails closed); --offline judges a spec from elsewhere.\n"+
			"Exit status: 0 allowed, 1 refused, 2 bad input.\n\n", filepath.Base(os.Args[0]))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return CheckBadInput
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return CheckBadInput
	}
	specPath := fs.Arg(0)
	if !*offline && (*nodeCaps != "" || *apparmor) {
		fmt.Fprintln(stderr, "check: --node-caps and --apparmor need --offline")
		return CheckBadInput
	}
	var host *policy.OfflineHost
	if *offline {
		host = &policy.OfflineHost{AppArmor: *apparmor}
		if *nodeCaps != "" {
			caps, err := policy.CapsFromMask(*nodeCaps)
			if err != nil {
				fmt.Fprintf(stderr, "check: --node-caps %q: not a capability mask (hex, as CapBnd in /proc/<pid>/status): %v\n", *nodeCaps, err)
				return CheckBadInput
			}
			host.NodeCapabilities = caps
		}
	}
	class, err := loadCheckClass(*config, *stateDir)
	if err != nil {
		fmt.Fprintln(stderr, "check:", err)
		return CheckBadInput
	}
	data, err := readLimited(specPath)
	if err != nil {
		fmt.Fprintln(stderr, "check:", err)
		return CheckBadInput
	}
	spec, err := parseSpec(data, specPath)
	if err != nil {
		fmt.Fprintln(stderr, "check:", err)
		return CheckBadInput
	}
	if *id == "" {
		*id = specID(spec, filepath.Base(specPath))
	}
	bundle := filepath.Join(*stateDir, "io.containerd.runtime.v2.task", "check", *id)
	ctx := namespaces.WithNamespace(context.Background(), "check")
	// Offline there is no pod: a spec that joins /proc/<pid>/ns paths is
	// judged as if <pid> were its pod sandbox (the host's namespaces are
	// still refused).
	r := request{id: *id, bundle: bundle, spec: spec,
		sandboxPID: pidOfNamespacePaths(spec), sandboxUID: spec.Annotations[policy.AnnotationSandboxUID]}
	if host != nil {
		r.host = host
	}
	d, err := evaluateSpec(ctx, audit.EventCreate, class, r)
	if err != nil {
		fmt.Fprintln(stderr, "check:", err)
		return CheckBadInput
	}
	if class.PolicyMode() == policy.ModeEnforce {
		notes := previewUserns(ctx, class, d, spec, host != nil)
		if host != nil {
			host.Note(notes...)
		}
	}
	if host != nil {
		d.record.Unverified = host.Notes()
	}
	if *asJSON {
		line, err := audit.Marshal(&d.record)
		if err != nil {
			fmt.Fprintln(stderr, "check:", err)
			return CheckBadInput
		}
		stdout.Write(line)
	} else {
		printDecision(stdout, d)
	}
	if d.refused {
		return CheckRefused
	}
	return CheckAllowed
}

// specID is the container ID a CRI spec was made for: a pod sandbox's is its
// sandbox ID, a container's the last element of its cgroup path (CRI names a
// container's cgroup after its ID: cgroupfs "/k8s.io/<id>", systemd
// "<slice>:cri-containerd:<id>"); else fallback.
func specID(spec *specs.Spec, fallback string) string {
	in := &policy.Input{Spec: spec}
	switch {
	case in.IsSandbox() && in.SandboxID() != "":
		return in.SandboxID()
	case in.IsCRI() && spec.Linux != nil && spec.Linux.CgroupsPath != "":
		cp := spec.Linux.CgroupsPath
		if i := strings.LastIndexByte(cp, ':'); i >= 0 {
			cp = cp[i+1:]
		}
		return filepath.Base(cp)
	}
	return fallback
}

func loadCheckClass(config, stateDir string) (*runtimeclass.Class, error) {
	bundle := filepath.Join(stateDir, "io.containerd.runtime.v2.task", "check", "x")
	if config == "" {
		return runtimeclass.Resolver{Argv0: os.Args[0]}.Node(bundle)
	}
	cfg, err := runtimeclass.Load(config)
	if err != nil {
		return nil, err
	}
	return runtimeclass.New(cfg, config, bundle), nil
}

// readLimited reads a regular file of at most maxSpecBytes (+1, so that the
// parser reports the size). O_NONBLOCK: opening a FIFO must not wait for a
// writer; it is then refused as not a regular file.
func readLimited(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, st.Mode().Type())
	}
	return io.ReadAll(io.LimitReader(f, maxSpecBytes+1))
}

func printDecision(w io.Writer, d *decision) {
	r := d.record
	fmt.Fprintf(w, "%s: %s (runtime class %q, mode %s)\n", r.Subject, r.Decision, r.Class, r.Mode)
	for _, v := range r.Violations {
		fmt.Fprintf(w, "  violation %s: %s\n    field %s = %s\n", v.Check, v.Reason, v.Field, v.Value)
		if v.Hint != "" {
			fmt.Fprintf(w, "    fix: %s\n", v.Hint)
		}
	}
	for _, c := range r.Changes {
		from, _ := json.Marshal(c.From)
		to, _ := json.Marshal(c.To)
		verb := "change"
		if r.Mode == "audit" {
			verb = "would change"
		}
		fmt.Fprintf(w, "  %s %s: %s -> %s\n", verb, c.Field, from, to)
	}
	for _, u := range r.Unverified {
		fmt.Fprintf(w, "  unverified: %s\n", u)
	}
	if r.Message != "" {
		fmt.Fprintf(w, "message: %s\n", r.Message)
	}
}

// pidOfNamespacePaths returns the PID named by the spec's /proc/<pid>/ns/...
// namespace paths, or 0.
func pidOfNamespacePaths(spec *specs.Spec) int {
	if spec.Linux == nil {
		return 0
	}
	for _, ns := range spec.Linux.Namespaces {
		if rest, ok := strings.CutPrefix(ns.Path, "/proc/"); ok {
			if pid, err := strconv.Atoi(strings.Split(rest, "/")[0]); err == nil && pid > 0 {
				return pid
			}
		}
	}
	return 0
}

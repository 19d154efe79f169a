//go:build linux

// Package doctor checks whether this node meets what a runtime class needs
// and says what to fix: `containerd-shim-hardened-v2 doctor`, the install
// self-check for node admins. Each check is one line (ok, warn or FAIL, what
// it looked at, and a fix when it is not ok); the exit status says whether
// the class can run here.
package doctor

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/shim"
)

// Exit codes of the doctor command.
const (
	ExitOK       = 0 // every check is ok or a warning: the class can run here
	ExitProblems = 1 // at least one check failed
	ExitUsage    = 2 // bad usage or input of doctor itself
)

// RuntimeType is the runtime type containerd runs this shim for.
const RuntimeType = shim.RuntimeName

// ShimBinary is the binary name containerd looks up for RuntimeType.
const ShimBinary = runtimeclass.ShimBinary

// Status of one check.
type Status string

// Statuses.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// worse returns the worse of two statuses.
func worse(a, b Status) Status {
	rank := map[Status]int{OK: 0, Warn: 1, Fail: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Check kinds (the "check" field of the JSON output).
const (
	KindContainerd = "containerd"
	KindConfig     = "containerd-config"
	KindHandler    = "handler"
	KindClass      = "class"
	KindOCIRuntime = "oci-runtime"
	KindKernel     = "kernel"
	KindAuditLog   = "audit-log"
	KindSandbox    = "sandbox"
)

// Check is the result of one check.
type Check struct {
	// Name is the check as printed: its kind, and the handler it is about.
	Name string `json:"name"`
	// Kind is what was checked (KindContainerd …).
	Kind string `json:"check"`
	// Handler is the CRI runtime handler the check is about, if any.
	Handler string `json:"handler,omitempty"`
	Status  Status `json:"status"`
	// Detail says what was found, naming files, keys and paths.
	Detail string `json:"detail"`
	// Fix says what to do when the check is not ok.
	Fix string `json:"fix,omitempty"`
}

// Report is the doctor's verdict: every check, and whether the class can
// run on this node (no check failed).
type Report struct {
	OK       bool     `json:"ok"`
	Problems int      `json:"problems"`
	Warnings int      `json:"warnings"`
	Handlers []string `json:"handlers"`
	Checks   []Check  `json:"checks"`
}

func (r *Report) add(c Check) {
	if c.Name == "" {
		c.Name = c.Kind
		if c.Handler != "" {
			c.Name += " " + c.Handler
		}
	}
	switch c.Status {
	case Fail:
		r.Problems++
	case Warn:
		r.Warnings++
	}
	r.Checks = append(r.Checks, c)
}

// options are the doctor's flags.
type options struct {
	config           string // --config: the class config to check
	containerdConfig string // --containerd-config
	containerd       string // --containerd: the containerd binary
	address          string // --address: containerd's gRPC socket
	handler          string // --handler
	argv0            string // how this binary was invoked (its node class file)
}

// Run is `containerd-shim-hardened-v2 doctor`.
func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.config, "config", "", "runtime class config `FILE` (TOML) to check instead of each handler's class; default: each handler's (its node class file, its ConfigPath or its inline options), or with no handler this binary's node class file or the built-in defaults")
	fs.StringVar(&o.containerdConfig, "containerd-config", "", "containerd's config `FILE`; default: what 'containerd config dump' resolves (/etc/containerd/config.toml with its imports). Parsed directly when there is no containerd binary")
	fs.StringVar(&o.containerd, "containerd", "containerd", "the containerd `BINARY` (name in PATH or a path), for 'config dump' and '--version'")
	fs.StringVar(&o.address, "address", "/run/containerd/containerd.sock", "containerd's gRPC `SOCKET`, asked for its version (else 'containerd --version')")
	fs.StringVar(&o.handler, "handler", "", "check only this CRI runtime handler `NAME` (default: every handler of runtime_type "+RuntimeType+")")
	asJSON := fs.Bool("json", false, "print one JSON document: {ok, problems, warnings, handlers, checks: [{name, check, handler, status, detail, fix}]}")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s doctor [--config FILE] [--containerd-config FILE] [--containerd BIN] [--address SOCK] [--handler NAME] [--json]\n\n"+
			"Checks whether this node meets what the hardened runtime class(es) need: containerd's version\n"+
			"and runtime handlers, each handler's class, the OCI runtime, the kernel, the audit log and the\n"+
			"sandbox backend; each line says ok, warn or FAIL and, when not ok, what to fix.\n"+
			"Run it as root, with the environment containerd gives shims (CONTAINERD_SHIM_HARDENED_CONFIG_DIR, PATH).\n"+
			"Exit status: 0 the class can run here (warnings allowed), 1 a check failed, 2 bad usage.\n\n", filepath.Base(os.Args[0]))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return ExitUsage
	}
	for _, f := range []struct{ flag, path string }{{"--config", o.config}, {"--containerd-config", o.containerdConfig}} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil {
			fmt.Fprintf(stderr, "doctor: %s: %v\n", f.flag, err)
			return ExitUsage
		} else if st.IsDir() {
			fmt.Fprintf(stderr, "doctor: %s %s: is a directory\n", f.flag, f.path)
			return ExitUsage
		}
	}
	if o.address == "" {
		fmt.Fprintln(stderr, "doctor: --address must not be empty")
		return ExitUsage
	}
	o.argv0 = os.Args[0]
	r := diagnose(o)
	if *asJSON {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			fmt.Fprintln(stderr, "doctor:", err)
			return ExitUsage
		}
		stdout.Write(append(b, '\n'))
	} else {
		printReport(stdout, r)
	}
	if !r.OK {
		return ExitProblems
	}
	return ExitOK
}

// printReport writes one line per check, an indented fix under each one
// that is not ok, and the verdict.
func printReport(w io.Writer, r *Report) {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		label := string(c.Status)
		if c.Status == Fail {
			label = "FAIL"
		}
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", label, width, c.Name, c.Detail)
		if c.Fix != "" {
			for i, line := range strings.Split(c.Fix, "\n") {
				prefix := "      fix: "
				if i > 0 {
					prefix = "           "
				}
				fmt.Fprintf(w, "%s%s\n", prefix, line)
			}
		}
	}
	var failed, warned []string
	for _, c := range r.Checks {
		switch c.Status {
		case Fail:
			failed = append(failed, c.Name)
		case Warn:
			warned = append(warned, c.Name)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "%d problem(s): %s\n", len(failed), strings.Join(failed, ", "))
		return
	}
	line := "hardened class can run on this node"
	switch len(r.Handlers) {
	case 0:
	case 1:
		line += " (handler " + r.Handlers[0] + ")"
	default:
		line += " (handlers " + strings.Join(r.Handlers, ", ") + ")"
	}
	if len(warned) > 0 {
		line += fmt.Sprintf("; %d warning(s): %s", len(warned), strings.Join(warned, ", "))
	}
	fmt.Fprintln(w, line)
}

// diagnose runs every check.
func diagnose(o options) *Report {
	r := &Report{Handlers: []string{}}
	bin := lookContainerd(o.containerd)
	r.add(checkContainerdVersion(o.address, o.containerd, bin))
	cfg, cc := loadContainerdConfig(o.containerdConfig, o.containerd, bin)
	r.add(cc)

	targets, hc := selectHandlers(cfg, o.handler)
	for _, c := range hc {
		r.add(c)
	}
	if len(targets) == 0 {
		// no handler to take the class from: this binary's node class
		// file (or --config), so that the rest of the node is still checked
		targets = []*runtimeEntry{nil}
	}
	for _, rt := range targets {
		name := ""
		if rt != nil {
			name = rt.Name
			r.Handlers = append(r.Handlers, name)
			r.add(checkHandler(cfg, rt, bin))
		}
		class, where, c := resolveClass(o, cfg, rt)
		r.add(c)
		if class == nil {
			continue
		}
		for _, c := range classChecks(class, where) {
			c.Handler = name
			r.add(c)
		}
	}
	r.OK = r.Problems == 0
	return r
}

// classChecks are the checks of a resolved class: its OCI runtime or sandbox
// backend, the kernel and the audit log.
func classChecks(class *runtimeclass.Class, where string) []Check {
	var out []Check
	if class.Runtime == runtimeclass.BackendRunc {
		out = append(out, checkOCIRuntime(class, where))
	}
	out = append(out, checkKernel(class, where))
	out = append(out, checkAuditLog(class, where))
	if class.Runtime != runtimeclass.BackendRunc {
		out = append(out, checkSandbox(class, where))
	}
	return out
}

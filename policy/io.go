package policy

import (
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"slices"
)

// IOCheckID is the check ID of stdio refusals: like hooks and seccomp
// listeners (check hostActions), a task's or exec's stdio makes the shim act
// on the host as root.
const IOCheckID = "hostActions"

// DefaultFIFODir is where containerd's clients create stdio FIFOs unless told
// otherwise (containerd's defaults.DefaultFIFODir).
const DefaultFIFODir = "/run/containerd/fifo"

// IO is the stdio of a task or exec request, as the shim receives it.
type IO struct {
	Stdin, Stdout, Stderr string
	// Terminal is informational: the same rules apply.
	Terminal bool
}

// EvaluateIO judges the stdio a task or exec names. The shim opens, runs or
// writes each of them on the host as root (containerd's runc shim, process
// /io.go): a plain path is opened as a FIFO, or appended to when it is a
// regular file; binary:// runs a host binary; file:// creates and appends to a
// host file. CRI sends only FIFOs under containerd's state directory, so by
// default a plain path must be a FIFO under containerd's state directory, its
// default FIFO directory or a class log directory; binary:// must name an
// allowlisted binary and file:// a path under a class log directory.
// stateDir is containerd's state directory.
func EvaluateIO(stdio IO, stateDir string, o *Options, h Host) []Violation {
	if o == nil {
		o = DefaultOptions()
	}
	var vs []Violation
	for _, s := range []struct{ field, uri string }{{"stdin", stdio.Stdin}, {"stdout", stdio.Stdout}, {"stderr", stdio.Stderr}} {
		if s.uri == "" {
			continue
		}
		if why := ioRefusal(s.field, s.uri, stateDir, o, h); why != "" {
			vs = append(vs, Violation{Check: IOCheckID, Field: s.field, Value: truncate(s.uri, 256), Reason: why})
		}
	}
	return withHints(vs, &hintContext{opts: o, stateDir: stateDir})
}

func ioRefusal(field, uri, stateDir string, o *Options, h Host) string {
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Sprintf("%s %q is not a valid stdio URI: %v", field, truncate(uri, 256), err)
	}
	switch u.Scheme {
	case "", "fifo":
		p := uri
		if u.Scheme != "" {
			p = u.Path
		}
		if !filepath.IsAbs(p) {
			return fmt.Sprintf("%s %q is not an absolute path", field, p)
		}
		real, err := h.Resolve(filepath.Clean(p))
		if err != nil {
			return fmt.Sprintf("%s %q cannot be resolved: %v", field, p, err)
		}
		dirs := append([]string{filepath.Join(stateDir), DefaultFIFODir}, o.AllowedLogDirs...)
		if !slices.ContainsFunc(dirs, func(d string) bool { return d != "" && within(real, resolveOrClean(h, d)) }) {
			shown := fmt.Sprintf("%q", p)
			if real != filepath.Clean(p) {
				shown += fmt.Sprintf(" (%q)", real)
			}
			return fmt.Sprintf("%s %s is outside containerd's state and FIFO directories and the class's allowed_log_dirs; the shim would open it on the host as root", field, shown)
		}
		mode, err := h.Mode(real)
		if err != nil {
			return fmt.Sprintf("%s %q cannot be inspected: %v", field, p, err)
		}
		if mode.Type() != fs.ModeNamedPipe {
			if field != "stdin" && mode.IsRegular() && slices.ContainsFunc(o.AllowedLogDirs, func(d string) bool { return within(real, resolveOrClean(h, d)) }) {
				return ""
			}
			return fmt.Sprintf("%s %q is a %s, not a FIFO; the shim would read or append to it on the host as root", field, p, describeMode(mode))
		}
		return ""
	case "binary", "binary-v2":
		bin := filepath.Clean(u.Path)
		real, err := h.Resolve(bin)
		if err != nil {
			real = bin
		}
		for _, a := range o.AllowedLogBinaries {
			if bin == filepath.Clean(a) || real == resolveOrClean(h, a) {
				return ""
			}
		}
		return fmt.Sprintf("%s %s:// runs host binary %q as root; it is not in the class's allowed_log_binaries", field, u.Scheme, u.Path)
	case "file":
		p := filepath.Clean(u.Path)
		if !filepath.IsAbs(p) {
			return fmt.Sprintf("%s file:// path %q is not absolute", field, u.Path)
		}
		real := resolveExisting(h, p)
		for _, d := range o.AllowedLogDirs {
			if within(real, resolveOrClean(h, d)) {
				return ""
			}
		}
		return fmt.Sprintf("%s file:// makes the shim create and append to host file %q as root; it is not under the class's allowed_log_dirs", field, p)
	default:
		return fmt.Sprintf("%s uses stdio scheme %q, which the shim does not accept", field, u.Scheme)
	}
}

// resolveExisting resolves the longest existing prefix of p and joins the
// rest: where a file that does not exist yet would be created.
func resolveExisting(h Host, p string) string {
	rest := ""
	for cur := p; ; cur = filepath.Dir(cur) {
		if r, err := h.Resolve(cur); err == nil {
			return filepath.Join(r, rest)
		}
		if cur == "/" || cur == "." {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return m.Type().String()
}

// truncate bounds a request-supplied string in a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// The runsc backend runs a class's containers in gVisor through the same runc task service:
// its OCI runtime binary is this shim's own executable under the name RunscWrapperName (a
// symlink the shim keeps in the class's runtime root, beside the class's runsc settings), which
// runs runsc with the class's platform and flags and --oci-seccomp. It also makes every app
// container of a pod a process of its own to the task service: runsc reports the sandbox's PID
// for every container of a sandbox, so for those the wrapper starts a stand-in that waits for
// the container (runsc wait) and exits with its status, and reports the stand-in's PID.

// RunscWrapperName is the name the shim's executable runs under as a runsc class's OCI runtime.
const RunscWrapperName = "containerd-shim-hardened-runsc"

// runscSettingsFile sits beside the wrapper symlink.
const runscSettingsFile = "settings.json"

// runscWaitArg is the stand-in's first argument (go-runc never passes it).
const runscWaitArg = "--hardened-wait-container"

// RunscSettings is what the wrapper needs of a class.
type RunscSettings struct {
	Binary   string            `json:"binary"`
	Platform string            `json:"platform"`
	Flags    map[string]string `json:"flags,omitempty"`
}

// args are the runsc global flags of the settings, in a stable order.
func (s RunscSettings) args() []string {
	out := []string{"--platform=" + s.Platform, "--oci-seccomp"}
	names := make([]string, 0, len(s.Flags))
	for n := range s.Flags {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, "--"+n+"="+s.Flags[n])
	}
	return out
}

type runsc struct{}

func (runsc) Name() string { return runtimeclass.BackendRunsc }

func (runsc) RuncOptions(c *runtimeclass.Class) *runcoptions.Options {
	o := runc{}.RuncOptions(c)
	// the wrapper; a class whose wrapper path cannot be made keeps runsc's own name, and
	// Prepare, which runs before Create, fails with the reason
	if w, err := wrapperPath(c); err == nil {
		o.BinaryName = w
	}
	return o
}

// Prepare makes the wrapper symlink and settings file for class c (idempotent).
func (runsc) Prepare(c *runtimeclass.Class) error {
	w, err := wrapperPath(c)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("runtime class %q: locating the shim's executable for the runsc wrapper: %w", c.Name(), err)
	}
	exe, err = filepath.EvalSymlinks(exe)
	if err != nil {
		return fmt.Errorf("runtime class %q: locating the shim's executable for the runsc wrapper: %w", c.Name(), err)
	}
	dir := filepath.Dir(w)
	if target, err := os.Readlink(w); err == nil && target == exe {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("runtime class %q: runsc wrapper: %w", c.Name(), err)
	}
	b, _ := json.Marshal(runscSettings(c))
	if err := writeAtomic(filepath.Join(dir, runscSettingsFile), b); err != nil {
		return fmt.Errorf("runtime class %q: runsc wrapper: %w", c.Name(), err)
	}
	tmp := w + ".tmp" + strconv.Itoa(os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(exe, tmp); err != nil {
		return fmt.Errorf("runtime class %q: runsc wrapper: %w", c.Name(), err)
	}
	if err := os.Rename(tmp, w); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("runtime class %q: runsc wrapper: %w", c.Name(), err)
	}
	return nil
}

func runscSettings(c *runtimeclass.Class) RunscSettings {
	return RunscSettings{Binary: c.BinaryName, Platform: c.Runsc.Platform, Flags: c.Runsc.Flags}
}

// wrapperPath is <root>/.hardened-runsc/<settings hash>/containerd-shim-hardened-runsc: one
// wrapper per distinct settings, so classes sharing a root never see each other's flags.
func wrapperPath(c *runtimeclass.Class) (string, error) {
	if !filepath.IsAbs(c.Root) {
		return "", fmt.Errorf("runtime class %q: runsc root %q is not absolute", c.Name(), c.Root)
	}
	b, err := json.Marshal(runscSettings(c))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return filepath.Join(c.Root, ".hardened-runsc", hex.EncodeToString(sum[:8]), RunscWrapperName), nil
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// IsRunscWrapper reports whether the process runs as a runsc class's OCI runtime.
func IsRunscWrapper(argv0 string) bool { return filepath.Base(argv0) == RunscWrapperName }

// RunscMain is the wrapper: argv is os.Args. It returns the exit status.
func RunscMain(argv []string) int {
	settings, err := loadSettings(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", RunscWrapperName, err)
		return 2
	}
	if len(argv) > 2 && argv[1] == runscWaitArg {
		return waitContainer(settings, argv[2:])
	}
	global, cmd, rest := splitRuncArgs(argv[1:])
	pre := append(append([]string{}, global...), settings.args()...)
	args := append(append(append([]string{}, pre...), cmd), rest...)
	bin, err := exec.LookPath(settings.Binary)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: runsc binary %q: %v\n", RunscWrapperName, settings.Binary, err)
		return 2
	}
	switch cmd {
	case "create":
		return create(bin, argv[0], global, pre, args, rest)
	case "kill":
		return kill(bin, args)
	case "start":
		adoptStdio(rest)
		fallthrough
	default:
		err := syscall.Exec(bin, append([]string{bin}, args...), os.Environ())
		fmt.Fprintf(os.Stderr, "%s: exec %s: %v\n", RunscWrapperName, bin, err)
		return 2
	}
}

// kill runs `runsc kill`. runsc says "sandbox is not running" where runc says "container not
// running", the wording the runc task service takes for "already exited" (without it a pod
// whose sandbox died can never be stopped): runc's wording is added to runsc's error.
func kill(bin string, args []string) int {
	var stderr bytes.Buffer
	c := exec.Command(bin, args...)
	c.Stdout, c.Stderr = os.Stdout, &stderr
	err := c.Run()
	os.Stderr.Write(stderr.Bytes())
	if err == nil {
		return 0
	}
	if strings.Contains(stderr.String(), "is not running") {
		fmt.Fprintln(os.Stderr, "container not running")
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 1
}

func loadSettings(argv0 string) (RunscSettings, error) {
	var s RunscSettings
	self := argv0
	if !filepath.IsAbs(self) {
		p, err := exec.LookPath(self)
		if err != nil {
			return s, err
		}
		self = p
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(self), runscSettingsFile))
	if err != nil {
		return s, fmt.Errorf("reading the class's runsc settings: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("reading the class's runsc settings: %w", err)
	}
	if s.Binary == "" || s.Platform == "" {
		return s, errors.New("the class's runsc settings name no binary or platform")
	}
	return s, nil
}

// splitRuncArgs splits go-runc's command line into its global flags, the subcommand and the
// subcommand's arguments. go-runc's global flags: --root R, --log L, --log-format F,
// --criu C (never set by the runc task service), --debug, --systemd-cgroup, --rootless=B.
func splitRuncArgs(args []string) (global []string, cmd string, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case slices.Contains([]string{"--root", "--log", "--log-format", "--criu"}, a) && i+1 < len(args):
			global = append(global, a, args[i+1])
			i++
		case strings.HasPrefix(a, "-"):
			global = append(global, a)
		default:
			return global, a, args[i+1:]
		}
	}
	return global, "", nil
}

// createArgs are the flags of `create` the wrapper needs; terminal is set when the task
// service passed a console socket (the container has a terminal).
func createArgs(rest []string) (bundle, pidFile, id string, terminal bool) {
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		val := func(name string) (string, bool) {
			if a == name && i+1 < len(rest) {
				i++
				return rest[i], true
			}
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v, true
			}
			return "", false
		}
		if v, ok := val("--bundle"); ok {
			bundle = v
		} else if v, ok := val("--pid-file"); ok {
			pidFile = v
		} else if _, ok := val("--console-socket"); ok {
			terminal = true // its value is not the ID
		} else if !strings.HasPrefix(a, "-") {
			id = a
		}
	}
	return bundle, pidFile, id, terminal
}

// create runs `runsc create`; for an app container of a sandbox it then starts the
// container's stand-in and reports the stand-in's PID instead of the sandbox's.
func create(bin, self string, global, pre, args, rest []string) int {
	c := exec.Command(bin, args...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", RunscWrapperName, err)
		return 2
	}
	bundle, pidFile, id, terminal := createArgs(rest)
	if !isSubcontainer(bundle) || pidFile == "" || id == "" {
		return 0
	}
	pid, err := startStandIn(self, global, id, terminal)
	if err == nil {
		err = writeAtomic(pidFile, []byte(strconv.Itoa(pid)))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: container %s: starting its stand-in process: %v\n", RunscWrapperName, id, err)
		exec.Command(bin, append(append([]string{}, pre...), "delete", "--force", id)...).Run() //nolint:errcheck // best effort: the create fails either way
		return 1
	}
	return 0
}

// isSubcontainer reports whether the bundle's spec is an app container joining a sandbox.
func isSubcontainer(bundle string) bool {
	if bundle == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return false
	}
	var s struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(b, &s) != nil {
		return false
	}
	for _, k := range []string{"io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType"} {
		if s.Annotations[k] == "container" {
			return true
		}
	}
	return false
}

// startStandIn starts `<self> --hardened-wait-container <global flags> -- <id>` in a session
// of its own; when this wrapper exits it is reparented to the shim (a subreaper), which reaps
// it like a container's init. It holds the container's stdio, which the task service hands
// to create: runsc gives an app container of a sandbox the stdio of `runsc start`
// (adoptStdio). A container with a terminal has none (runsc sent the terminal's master to the
// console socket in create): its stand-in gets /dev/null, since create's stdio is then the
// task service's output pipe, which it reads until every writer has closed it.
func startStandIn(self string, global []string, id string, terminal bool) (int, error) {
	args := append(append([]string{runscWaitArg}, global...), "--", id)
	c := exec.Command(self, args...)
	if !terminal {
		c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		return 0, err
	}
	pid := c.Process.Pid
	c.Process.Release()
	return pid, nil
}

// adoptStdio gives `runsc start` of an app container the container's stdio, which its
// stand-in holds: the task service runs start with pipes of its own that it reads to the end,
// and runsc passes start's stdio to the container.
func adoptStdio(rest []string) {
	id := ""
	for _, a := range rest {
		if !strings.HasPrefix(a, "-") {
			id = a
		}
	}
	pid := findStandIn(id)
	if pid <= 0 {
		return
	}
	for fd, flag := range []int{os.O_RDONLY, os.O_WRONLY, os.O_WRONLY} {
		f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/%d", pid, fd), flag, 0)
		if err != nil {
			continue
		}
		syscall.Dup3(int(f.Fd()), fd, 0) //nolint:errcheck // a failed dup leaves the task service's pipe
		f.Close()
	}
}

// findStandIn returns the PID of container id's stand-in, or 0.
func findStandIn(id string) int {
	if id == "" {
		return 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(args) >= 4 && IsRunscWrapper(args[0]) && args[1] == runscWaitArg &&
			args[len(args)-2] == "--" && args[len(args)-1] == id && ownStandIn(pid) {
			return pid
		}
	}
	return 0
}

// ownStandIn reports whether pid is a stand-in this shim started: a child of the shim (the
// wrapper's parent, the subreaper it was reparented to) running the shim's executable. A
// process of another pod can name itself like a stand-in; it cannot be the shim's child.
func ownStandIn(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// the fields after the command name, which is in parentheses and may hold spaces
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return false
	}
	if f := strings.Fields(string(st[i+1:])); len(f) < 2 || f[1] != strconv.Itoa(os.Getppid()) {
		return false
	}
	exe, err1 := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	self, err2 := os.Readlink("/proc/self/exe")
	return err1 == nil && err2 == nil && exe == self
}

// waitContainer is the stand-in: it waits until the container has started and exited (runsc
// wait answers "not started" before `runsc start`) and exits with the container's status,
// 128+signal for a signalled container like runc's shim reports it.
func waitContainer(settings RunscSettings, args []string) int {
	i := slices.Index(args, "--")
	if i < 0 || i+1 >= len(args) {
		return 2
	}
	global, id := args[:i], args[i+1]
	bin, err := exec.LookPath(settings.Binary)
	if err != nil {
		return 2
	}
	cmd := append(append(append([]string{}, global...), settings.args()...), "wait", id)
	// every 50 ms at most while a start is due (the task service starts a container right
	// after creating it), then every second for a container created and left unstarted
	begin := time.Now()
	for delay := time.Millisecond; ; delay = min(2*delay, standInPoll(time.Since(begin))) {
		var stdout, stderr bytes.Buffer
		c := exec.Command(bin, cmd...)
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Run(); err == nil {
			var r struct {
				ExitStatus int `json:"exitStatus"`
			}
			if json.Unmarshal(stdout.Bytes(), &r) != nil {
				return 255
			}
			return r.ExitStatus
		}
		if !strings.Contains(stderr.String(), "not started") {
			// the container is gone (deleted before it started) or the sandbox died
			return 255
		}
		time.Sleep(delay)
	}
}

// standInPoll is the longest wait between two `runsc wait` attempts of a stand-in whose
// container has not started after waited.
func standInPoll(waited time.Duration) time.Duration {
	if waited < 5*time.Second {
		return 50 * time.Millisecond
	}
	return time.Second
}

// Check verifies that the class's runsc binary exists and knows every flag the class sets
// (`runsc flags`), so that a typo is refused at the pod's start with its name.
func (runsc) Check(c *runtimeclass.Class) error {
	bin, err := exec.LookPath(c.BinaryName)
	if err != nil {
		return fmt.Errorf("runtime class %q: runsc binary %q: %w", c.Name(), c.BinaryName, err)
	}
	if len(c.Runsc.Flags) == 0 {
		return nil
	}
	names := make([]string, 0, len(c.Runsc.Flags))
	for n := range c.Runsc.Flags {
		names = append(names, n)
	}
	sort.Strings(names)
	var probeErr error
	probe := func() error {
		out, err := exec.Command(bin, "flags").Output()
		if err != nil {
			probeErr = fmt.Errorf("%s flags: %w", bin, err)
			return probeErr
		}
		known := map[string]bool{}
		for _, line := range strings.Split(string(out), "\n") {
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "-"); ok {
				if f := strings.Fields(name); len(f) > 0 {
					known[strings.TrimPrefix(f[0], "-")] = true
				}
			}
		}
		for _, name := range names {
			if !known[name] {
				return fmt.Errorf("key \"runsc.flags.%s\": %s does not know the flag --%s (runsc flags lists the ones it does)", name, bin, name)
			}
		}
		return nil
	}
	// every shim start is a new process: the answer is kept for this boot, this binary and
	// these flag names beside the user namespace probe's
	if key, kerr := runcKey(bin); kerr == nil {
		cacheDir := ""
		if a, aerr := c.Allocator(); aerr == nil {
			cacheDir = a.Dir
		}
		sum := sha256.Sum256([]byte(strings.Join(names, "\x00")))
		err = cachedProbe(cacheDir, "runsc-flags-"+key+"-"+hex.EncodeToString(sum[:6]), probe, func(error) bool { return probeErr == nil })
	} else {
		err = probe()
	}
	if err != nil {
		return fmt.Errorf("runtime class %q: %w", c.Name(), err)
	}
	return nil
}

// runscEvent is `runsc events --stats`'s output (runc's event format).
type runscEvent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data struct {
		CPU struct {
			Usage struct {
				Kernel uint64   `json:"kernel"`
				User   uint64   `json:"user"`
				Total  uint64   `json:"total"`
				PerCPU []uint64 `json:"percpu"`
			} `json:"usage"`
		} `json:"cpu"`
		Memory struct {
			Cache uint64            `json:"cache"`
			Usage runscMemoryEntry  `json:"usage"`
			Swap  runscMemoryEntry  `json:"swap"`
			Raw   map[string]uint64 `json:"raw"`
		} `json:"memory"`
		Pids struct {
			Current uint64 `json:"current"`
			Limit   uint64 `json:"limit"`
		} `json:"pids"`
	} `json:"data"`
}

type runscMemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage"`
	Max     uint64 `json:"max"`
	Failcnt uint64 `json:"failcnt"`
}

// AppStats returns the metrics of an app container of a gVisor pod from inside the sandbox
// (`runsc events --stats`): the task service would read its stand-in's cgroup. handled is
// false for containers the task service measures itself.
func (runsc) AppStats(c *runtimeclass.Class, namespace, id string, app bool) (any, bool, error) {
	if !app {
		return nil, false, nil
	}
	w, err := wrapperPath(c)
	if err != nil {
		return nil, true, err
	}
	// in the shim daemon, which reaps its children itself
	out, err := outputReaped(exec.Command(w, "--root", filepath.Join(c.Root, namespace), "events", "--stats", id), 30*time.Second)
	if err != nil {
		return nil, true, fmt.Errorf("runsc events --stats %s: %w", id, err)
	}
	var ev runscEvent
	if err := json.Unmarshal(out, &ev); err != nil {
		return nil, true, fmt.Errorf("runsc events --stats %s: %w", id, err)
	}
	return runscMetrics(&ev), true, nil
}

// Unsupported: gVisor pauses and resumes its whole kernel, every container of the pod, so
// pausing one app container would silently freeze its neighbours.
func (runsc) Unsupported(op string, app bool) error {
	if app && (op == "pause" || op == "resume") {
		return fmt.Errorf("%s of one app container of a gVisor pod: gVisor would %s every container of the pod (its kernel); %s the pod sandbox instead: %w",
			op, op, op, errdefs.ErrNotImplemented)
	}
	return nil
}

// runscAppliedSysctls are the spec sysctls runsc applies (the sandbox's IPv6 switch and the
// sentry's open-file limit); gVisor's kernel keeps its own value of every other one.
var runscAppliedSysctls = map[string]bool{"net.ipv6.conf.all.disable_ipv6": true, "fs.nr_open": true}

// containerdDefaultSysctl reports the sysctls containerd's CRI adds to every pod
// (enable_unprivileged_ports, enable_unprivileged_icmp) with their default values: not a
// workload's ask, so not refused; under gVisor a non-root program needs NET_BIND_SERVICE to bind
// a port below 1024 (README).
func containerdDefaultSysctl(k, v string) bool {
	return (k == "net.ipv4.ip_unprivileged_port_start" && v == "0") ||
		(k == "net.ipv4.ping_group_range" && v == "0 2147483647")
}

// Gaps: what runsc would silently run differently from the spec — sysctls its kernel does not
// take from the spec, and mount propagation, which its kernel does not do.
func (runsc) FailedCreate(c *runtimeclass.Class, spec *specs.Spec) error {
	return removeEmptyCgroup(c, spec)
}

func (runsc) Gaps(spec *specs.Spec) []policy.Violation {
	var vs []policy.Violation
	if spec.Linux != nil {
		keys := make([]string, 0, len(spec.Linux.Sysctl))
		for k, v := range spec.Linux.Sysctl {
			if !runscAppliedSysctls[k] && !containerdDefaultSysctl(k, v) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			vs = append(vs, policy.Violation{Check: BackendCheckID, Field: fmt.Sprintf("linux.sysctl[%q]", k), Value: fmt.Sprintf("%q", spec.Linux.Sysctl[k]),
				Reason: fmt.Sprintf("gVisor does not apply sysctl %s from the spec: its kernel would keep its own value", k),
				Hint:   "remove the sysctl from the pod's securityContext.sysctls, or run the pod under a runc class"})
		}
		// runsc ignores linux.maskedPaths and linux.readonlyPaths. Under /proc and /sys
		// the files they protect are gVisor's own (its kernel's, not the node's: the
		// defaults CRI sets have nothing of the host behind them); anywhere else a path
		// the spec asks to hide or protect would stay as it is.
		for _, l := range []struct {
			field string
			paths []string
		}{{"linux.maskedPaths", spec.Linux.MaskedPaths}, {"linux.readonlyPaths", spec.Linux.ReadonlyPaths}} {
			for _, p := range l.paths {
				if c := filepath.Clean(p); c == "/proc" || strings.HasPrefix(c, "/proc/") || c == "/sys" || strings.HasPrefix(c, "/sys/") {
					continue
				}
				vs = append(vs, policy.Violation{Check: BackendCheckID, Field: l.field, Value: fmt.Sprintf("%q", p),
					Reason: fmt.Sprintf("gVisor does not apply %s: %s would stay as it is in the container", l.field, p),
					Hint:   "mask or protect paths only under /proc and /sys (gVisor's own), or run the pod under a runc class"})
			}
		}
		if p := spec.Linux.RootfsPropagation; p != "" && !strings.HasSuffix(p, "private") {
			vs = append(vs, policy.Violation{Check: BackendCheckID, Field: "linux.rootfsPropagation", Value: fmt.Sprintf("%q", p),
				Reason: "gVisor does not propagate mounts", Hint: "leave the root file system's propagation private"})
		}
	}
	for _, m := range spec.Mounts {
		for _, o := range m.Options {
			if slices.Contains([]string{"shared", "rshared", "slave", "rslave"}, o) {
				vs = append(vs, policy.Violation{Check: BackendCheckID, Field: fmt.Sprintf("mounts[%q].options", m.Destination), Value: fmt.Sprintf("%q", o),
					Reason: "gVisor does not propagate mounts between the host and the sandbox",
					Hint:   "set the volume mount's mountPropagation to None, or run the pod under a runc class"})
			}
		}
	}
	return vs
}

//go:build linux

// Command probe reports, as one JSON object on standard output, what the container it runs in
// can do: its capability sets, no_new_privs and seccomp state, and the outcome of a fixed list
// of attempts at the syscalls and files that container escapes and kernel exploits start from.
//
//	probe [-only NAME[,NAME...]] [-list] [-setuid-helper PATH] [-timeout D]
//
// The output has the form
//
//	{"status": {"CapEff": "...", "NoNewPrivs": "1", "Seccomp": "2", ...},
//	 "attempts": [{"name": "bpf", "ok": false, "errno": "EPERM", "detail": "..."}, ...]}
//
// "status" copies fields of /proc/self/status. For each attempt, "ok" says whether the
// operation succeeded, "errno" is the symbolic name of the error of the decisive syscall ("" on
// success, and for outcomes that are not a syscall error) and "detail" says what was done and,
// on failure, which step failed.
//
// Every attempt is harmless when it succeeds, bounded in time, and cleans up after itself: file
// descriptors are closed, children are killed and reaped, files and device nodes it created are
// removed, and mounts only ever happen in a throw-away mount namespace of a short-lived child
// (and are unmounted there). Nothing is ever written to /proc/sysrq-trigger or to a cgroup
// release_agent: those attempts only open the file for writing. The exceptions are process
// local: the keyctl attempt joins a new anonymous session keyring, which lives as long as the
// probe.
//
// The exit status is 0 whenever the probe ran; blocked attempts are data, not errors. Usage
// errors exit with 2.
//
// Like the other image tools this is a standard-library-only program (the images package builds
// the tools in a module without dependencies), so syscall numbers and constants missing from
// package syscall are defined here for amd64 and arm64.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Attempt is the outcome of one attempt.
type Attempt struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Errno  string `json:"errno"`
	Detail string `json:"detail"`
}

// Report is the probe's output.
type Report struct {
	Status   map[string]string `json:"status"`
	Attempts []Attempt         `json:"attempts"`
}

// statusKeys are the /proc/self/status fields the report copies.
var statusKeys = []string{"CapEff", "CapBnd", "CapPrm", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters", "Uid"}

// defaultSetuidHelper is the set-user-ID root nnp tool of the probe image.
const defaultSetuidHelper = "/usr/local/bin/nnp"

type options struct {
	setuidHelper string
}

type attemptDef struct {
	name string
	run  func(*options) Attempt
}

// attemptList is every attempt, in output order.
var attemptList = []attemptDef{
	{"unshare-userns-mount", attemptUnshareMount},
	{"cgroup-release-agent", attemptReleaseAgent},
	{"fsopen", attemptFsopen},
	{"io_uring_setup", attemptIOUringSetup},
	{"userfaultfd", attemptUserfaultfd},
	{"bpf", attemptBPF},
	{"perf_event_open", attemptPerfEventOpen},
	{"keyctl", attemptKeyctl},
	{"add_key", attemptAddKey},
	{"ptrace-sibling", attemptPtrace},
	{"af-packet", attemptAFPacket},
	{"af-vsock", attemptAFVsock},
	{"af-alg", attemptAFAlg},
	{"sysrq-trigger", attemptSysrq},
	{"proc-kcore", attemptKcore},
	{"mknod-block", attemptMknod},
	{"open_by_handle_at", attemptOpenByHandle},
	{"write-rootfs", attemptWriteRootfs},
	{"setuid-gain", attemptSetuidGain},
	{"io_uring-fallback", attemptIOUringFallback},
	{"host-root", attemptHostRoot},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	list := fs.Bool("list", false, "print the attempt names, one per line, and exit")
	only := fs.String("only", "", "comma-separated attempt names to run (default: all)")
	helper := fs.String("setuid-helper", defaultSetuidHelper, "set-user-ID root program printing \"Effective uid: N\" (setuid-gain)")
	timeout := fs.Duration("timeout", 20*time.Second, "upper bound on each attempt")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "probe: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *list {
		for _, a := range attemptList {
			fmt.Fprintln(stdout, a.name)
		}
		return 0
	}
	selected, err := selectAttempts(*only)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 2
	}
	rep := probe(selected, &options{setuidHelper: *helper}, *timeout)
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintf(stderr, "probe: writing the report: %v\n", err)
		return 1
	}
	return 0
}

// selectAttempts returns the attempts named in the comma-separated list, in output order; all
// of them for an empty list.
func selectAttempts(only string) ([]attemptDef, error) {
	if strings.TrimSpace(only) == "" {
		return attemptList, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !knownAttempt(n) {
			return nil, fmt.Errorf("unknown attempt %q (see -list)", n)
		}
		want[n] = true
	}
	var out []attemptDef
	for _, a := range attemptList {
		if want[a.name] {
			out = append(out, a)
		}
	}
	return out, nil
}

func knownAttempt(name string) bool {
	for _, a := range attemptList {
		if a.name == name {
			return true
		}
	}
	return false
}

// probe reads the status and runs the attempts one after the other.
func probe(selected []attemptDef, o *options, timeout time.Duration) Report {
	rep := Report{Status: readStatus(), Attempts: []Attempt{}}
	for _, a := range selected {
		rep.Attempts = append(rep.Attempts, runAttempt(a, o, timeout))
	}
	return rep
}

// runAttempt runs one attempt, turning a panic or an overrun into a failed attempt.
func runAttempt(a attemptDef, o *options, timeout time.Duration) Attempt {
	done := make(chan Attempt, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- Attempt{Detail: fmt.Sprintf("probe bug: panic: %v", r)}
			}
		}()
		done <- a.run(o)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var res Attempt
	select {
	case res = <-done:
	case <-timer.C:
		res = Attempt{Detail: fmt.Sprintf("probe: attempt did not finish within %s", timeout)}
	}
	res.Name = a.name
	return res
}

// readStatus returns the statusKeys fields of /proc/self/status, whitespace collapsed.
func readStatus() map[string]string {
	st := map[string]string{}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return st
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, want := range statusKeys {
			if k == want {
				st[k] = strings.Join(strings.Fields(v), " ")
			}
		}
	}
	return st
}

// Results.

func success(detail string) Attempt { return Attempt{OK: true, Detail: detail} }

// failure reports err as the decisive error of step.
func failure(step string, err error) Attempt {
	return Attempt{Errno: errnoName(errnoOf(err)), Detail: describe(step, err)}
}

// describe renders "step: ENAME (message)"; the message is the whole error, so that wrapped
// errors keep their context.
func describe(step string, err error) string {
	if e := errnoOf(err); e != 0 {
		return fmt.Sprintf("%s: %s (%s)", step, errnoName(e), err.Error())
	}
	return fmt.Sprintf("%s: %v", step, err)
}

// errnoOf returns the syscall.Errno in err's chain, 0 if there is none.
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// errnoNames are the Linux errno names (asm-generic numbering, shared by amd64 and arm64) as the
// kernel's uapi headers, strace and the man pages spell them. They equal
// golang.org/x/sys/unix.ErrnoName except for two aliases it prefers: 95 is EOPNOTSUPP here
// (ENOTSUP there) and 117 EUCLEAN (EFSCORRUPTED there).
var errnoNames = map[syscall.Errno]string{
	1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG",
	8: "ENOEXEC", 9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES",
	14: "EFAULT", 15: "ENOTBLK", 16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV",
	20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 25: "ENOTTY",
	26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE", 30: "EROFS", 31: "EMLINK",
	32: "EPIPE", 33: "EDOM", 34: "ERANGE", 35: "EDEADLK", 36: "ENAMETOOLONG", 37: "ENOLCK",
	38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 42: "ENOMSG", 43: "EIDRM", 44: "ECHRNG",
	45: "EL2NSYNC", 46: "EL3HLT", 47: "EL3RST", 48: "ELNRNG", 49: "EUNATCH", 50: "ENOCSI",
	51: "EL2HLT", 52: "EBADE", 53: "EBADR", 54: "EXFULL", 55: "ENOANO", 56: "EBADRQC",
	57: "EBADSLT", 59: "EBFONT", 60: "ENOSTR", 61: "ENODATA", 62: "ETIME", 63: "ENOSR",
	64: "ENONET", 65: "ENOPKG", 66: "EREMOTE", 67: "ENOLINK", 68: "EADV", 69: "ESRMNT",
	70: "ECOMM", 71: "EPROTO", 72: "EMULTIHOP", 73: "EDOTDOT", 74: "EBADMSG", 75: "EOVERFLOW",
	76: "ENOTUNIQ", 77: "EBADFD", 78: "EREMCHG", 79: "ELIBACC", 80: "ELIBBAD", 81: "ELIBSCN",
	82: "ELIBMAX", 83: "ELIBEXEC", 84: "EILSEQ", 85: "ERESTART", 86: "ESTRPIPE", 87: "EUSERS",
	88: "ENOTSOCK", 89: "EDESTADDRREQ", 90: "EMSGSIZE", 91: "EPROTOTYPE", 92: "ENOPROTOOPT",
	93: "EPROTONOSUPPORT", 94: "ESOCKTNOSUPPORT", 95: "EOPNOTSUPP", 96: "EPFNOSUPPORT",
	97: "EAFNOSUPPORT", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL", 100: "ENETDOWN",
	101: "ENETUNREACH", 102: "ENETRESET", 103: "ECONNABORTED", 104: "ECONNRESET",
	105: "ENOBUFS", 106: "EISCONN", 107: "ENOTCONN", 108: "ESHUTDOWN", 109: "ETOOMANYREFS",
	110: "ETIMEDOUT", 111: "ECONNREFUSED", 112: "EHOSTDOWN", 113: "EHOSTUNREACH",
	114: "EALREADY", 115: "EINPROGRESS", 116: "ESTALE", 117: "EUCLEAN", 118: "ENOTNAM",
	119: "ENAVAIL", 120: "EISNAM", 121: "EREMOTEIO", 122: "EDQUOT", 123: "ENOMEDIUM",
	124: "EMEDIUMTYPE", 125: "ECANCELED", 126: "ENOKEY", 127: "EKEYEXPIRED",
	128: "EKEYREVOKED", 129: "EKEYREJECTED", 130: "EOWNERDEAD", 131: "ENOTRECOVERABLE",
	132: "ERFKILL", 133: "EHWPOISON",
	524: "ENOTSUPP", // kernel-internal, but leaks to user space (e.g. from bpf)
}

// errnoName returns the symbolic name of e, "" for 0 and "errno(N)" for unknown numbers.
func errnoName(e syscall.Errno) string {
	if e == 0 {
		return ""
	}
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return fmt.Sprintf("errno(%d)", int(e))
}

// Syscall numbers and constants package syscall lacks.

// sysnums holds the architecture-specific syscall numbers; zero means unknown.
type sysnums struct {
	userfaultfd, bpf, perfEventOpen, keyctl, addKey, nameToHandleAt, openByHandleAt uintptr
}

var nr = func() sysnums {
	switch runtime.GOARCH {
	case "amd64":
		return sysnums{userfaultfd: 323, bpf: 321, perfEventOpen: 298, keyctl: 250, addKey: 248, nameToHandleAt: 303, openByHandleAt: 304}
	case "arm64":
		return sysnums{userfaultfd: 282, bpf: 280, perfEventOpen: 241, keyctl: 219, addKey: 217, nameToHandleAt: 264, openByHandleAt: 265}
	}
	return sysnums{}
}()

// Syscalls added after Linux 5.0 have the same number on every architecture.
const (
	sysIOUringSetup = 425
	sysFsopen       = 430
	sysFsconfig     = 431
)

const (
	atFDCWD            = ^uintptr(99) // AT_FDCWD (-100)
	cloneNewCgroup     = 0x02000000
	fsopenCloexec      = 0x1
	fsconfigCmdCreate  = 6
	afVsock            = 40
	afAlg              = 38
	ethPAll            = 0x0003
	bpfMapCreate       = 0
	bpfMapTypeArray    = 2
	perfTypeSoftware   = 1
	perfSwCPUClock     = 0
	perfFlagFDCloexec  = 0x8
	keyctlJoinSession  = 1
	keyctlUnlink       = 9
	keyctlInvalidate   = 21
	keySpecProcessRing = ^uintptr(1) // KEY_SPEC_PROCESS_KEYRING (-2)
	ptraceSeize        = 0x4206
	ptraceInterrupt    = 0x4207
	sigSetmask         = 2 // SIG_SETMASK
	wALL               = 0x40000000
	mntDetach          = 0x2
)

// errUnknownSyscall is reported when nr has no number for this architecture.
var errUnknownSyscall = fmt.Errorf("syscall number unknown on %s", runtime.GOARCH)

func closeFD(fd uintptr) { syscall.Close(int(fd)) }

// Attempts. Each returns its outcome without the name, which runAttempt sets.

// attemptUnshareMount unshares a user and a mount namespace in a child and mounts a tmpfs there.
func attemptUnshareMount(*options) Attempt {
	dir, cleanup := scratchDir("probe-mnt-")
	defer cleanup()
	b, err := newRawBuilder()
	if err != nil {
		return failure("setting up the child", err)
	}
	defer b.close()
	b.step("unshare(CLONE_NEWUSER|CLONE_NEWNS)", syscall.SYS_UNSHARE, syscall.CLONE_NEWUSER|syscall.CLONE_NEWNS)
	b.makePrivate()
	b.step("mount tmpfs on "+dir, syscall.SYS_MOUNT, b.cstr("probe"), b.cstr(dir), b.cstr("tmpfs"),
		syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, b.cstr("size=64k,mode=0700")).
		undo(syscall.SYS_UMOUNT2, b.cstr(dir), mntDetach)
	out, err := b.run(10 * time.Second)
	if err != nil {
		return failure("child", err)
	}
	if out.failed() {
		return Attempt{Errno: errnoName(out.errno), Detail: out.failure()}
	}
	return success(fmt.Sprintf("unshare(CLONE_NEWUSER|CLONE_NEWNS) and mount tmpfs on %s succeeded in a child; %s, namespaces discarded", dir, out.undoSummary("unmounted")))
}

// attemptReleaseAgent looks for a cgroup v1 release_agent it could write (CVE-2022-0492): the
// host's, then one in a cgroup v1 hierarchy mounted in a child's new namespaces.
func attemptReleaseAgent(*options) Attempt {
	var notes []string
	var first syscall.Errno
	paths, _ := filepath.Glob("/sys/fs/cgroup/*/release_agent")
	paths = append([]string{"/sys/fs/cgroup/release_agent"}, paths...)
	failed := map[string][]string{} // error description -> paths
	var order []string
	for _, p := range paths {
		fd, err := syscall.Open(p, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
		if err == nil {
			syscall.Close(fd)
			return success(fmt.Sprintf("open %s O_WRONLY succeeded (closed, nothing written)", p))
		}
		if errnoOf(err) == syscall.ENOENT && p == "/sys/fs/cgroup/release_agent" {
			continue // the usual layout: one directory per hierarchy
		}
		if first == 0 {
			first = errnoOf(err)
		}
		key := describe("", err)
		if _, seen := failed[key]; !seen {
			order = append(order, key)
		}
		failed[key] = append(failed[key], p)
	}
	for _, key := range order {
		notes = append(notes, "open O_WRONLY "+strings.Join(failed[key], ", ")+key)
	}
	if len(notes) == 0 {
		notes = append(notes, "no release_agent under /sys/fs/cgroup")
	}

	opts, ok := cgroupV1Hierarchy()
	if !ok {
		if first == 0 {
			first = syscall.ENOENT
		}
		notes = append(notes, "no cgroup v1 hierarchy in /proc/self/cgroup (cgroup v2 only): nothing to mount")
		return Attempt{Errno: errnoName(first), Detail: strings.Join(notes, "; ")}
	}
	// The public exploit's path: unshare -UrmC, then mount. A container that may not create
	// user namespaces but has CAP_SYS_ADMIN gets the second path.
	var userNSErr syscall.Errno
	for i, path := range []struct {
		name  string
		flags uintptr
	}{
		{"unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWCGROUP)", syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | cloneNewCgroup},
		{"unshare(CLONE_NEWNS|CLONE_NEWCGROUP)", syscall.CLONE_NEWNS | cloneNewCgroup},
	} {
		out, err := releaseAgentChild(path.name, path.flags, opts)
		if err != nil {
			notes = append(notes, describe("child", err))
			return Attempt{Errno: errnoName(first), Detail: strings.Join(notes, "; ")}
		}
		if !out.failed() {
			notes = append(notes, fmt.Sprintf("%s, mount cgroup -o %s and open release_agent O_WRONLY succeeded in a child (closed, nothing written; %s)",
				path.name, opts, out.undoSummary("unmounted")))
			return Attempt{OK: true, Detail: strings.Join(notes, "; ")}
		}
		notes = append(notes, out.failure())
		if out.done > 0 {
			// Got past unshare: the step that failed is decisive.
			return Attempt{Errno: errnoName(out.errno), Detail: strings.Join(notes, "; ")}
		}
		if i == 0 {
			userNSErr = out.errno
		}
	}
	// Neither path could unshare: report the user-namespace path, the exploit's.
	return Attempt{Errno: errnoName(userNSErr), Detail: strings.Join(notes, "; ")}
}

// releaseAgentChild runs unshare(flags), a cgroup v1 mount with opts and an open of its
// release_agent in a child.
func releaseAgentChild(unshareName string, flags uintptr, opts string) (rawOutcome, error) {
	dir, cleanup := scratchDir("probe-cgroup-")
	defer cleanup()
	b, err := newRawBuilder()
	if err != nil {
		return rawOutcome{}, err
	}
	defer b.close()
	b.step(unshareName, syscall.SYS_UNSHARE, flags)
	b.makePrivate()
	b.step("mount cgroup -o "+opts+" on "+dir, syscall.SYS_MOUNT, b.cstr("cgroup"), b.cstr(dir), b.cstr("cgroup"),
		syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, b.cstr(opts)).
		undo(syscall.SYS_UMOUNT2, b.cstr(dir), mntDetach)
	agent := filepath.Join(dir, "release_agent")
	b.step("open "+agent+" O_WRONLY", syscall.SYS_OPENAT, atFDCWD, b.cstr(agent), syscall.O_WRONLY|syscall.O_CLOEXEC, 0).
		undoFD(syscall.SYS_CLOSE)
	return b.run(10 * time.Second)
}

// cgroupV1Hierarchy picks an existing cgroup v1 hierarchy from /proc/self/cgroup and returns
// its mount options. Mounting an existing hierarchy creates no new kernel cgroup root.
// Preferred: one where the process sits at the hierarchy root (only the root has a
// release_agent), rdma first (the exploit's choice), controllers before named hierarchies.
func cgroupV1Hierarchy() (string, bool) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false
	}
	return pickCgroupV1(string(data))
}

// pickCgroupV1 chooses the hierarchy for cgroupV1Hierarchy from /proc/self/cgroup's content.
func pickCgroupV1(data string) (string, bool) {
	type cand struct {
		opts  string
		score int
		order int
	}
	var cands []cand
	for i, line := range strings.Split(strings.TrimSpace(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[0] == "0" || parts[1] == "" {
			continue
		}
		c := cand{opts: parts[1], order: i}
		if strings.HasPrefix(parts[1], "name=") {
			c.opts = "none," + parts[1]
			c.score += 2
		}
		if parts[2] != "/" {
			c.score += 4
		}
		if !strings.Contains(","+parts[1]+",", ",rdma,") {
			c.score++
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		return "", false
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score < cands[j].score })
	return cands[0].opts, true
}

// attemptFsopen creates a tmpfs superblock through the new mount API (the CVE-2022-0185 entry
// point) and drops it without mounting it.
func attemptFsopen(*options) Attempt {
	fs, err := syscall.BytePtrFromString("tmpfs")
	if err != nil {
		return failure("fsopen", err)
	}
	fd, _, e := syscall.Syscall(sysFsopen, uintptr(unsafe.Pointer(fs)), fsopenCloexec, 0)
	if e != 0 {
		return failure(`fsopen("tmpfs")`, e)
	}
	defer closeFD(fd)
	if _, _, e := syscall.Syscall6(sysFsconfig, fd, fsconfigCmdCreate, 0, 0, 0, 0); e != 0 {
		return failure(`fsopen("tmpfs") succeeded; fsconfig(FSCONFIG_CMD_CREATE)`, e)
	}
	return success(`fsopen("tmpfs") and fsconfig(FSCONFIG_CMD_CREATE) succeeded (superblock never mounted, fd closed)`)
}

// ioUringSetup calls io_uring_setup with one entry; the caller closes the descriptor.
func ioUringSetup() (uintptr, syscall.Errno) {
	var params [15]uint64 // struct io_uring_params, 120 bytes
	fd, _, e := syscall.Syscall(sysIOUringSetup, 1, uintptr(unsafe.Pointer(&params)), 0)
	return fd, e
}

// ioUringSetupFallback is the io_uring_setup of io_uring-fallback; tests replace it.
var ioUringSetupFallback = ioUringSetup

func attemptIOUringSetup(*options) Attempt {
	fd, e := ioUringSetup()
	if e != 0 {
		return failure("io_uring_setup(1)", e)
	}
	closeFD(fd)
	return success("io_uring_setup(1) returned a ring (closed)")
}

func attemptUserfaultfd(*options) Attempt {
	if nr.userfaultfd == 0 {
		return failure("userfaultfd", errUnknownSyscall)
	}
	fd, _, e := syscall.Syscall(nr.userfaultfd, syscall.O_CLOEXEC, 0, 0)
	if e != 0 {
		return failure("userfaultfd(O_CLOEXEC)", e)
	}
	closeFD(fd)
	return success("userfaultfd(O_CLOEXEC) returned a descriptor (closed)")
}

// attemptBPF creates a one-element array map.
func attemptBPF(*options) Attempt {
	if nr.bpf == 0 {
		return failure("bpf", errUnknownSyscall)
	}
	var attr [20]uint32 // union bpf_attr, BPF_MAP_CREATE part; the kernel zero-fills the rest
	attr[0], attr[1], attr[2], attr[3] = bpfMapTypeArray, 4, 4, 1
	fd, _, e := syscall.Syscall(nr.bpf, bpfMapCreate, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if e != 0 {
		return failure("bpf(BPF_MAP_CREATE, array 4/4/1)", e)
	}
	closeFD(fd)
	return success("bpf(BPF_MAP_CREATE) created a one-element array map (closed)")
}

// attemptPerfEventOpen opens a disabled software CPU-clock counter for the calling thread.
func attemptPerfEventOpen(*options) Attempt {
	if nr.perfEventOpen == 0 {
		return failure("perf_event_open", errUnknownSyscall)
	}
	var attr [8]uint64 // struct perf_event_attr, PERF_ATTR_SIZE_VER0 (64 bytes)
	attr[0] = perfTypeSoftware | uint64(unsafe.Sizeof(attr))<<32
	attr[1] = perfSwCPUClock
	attr[5] = 1<<0 | 1<<5 | 1<<6 // disabled, exclude_kernel, exclude_hv
	minus1 := ^uintptr(0)
	fd, _, e := syscall.Syscall6(nr.perfEventOpen, uintptr(unsafe.Pointer(&attr)), 0, minus1, minus1, perfFlagFDCloexec, 0)
	if e != 0 {
		return failure("perf_event_open(PERF_COUNT_SW_CPU_CLOCK, this thread)", e)
	}
	closeFD(fd)
	return success("perf_event_open(PERF_COUNT_SW_CPU_CLOCK) for this thread returned a counter (closed)")
}

func attemptKeyctl(*options) Attempt {
	if nr.keyctl == 0 {
		return failure("keyctl", errUnknownSyscall)
	}
	serial, _, e := syscall.Syscall(nr.keyctl, keyctlJoinSession, 0, 0)
	if e != 0 {
		return failure("keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)", e)
	}
	return success(fmt.Sprintf("keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL) joined new anonymous session keyring %d (private to the probe process)", int32(serial)))
}

// attemptAddKey adds a "user" key to the process keyring and invalidates it again.
func attemptAddKey(*options) Attempt {
	if nr.addKey == 0 {
		return failure("add_key", errUnknownSyscall)
	}
	typ, _ := syscall.BytePtrFromString("user")
	desc, _ := syscall.BytePtrFromString("hardened-probe")
	payload := []byte("x")
	serial, _, e := syscall.Syscall6(nr.addKey, uintptr(unsafe.Pointer(typ)), uintptr(unsafe.Pointer(desc)),
		uintptr(unsafe.Pointer(&payload[0])), uintptr(len(payload)), keySpecProcessRing, 0)
	if e != 0 {
		return failure(`add_key("user", KEY_SPEC_PROCESS_KEYRING)`, e)
	}
	cleanup := "invalidated"
	if _, _, e := syscall.Syscall(nr.keyctl, keyctlInvalidate, serial, 0); e != 0 {
		if _, _, e2 := syscall.Syscall(nr.keyctl, keyctlUnlink, serial, keySpecProcessRing); e2 != 0 {
			cleanup = fmt.Sprintf("left in the process keyring until exit (invalidate: %s, unlink: %s)", errnoName(e), errnoName(e2))
		} else {
			cleanup = "unlinked"
		}
	}
	return success(fmt.Sprintf(`add_key("user", "hardened-probe") into the process keyring returned key %d (%s)`, int32(serial), cleanup))
}

// attemptPtrace forks a sleeping child and tries to trace it.
func attemptPtrace(*options) Attempt {
	// ptrace requests must come from the tracing thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b, err := newRawBuilder()
	if err != nil {
		return failure("setting up the child", err)
	}
	defer b.close()
	ts := b.alloc(16) // struct timespec{5, 0}
	*(*int64)(unsafe.Pointer(&ts[0])) = 5
	b.step("nanosleep(5s)", syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts[0])), 0)
	pid, err := b.start()
	if err != nil {
		return failure("fork", err)
	}
	_, _, e := syscall.RawSyscall6(syscall.SYS_PTRACE, ptraceSeize, uintptr(pid), 0, 0, 0, 0)
	var stopped, detached, reaped bool
	if e == 0 {
		// Stop it so that it can be detached; killing it would detach it anyway.
		if _, _, e2 := syscall.RawSyscall6(syscall.SYS_PTRACE, ptraceInterrupt, uintptr(pid), 0, 0, 0, 0); e2 == 0 {
			stopped, reaped = waitStopped(pid, 2*time.Second)
			if stopped {
				_, _, e3 := syscall.RawSyscall6(syscall.SYS_PTRACE, syscall.PTRACE_DETACH, uintptr(pid), 0, 0, 0, 0)
				detached = e3 == 0
			}
		}
	}
	if !reaped { // a reaped PID may already belong to another process
		syscall.Kill(pid, syscall.SIGKILL)
		_, reaped = reap(pid, time.Now().Add(5*time.Second))
	}
	if e != 0 {
		return failure(fmt.Sprintf("ptrace(PTRACE_SEIZE, child %d)", pid), e)
	}
	return success(fmt.Sprintf("ptrace(PTRACE_SEIZE) of child %d succeeded (interrupted %v, detached %v, killed, reaped %v)", pid, stopped, detached, reaped))
}

// waitStopped waits until the traced pid reports a stop. It also says whether the child turned
// out to have exited instead, and was reaped.
func waitStopped(pid int, limit time.Duration) (stopped, reaped bool) {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG|wALL, nil)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return false, true // ECHILD: nothing left to reap
		case got == pid && ws.Stopped():
			return true, false
		case got == pid:
			return false, true
		}
	}
	return false, false
}

func socketAttempt(what string, domain, typ, proto int) Attempt {
	fd, err := syscall.Socket(domain, typ|syscall.SOCK_CLOEXEC, proto)
	if err != nil {
		return failure(what, err)
	}
	syscall.Close(fd)
	return success(what + " succeeded (closed)")
}

func attemptAFPacket(*options) Attempt {
	return socketAttempt("socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL))", syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(ethPAll)))
}

func attemptAFVsock(*options) Attempt {
	return socketAttempt("socket(AF_VSOCK, SOCK_STREAM, 0)", afVsock, syscall.SOCK_STREAM, 0)
}

func attemptAFAlg(*options) Attempt {
	return socketAttempt("socket(AF_ALG, SOCK_SEQPACKET, 0)", afAlg, syscall.SOCK_SEQPACKET, 0)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// attemptSysrq only opens /proc/sysrq-trigger for writing; it never writes a command.
func attemptSysrq(*options) Attempt {
	fd, err := syscall.Open("/proc/sysrq-trigger", syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return failure("open /proc/sysrq-trigger O_WRONLY", err)
	}
	syscall.Close(fd)
	return success("open /proc/sysrq-trigger O_WRONLY succeeded (closed, nothing written)")
}

func attemptKcore(*options) Attempt {
	fd, err := syscall.Open("/proc/kcore", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return failure("open /proc/kcore", err)
	}
	defer syscall.Close(fd)
	var b [1]byte
	n, err := syscall.Read(fd, b[:])
	if err != nil {
		return failure("open /proc/kcore succeeded; read", err)
	}
	if n != 1 {
		return Attempt{Detail: fmt.Sprintf("open /proc/kcore succeeded; read returned %d bytes", n)}
	}
	return success("open /proc/kcore and read 1 byte succeeded")
}

// attemptMknod creates the block device node 7:0 (loop0) in a scratch directory and removes it.
func attemptMknod(*options) Attempt {
	dir, cleanup := scratchDir("probe-mknod-")
	defer cleanup()
	p := filepath.Join(dir, "probe-loop0")
	err := syscall.Mknod(p, syscall.S_IFBLK|0o600, int(mkdev(7, 0)))
	if err != nil {
		return failure("mknod "+p+" b 7 0", err)
	}
	rm := "removed"
	if err := os.Remove(p); err != nil {
		rm = "not removed: " + err.Error()
	}
	return success(fmt.Sprintf("mknod %s b 7 0 succeeded (%s)", p, rm))
}

func mkdev(major, minor uint64) uint64 {
	return (minor & 0xff) | (major&0xfff)<<8 | (minor&^0xff)<<12 | (major&^0xfff)<<32
}

// fileHandle is struct file_handle with room for MAX_HANDLE_SZ bytes.
type fileHandle struct {
	bytes uint32
	typ   int32
	data  [128]byte
}

// attemptOpenByHandle gets a handle of "/" (or a file the runtime bind-mounts from the host) and
// opens it by handle, as the "shocker" escape does.
func attemptOpenByHandle(*options) Attempt {
	if nr.nameToHandleAt == 0 || nr.openByHandleAt == 0 {
		return failure("name_to_handle_at", errUnknownSyscall)
	}
	var notes []string
	var lastErr syscall.Errno
	for _, p := range []string{"/", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"} {
		path, err := syscall.BytePtrFromString(p)
		if err != nil {
			continue
		}
		fh := &fileHandle{bytes: uint32(len(fileHandle{}.data))}
		var mountID int32
		_, _, e := syscall.Syscall6(nr.nameToHandleAt, atFDCWD, uintptr(unsafe.Pointer(path)),
			uintptr(unsafe.Pointer(fh)), uintptr(unsafe.Pointer(&mountID)), 0, 0)
		if e != 0 {
			notes = append(notes, describe("name_to_handle_at "+p, e))
			lastErr = e
			if e == syscall.EPERM || e == syscall.ENOSYS {
				break // the syscall itself is blocked
			}
			continue
		}
		mfd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			notes = append(notes, describe("open "+p+" (mount fd)", err))
			lastErr = errnoOf(err)
			continue
		}
		fd, _, e := syscall.Syscall(nr.openByHandleAt, uintptr(mfd), uintptr(unsafe.Pointer(fh)), syscall.O_RDONLY|syscall.O_CLOEXEC)
		syscall.Close(mfd)
		if e != 0 {
			notes = append(notes, describe("name_to_handle_at "+p+" succeeded; open_by_handle_at", e))
			return Attempt{Errno: errnoName(e), Detail: strings.Join(notes, "; ")}
		}
		closeFD(fd)
		notes = append(notes, fmt.Sprintf("name_to_handle_at and open_by_handle_at of %s succeeded (closed)", p))
		return Attempt{OK: true, Detail: strings.Join(notes, "; ")}
	}
	return Attempt{Errno: errnoName(lastErr), Detail: strings.Join(notes, "; ")}
}

// writeTestPath is in the container's root directory, not in a volume or tmpfs.
const writeTestPath = "/.probe-write-test"

func attemptWriteRootfs(*options) Attempt {
	fd, err := syscall.Open(writeTestPath, syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		if errnoOf(err) == syscall.EEXIST {
			return failure("create "+writeTestPath+" (it exists already and is left alone)", err)
		}
		return failure("create "+writeTestPath, err)
	}
	_, werr := syscall.Write(fd, []byte("probe\n"))
	syscall.Close(fd)
	rm := "removed"
	if err := syscall.Unlink(writeTestPath); err != nil {
		rm = describe("unlink", err)
	}
	if werr != nil {
		return success(fmt.Sprintf("created %s, %s, %s", writeTestPath, describe("write", werr), rm))
	}
	return success(fmt.Sprintf("created and wrote %s (%s)", writeTestPath, rm))
}

// attemptHostRoot reports whether the probe's root is the host's: it
// "succeeds" when container UID 0 maps to host UID 0 (/proc/self/uid_map),
// so that a breakout would land as host root.
func attemptHostRoot(*options) Attempt {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return failure("read /proc/self/uid_map", err)
	}
	return hostRootOf(string(b))
}

func hostRootOf(uidMap string) Attempt {
	for _, line := range strings.Split(uidMap, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		inside, err1 := strconv.ParseUint(f[0], 10, 32)
		host, err2 := strconv.ParseUint(f[1], 10, 32)
		size, err3 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if inside == 0 && size > 0 {
			if host == 0 {
				return success("container root is host root (uid_map " + strings.Join(f, " ") + ")")
			}
			return Attempt{Detail: fmt.Sprintf("container root is host uid %d (uid_map %s)", host, strings.Join(f, " "))}
		}
	}
	return Attempt{Detail: "container root maps to no host uid"}
}

// attemptSetuidGain runs the set-user-ID root helper and reports whether it ran as root.
func attemptSetuidGain(o *options) Attempt {
	if os.Getuid() == 0 {
		return Attempt{Detail: "running as root: not applicable"}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(o.setuidHelper, &st); err != nil {
		return failure("stat "+o.setuidHelper, err)
	}
	mode := fmt.Sprintf("mode %o, owner %d", st.Mode&0o7777, st.Uid)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.setuidHelper)
	var stdout, stderr bytes.Buffer
	// A reader rather than nil: nil would need /dev/null, which a bare root may lack.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(nil), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return Attempt{Detail: fmt.Sprintf("%s (%s) did not finish within 5s", o.setuidHelper, mode)}
		}
		return failure(fmt.Sprintf("exec %s (%s)", o.setuidHelper, mode), err)
	}
	out := strings.TrimSpace(stdout.String())
	v, found := strings.CutPrefix(out, "Effective uid: ")
	euid, err := strconv.Atoi(strings.TrimSpace(v))
	if !found || err != nil {
		return Attempt{Detail: fmt.Sprintf("%s (%s) printed %q, not \"Effective uid: N\"", o.setuidHelper, mode, out)}
	}
	detail := fmt.Sprintf("%s (%s) run by uid %d printed %q", o.setuidHelper, mode, os.Getuid(), out)
	if euid == 0 {
		return success(detail + ": set-user-ID root honoured")
	}
	return Attempt{Detail: detail + ": set-user-ID not honoured"}
}

// attemptIOUringFallback behaves like a program that prefers io_uring and falls back to
// read(2) when the kernel says ENOSYS.
func attemptIOUringFallback(*options) Attempt {
	fd, e := ioUringSetupFallback()
	switch e {
	case 0:
		closeFD(fd)
		return success("io_uring")
	case syscall.ENOSYS:
		var notes []string
		var last syscall.Errno
		for _, p := range []string{"/etc/hostname", "/proc/sys/kernel/hostname"} {
			if _, err := os.ReadFile(p); err != nil {
				notes = append(notes, describe("read "+p, err))
				last = errnoOf(err)
				continue
			}
			detail := "fell back to read(2)"
			if p != "/etc/hostname" {
				detail += " of " + p + " (" + strings.Join(notes, "; ") + ")"
			}
			return success(detail)
		}
		return Attempt{Errno: errnoName(last), Detail: "io_uring_setup: ENOSYS; fallback failed: " + strings.Join(notes, "; ")}
	default:
		return failure("io_uring_setup(1) (only ENOSYS triggers the fallback)", e)
	}
}

// scratchDir creates a fresh temporary directory; when it cannot (read-only file systems), it
// returns an existing directory, which is fine for the callers: they mount only in a private
// mount namespace and create only uniquely named entries they remove again.
func scratchDir(prefix string) (string, func()) {
	for _, parent := range []string{os.TempDir(), "/dev/shm", "/tmp", "/run"} {
		if d, err := os.MkdirTemp(parent, prefix); err == nil {
			return d, func() { os.Remove(d) }
		}
	}
	if st, err := os.Stat(os.TempDir()); err == nil && st.IsDir() {
		return os.TempDir(), func() {}
	}
	return "/", func() {}
}

// Raw children.
//
// Some attempts need a child process that runs a few syscalls without the Go runtime:
// unshare(CLONE_NEWUSER) refuses multi-threaded callers, and a sleeping ptrace target should not
// need an executable. rawBuilder describes the syscalls; the child is a plain fork (clone with
// SIGCHLD, without CLONE_VM) that only runs nosplit code and raw syscalls, like the child half of
// syscall.forkAndExecInChild, and reports through a shared anonymous mapping. Everything the
// syscalls point to lives in that mapping too, outside the Go heap, so that no pointer can move
// between building the program and the fork.

const (
	maxRawSteps = 6
	rawArena    = 8192
	rawDoneMark = 0x70726f6265646f6e // "probedon"
)

type rawStep struct {
	trap     uintptr
	args     [6]uintptr
	undoTrap uintptr // run in reverse order for every step that succeeded; 0 for none
	undoArgs [6]uintptr
	undoRes  bool // undoArgs[0] is this step's result (a file descriptor)
}

type rawProgram struct {
	n     int
	steps [maxRawSteps]rawStep
}

// rawReport is what the child writes at the start of the shared mapping.
type rawReport struct {
	done  uint64              // steps that succeeded
	errno uint64              // errno of step done, when done < n
	undo  [maxRawSteps]uint64 // errno of each undo syscall
	mark  uint64              // rawDoneMark once the child has finished
}

// Offsets in the shared mapping.
const (
	offSigset = 256 // all signals, blocked around the fork
	offOldset = 264 // the thread's previous mask
	offData   = 512 // strings and structures the syscalls point to
)

type rawBuilder struct {
	mem   []byte
	off   int
	prog  rawProgram
	names []string
}

func newRawBuilder() (*rawBuilder, error) {
	mem, err := syscall.Mmap(-1, 0, rawArena, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	for i := offSigset; i < offSigset+8; i++ {
		mem[i] = 0xff
	}
	return &rawBuilder{mem: mem, off: offData}, nil
}

func (b *rawBuilder) close() { syscall.Munmap(b.mem) }

// alloc returns n zeroed, 8-byte aligned bytes of the shared mapping.
func (b *rawBuilder) alloc(n int) []byte {
	start := (b.off + 7) &^ 7
	if start+n > len(b.mem) {
		panic("probe: raw child arena exhausted")
	}
	b.off = start + n
	return b.mem[start : start+n : start+n]
}

// cstr copies s, NUL-terminated, into the mapping and returns its address.
func (b *rawBuilder) cstr(s string) uintptr {
	buf := b.alloc(len(s) + 1)
	copy(buf, s)
	return uintptr(unsafe.Pointer(&buf[0]))
}

// step appends a syscall; name describes it in reports.
func (b *rawBuilder) step(name string, trap uintptr, args ...uintptr) *rawStep {
	if b.prog.n == maxRawSteps || len(args) > 6 {
		panic("probe: raw child program too long")
	}
	s := &b.prog.steps[b.prog.n]
	s.trap = trap
	copy(s.args[:], args)
	b.prog.n++
	b.names = append(b.names, name)
	return s
}

func (s *rawStep) undo(trap uintptr, args ...uintptr) *rawStep {
	s.undoTrap = trap
	copy(s.undoArgs[:], args)
	return s
}

func (s *rawStep) undoFD(trap uintptr) *rawStep {
	s.undoTrap = trap
	s.undoRes = true
	return s
}

// makePrivate adds "mount --make-rprivate /": mounts of the new namespace must never propagate
// back (a mount namespace unshared without a new user namespace keeps shared peer groups).
func (b *rawBuilder) makePrivate() {
	b.step("mount --make-rprivate /", syscall.SYS_MOUNT, b.cstr("none"), b.cstr("/"), 0, syscall.MS_REC|syscall.MS_PRIVATE, 0)
}

func (b *rawBuilder) report() *rawReport { return (*rawReport)(unsafe.Pointer(&b.mem[0])) }

// start forks the child, which runs the program and exits.
func (b *rawBuilder) start() (int, error) {
	runtime.LockOSThread() // the signal mask is per thread
	defer runtime.UnlockOSThread()
	pid, e := rawFork(&b.prog, b.report(), uintptr(unsafe.Pointer(&b.mem[offSigset])), uintptr(unsafe.Pointer(&b.mem[offOldset])))
	runtime.KeepAlive(b)
	if e != 0 {
		return 0, e
	}
	return int(pid), nil
}

// run starts the child and waits for it; after timeout it is killed.
func (b *rawBuilder) run(timeout time.Duration) (rawOutcome, error) {
	pid, err := b.start()
	if err != nil {
		return rawOutcome{}, fmt.Errorf("fork: %w", err)
	}
	killed, _ := reap(pid, time.Now().Add(timeout))
	rep := b.report()
	out := rawOutcome{names: b.names, n: b.prog.n}
	if rep.mark != rawDoneMark {
		if killed {
			return out, fmt.Errorf("child %d did not finish within %s and was killed", pid, timeout)
		}
		return out, fmt.Errorf("child %d exited without a report", pid)
	}
	out.done = int(rep.done)
	out.errno = syscall.Errno(rep.errno)
	for i := 0; i < out.done && i < maxRawSteps; i++ {
		out.undo = append(out.undo, syscall.Errno(rep.undo[i]))
	}
	return out, nil
}

// rawOutcome is the parent's view of a finished child.
type rawOutcome struct {
	names []string
	n     int
	done  int
	errno syscall.Errno
	undo  []syscall.Errno
}

func (o rawOutcome) failed() bool { return o.done < o.n }

// failure describes the failed step, prefixed by its name.
func (o rawOutcome) failure() string {
	if !o.failed() {
		return ""
	}
	prefix := ""
	if o.done > 0 {
		prefix = strings.Join(o.names[:o.done], ", ") + " succeeded; "
	}
	return prefix + describe(o.names[o.done], o.errno)
}

// undoSummary says how the clean-up syscalls went.
func (o rawOutcome) undoSummary(what string) string {
	for _, e := range o.undo {
		if e != 0 {
			return "clean-up failed: " + errnoName(e)
		}
	}
	return what
}

// reap waits for pid until deadline, then kills it and waits up to 5 more seconds. It reports
// whether the child had to be killed and whether it was reaped.
func reap(pid int, deadline time.Time) (killed, reaped bool) {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG|wALL, nil)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return killed, false // ECHILD: already gone
		case got == pid && !ws.Stopped():
			return killed, true
		}
		if time.Now().After(deadline) {
			if killed {
				return true, false
			}
			syscall.Kill(pid, syscall.SIGKILL)
			killed = true
			deadline = time.Now().Add(5 * time.Second)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawFork blocks all signals of the calling (locked) thread, forks, and restores the mask in the
// parent. The child runs rawChild and never returns from here. Nothing between the fork and
// the child's exit may allocate, grow the stack or take a lock: only nosplit code and raw
// syscalls run there.
//
//go:noinline
//go:norace
//go:nocheckptr
func rawFork(p *rawProgram, rep *rawReport, sigset, oldset uintptr) (uintptr, syscall.Errno) {
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, sigSetmask, sigset, oldset, 8, 0, 0); e != 0 {
		return 0, e
	}
	pid, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 || pid != 0 {
		syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, sigSetmask, oldset, 0, 8, 0, 0)
		return pid, e
	}
	rawChild(p, rep)
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 127, 0, 0)
	}
}

// rawChild runs the program's steps until one fails, undoes the successful ones in reverse
// order, writes the report and exits. Signals stay blocked (SIGKILL still works).
//
//go:nosplit
//go:norace
//go:nocheckptr
func rawChild(p *rawProgram, rep *rawReport) {
	var res [maxRawSteps]uintptr
	n := p.n
	if n > maxRawSteps {
		n = maxRawSteps
	}
	i := 0
	for i < n {
		s := &p.steps[i]
		r, _, e := syscall.RawSyscall6(s.trap, s.args[0], s.args[1], s.args[2], s.args[3], s.args[4], s.args[5])
		if e != 0 {
			rep.errno = uint64(e)
			break
		}
		res[i] = r
		i++
	}
	rep.done = uint64(i)
	for j := i - 1; j >= 0; j-- {
		s := &p.steps[j]
		if s.undoTrap == 0 {
			continue
		}
		a0 := s.undoArgs[0]
		if s.undoRes {
			a0 = res[j]
		}
		_, _, e := syscall.RawSyscall6(s.undoTrap, a0, s.undoArgs[1], s.undoArgs[2], s.undoArgs[3], s.undoArgs[4], s.undoArgs[5])
		rep.undo[j] = uint64(e)
	}
	rep.mark = rawDoneMark
	syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
}

//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// wantNames are the attempt names the tests of the hardened runtime rely on, in output order.
var wantNames = []string{
	"unshare-userns-mount", "cgroup-release-agent", "fsopen", "io_uring_setup", "userfaultfd", "bpf",
	"perf_event_open", "keyctl", "add_key", "ptrace-sibling", "af-packet", "af-vsock", "af-alg",
	"sysrq-trigger", "proc-kcore", "mknod-block", "open_by_handle_at", "write-rootfs", "setuid-gain",
	"io_uring-fallback", "host-root",
}

// Environment of the test binary when it runs as the probe (see TestMain).
const (
	envMode    = "PROBE_TEST_MODE"    // "run": behave as the probe with os.Args[1:]
	envSeccomp = "PROBE_TEST_SECCOMP" // "1": install testFilter first
	envNNP     = "PROBE_TEST_NNP"     // "1": set no_new_privs (on every thread) first
)

// TestMain lets the test binary stand in for the probe and for the set-user-ID nnp helper in the
// tests that need another process (another user, a seccomp filter, a set-user-ID program).
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "nnp" {
		fmt.Printf("Effective uid: %d\n", os.Geteuid())
		os.Exit(0)
	}
	if os.Getenv(envMode) == "run" {
		if os.Getenv(envNNP) == "1" {
			// no_new_privs is per thread, and the runtime's other threads already exist:
			// set it on this thread and re-execute from it, so that every thread has it.
			runtime.LockOSThread()
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				fmt.Fprintln(os.Stderr, "no_new_privs:", err)
				os.Exit(3)
			}
			os.Setenv(envNNP, "set")
			err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
			fmt.Fprintln(os.Stderr, "re-executing with no_new_privs:", err)
			os.Exit(3)
		}
		if os.Getenv(envSeccomp) == "1" {
			// The filter's TSYNC flag also gives every thread no_new_privs.
			runtime.LockOSThread()
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				fmt.Fprintln(os.Stderr, "no_new_privs:", err)
				os.Exit(3)
			}
			if err := installTestFilter(); err != nil {
				fmt.Fprintln(os.Stderr, "seccomp:", err)
				os.Exit(3)
			}
		}
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// installTestFilter installs, on every thread, a seccomp filter shaped like the hardened
// runtime's additions: io_uring_setup fails with ENOSYS; userfaultfd, bpf, perf_event_open,
// keyctl, add_key and ptrace with EPERM; unshare with EPERM when it asks for a namespace.
func installTestFilter() error {
	const (
		ld   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
	)
	retErrno := func(e syscall.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }
	prog := []unix.SockFilter{{Code: ld, K: 0}} // seccomp_data.nr
	for _, r := range []struct {
		nr uint32
		e  syscall.Errno
	}{
		{unix.SYS_IO_URING_SETUP, unix.ENOSYS},
		{unix.SYS_USERFAULTFD, unix.EPERM},
		{unix.SYS_BPF, unix.EPERM},
		{unix.SYS_PERF_EVENT_OPEN, unix.EPERM},
		{unix.SYS_KEYCTL, unix.EPERM},
		{unix.SYS_ADD_KEY, unix.EPERM},
		{unix.SYS_PTRACE, unix.EPERM},
	} {
		prog = append(prog, unix.SockFilter{Code: jeq, K: r.nr, Jt: 0, Jf: 1}, unix.SockFilter{Code: ret, K: retErrno(r.e)})
	}
	prog = append(prog,
		unix.SockFilter{Code: jeq, K: unix.SYS_UNSHARE, Jt: 0, Jf: 3},
		unix.SockFilter{Code: ld, K: 16}, // low half of args[0] (little endian)
		unix.SockFilter{Code: jset, K: 0x7E020000, Jt: 0, Jf: 1},
		unix.SockFilter{Code: ret, K: retErrno(unix.EPERM)},
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW},
	)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return e
	}
	return nil
}

func TestList(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-list"}, &out, &errOut); code != 0 {
		t.Fatalf("-list exited %d: %s", code, errOut.String())
	}
	if got := strings.Fields(out.String()); !slices.Equal(got, wantNames) {
		t.Fatalf("-list printed %q\nwant %q", got, wantNames)
	}
}

func TestOnly(t *testing.T) {
	sel, err := selectAttempts(" keyctl,bpf,,bpf ")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range sel {
		names = append(names, a.name)
	}
	if !slices.Equal(names, []string{"bpf", "keyctl"}) {
		t.Errorf("selectAttempts = %q, want [bpf keyctl] (output order, no duplicates)", names)
	}
	if sel, err := selectAttempts(""); err != nil || len(sel) != len(wantNames) {
		t.Errorf("empty -only selected %d attempts (%v), want all", len(sel), err)
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"-only", "bpf,nope"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown attempt "nope"`) || out.Len() != 0 {
		t.Errorf("-only with an unknown name: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"stray"}, io.Discard, &errOut); code != 2 {
		t.Errorf("stray argument: exit %d, want 2", code)
	}
	if code := run([]string{"-no-such-flag"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}

	out.Reset()
	if code := run([]string{"-only", "io_uring_setup,af-alg"}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	rep := decodeReport(t, out.Bytes())
	if len(rep.Attempts) != 2 || rep.Attempts[0].Name != "io_uring_setup" || rep.Attempts[1].Name != "af-alg" {
		t.Errorf("-only io_uring_setup,af-alg reported %+v", rep.Attempts)
	}
}

// TestJSONShape checks the exact shape of the output: one line holding one object with a
// status object of strings and an attempts array of {name, ok, errno, detail}.
func TestJSONShape(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-only", "io_uring_setup,setuid-gain,af-packet"}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Count(out.String(), "\n") != 1 || !strings.HasSuffix(out.String(), "\n") {
		t.Errorf("output is not one line: %q", out.String())
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !slices.Equal(keys, []string{"attempts", "status"}) {
		t.Fatalf("top-level keys %q", keys)
	}
	var status map[string]string
	if err := json.Unmarshal(top["status"], &status); err != nil {
		t.Fatalf("status is not an object of strings: %v", err)
	}
	for _, k := range []string{"CapEff", "CapBnd", "CapPrm", "CapAmb", "NoNewPrivs", "Seccomp", "Uid"} {
		if status[k] == "" {
			t.Errorf("status lacks %s: %v", k, status)
		}
	}
	for k := range status {
		if !slices.Contains(statusKeys, k) {
			t.Errorf("unexpected status key %q", k)
		}
	}
	if len(status["CapEff"]) != 16 || strings.Contains(status["Uid"], "\t") {
		t.Errorf("status values not normalised: %q", status)
	}
	var attempts []map[string]any
	if err := json.Unmarshal(top["attempts"], &attempts); err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 3 {
		t.Fatalf("%d attempts", len(attempts))
	}
	for _, a := range attempts {
		if len(a) != 4 {
			t.Errorf("attempt has keys %v, want exactly name, ok, errno, detail", a)
		}
		_, okName := a["name"].(string)
		_, okOK := a["ok"].(bool)
		_, okErrno := a["errno"].(string)
		_, okDetail := a["detail"].(string)
		if !okName || !okOK || !okErrno || !okDetail {
			t.Errorf("attempt %v: wrong field types", a)
		}
	}
}

func decodeReport(t *testing.T, data []byte) Report {
	t.Helper()
	var rep Report
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decoding %q: %v", data, err)
	}
	return rep
}

func TestErrnoNames(t *testing.T) {
	aliases := map[syscall.Errno]string{95: "EOPNOTSUPP", 117: "EUCLEAN"} // uapi names, see errnoNames
	for e := syscall.Errno(1); e <= 133; e++ {
		want := unix.ErrnoName(e)
		if a, ok := aliases[e]; ok {
			want = a
		}
		if want == "" {
			if got := errnoName(e); got != fmt.Sprintf("errno(%d)", int(e)) {
				t.Errorf("errnoName(%d) = %q for an unassigned number", int(e), got)
			}
			continue
		}
		if got := errnoName(e); got != want {
			t.Errorf("errnoName(%d) = %q, want %q (unix.ErrnoName)", int(e), got, want)
		}
	}
	if errnoName(0) != "" || errnoName(9999) != "errno(9999)" || errnoName(524) != "ENOTSUPP" {
		t.Errorf("errnoName(0) = %q, (9999) = %q, (524) = %q", errnoName(0), errnoName(9999), errnoName(524))
	}
	wrapped := &os.PathError{Op: "open", Path: "/x", Err: syscall.EROFS}
	if errnoOf(fmt.Errorf("outer: %w", wrapped)) != syscall.EROFS || errnoOf(io.EOF) != 0 {
		t.Error("errnoOf does not unwrap to the Errno")
	}
	a := failure("open /x", wrapped)
	if a.OK || a.Errno != "EROFS" || a.Detail != "open /x: EROFS (open /x: read-only file system)" {
		t.Errorf("failure() = %+v", a)
	}
}

// TestConstants checks the numbers the probe defines itself against golang.org/x/sys/unix.
func TestConstants(t *testing.T) {
	atFD, keyProc := unix.AT_FDCWD, unix.KEY_SPEC_PROCESS_KEYRING
	checks := []struct {
		name      string
		got, want uintptr
	}{
		{"userfaultfd", nr.userfaultfd, unix.SYS_USERFAULTFD},
		{"bpf", nr.bpf, unix.SYS_BPF},
		{"perf_event_open", nr.perfEventOpen, unix.SYS_PERF_EVENT_OPEN},
		{"keyctl", nr.keyctl, unix.SYS_KEYCTL},
		{"add_key", nr.addKey, unix.SYS_ADD_KEY},
		{"name_to_handle_at", nr.nameToHandleAt, unix.SYS_NAME_TO_HANDLE_AT},
		{"open_by_handle_at", nr.openByHandleAt, unix.SYS_OPEN_BY_HANDLE_AT},
		{"io_uring_setup", sysIOUringSetup, unix.SYS_IO_URING_SETUP},
		{"fsopen", sysFsopen, unix.SYS_FSOPEN},
		{"fsconfig", sysFsconfig, unix.SYS_FSCONFIG},
		{"AT_FDCWD", atFDCWD, uintptr(atFD)},
		{"CLONE_NEWCGROUP", cloneNewCgroup, unix.CLONE_NEWCGROUP},
		{"FSOPEN_CLOEXEC", fsopenCloexec, unix.FSOPEN_CLOEXEC},
		{"FSCONFIG_CMD_CREATE", fsconfigCmdCreate, unix.FSCONFIG_CMD_CREATE},
		{"AF_VSOCK", afVsock, unix.AF_VSOCK},
		{"AF_ALG", afAlg, unix.AF_ALG},
		{"ETH_P_ALL", ethPAll, unix.ETH_P_ALL},
		{"BPF_MAP_TYPE_ARRAY", bpfMapTypeArray, unix.BPF_MAP_TYPE_ARRAY},
		{"PERF_FLAG_FD_CLOEXEC", perfFlagFDCloexec, unix.PERF_FLAG_FD_CLOEXEC},
		{"KEYCTL_JOIN_SESSION_KEYRING", keyctlJoinSession, unix.KEYCTL_JOIN_SESSION_KEYRING},
		{"KEYCTL_UNLINK", keyctlUnlink, unix.KEYCTL_UNLINK},
		{"KEYCTL_INVALIDATE", keyctlInvalidate, unix.KEYCTL_INVALIDATE},
		{"KEY_SPEC_PROCESS_KEYRING", keySpecProcessRing, uintptr(keyProc)},
		{"PTRACE_SEIZE", ptraceSeize, unix.PTRACE_SEIZE},
		{"PTRACE_INTERRUPT", ptraceInterrupt, unix.PTRACE_INTERRUPT},
		{"SIG_SETMASK", sigSetmask, unix.SIG_SETMASK},
		{"__WALL", wALL, unix.WALL},
		{"MNT_DETACH", mntDetach, unix.MNT_DETACH},
		{"mkdev(7,0)", uintptr(mkdev(7, 0)), uintptr(unix.Mkdev(7, 0))},
		{"mkdev(4097,300)", uintptr(mkdev(4097, 300)), uintptr(unix.Mkdev(4097, 300))},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if htons(ethPAll) != 0x0300 {
		t.Errorf("htons(ETH_P_ALL) = %#x", htons(ethPAll))
	}
	if unsafe.Sizeof(fileHandle{}) != 8+128 { // MAX_HANDLE_SZ is 128
		t.Errorf("fileHandle is %d bytes", unsafe.Sizeof(fileHandle{}))
	}
}

func TestPickCgroupV1(t *testing.T) {
	cases := []struct {
		name, data, want string
		ok               bool
	}{
		{"cgroup v2 only", "0::/\n", "", false},
		{"rdma at the root wins", "12:name=systemd:/\n5:memory:/\n3:rdma:/\n0::/", "rdma", true},
		{"controllers before named", "12:name=systemd:/\n4:pids:/\n", "pids", true},
		{"hierarchy root first", "4:memory:/pod/c1\n7:cpu,cpuacct:/\n", "cpu,cpuacct", true},
		{"named hierarchy", "1:name=systemd:/x\n0::/", "none,name=systemd", true},
		{"nothing at the root", "4:memory:/pod/c1\n3:rdma:/pod/c1\n", "rdma", true},
	}
	for _, c := range cases {
		got, ok := pickCgroupV1(c.data)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: pickCgroupV1 = %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestIOUringFallback(t *testing.T) {
	defer func(f func() (uintptr, syscall.Errno)) { ioUringSetupFallback = f }(ioUringSetupFallback)
	devNull := func() (uintptr, syscall.Errno) {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return uintptr(fd), 0
	}
	cases := []struct {
		setup  func() (uintptr, syscall.Errno)
		ok     bool
		errno  string
		detail string
	}{
		{func() (uintptr, syscall.Errno) { return 0, syscall.ENOSYS }, true, "", "fell back to read(2)"},
		{func() (uintptr, syscall.Errno) { return 0, syscall.EPERM }, false, "EPERM", "io_uring_setup(1) (only ENOSYS triggers the fallback): EPERM"},
		{devNull, true, "", "io_uring"},
	}
	for _, c := range cases {
		ioUringSetupFallback = c.setup
		a := attemptIOUringFallback(nil)
		if a.OK != c.ok || a.Errno != c.errno || !strings.HasPrefix(a.Detail, c.detail) {
			t.Errorf("got %+v; want ok=%v errno=%q detail %q...", a, c.ok, c.errno, c.detail)
		}
	}
}

// TestRawChild checks the fork-without-exec machinery: step results, the failing step's errno,
// the clean-up of successful steps, and the time limit.
func TestRawChild(t *testing.T) {
	b, err := newRawBuilder()
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	b.step("getpid", syscall.SYS_GETPID)
	b.step("open /dev/null", syscall.SYS_OPENAT, atFDCWD, b.cstr("/dev/null"), syscall.O_RDONLY|syscall.O_CLOEXEC, 0).undoFD(syscall.SYS_CLOSE)
	b.step("close(-1)", syscall.SYS_CLOSE, ^uintptr(0))
	b.step("never reached", syscall.SYS_GETPID)
	out, err := b.run(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !out.failed() || out.done != 2 || out.errno != syscall.EBADF {
		t.Fatalf("outcome %+v; want steps 0-1 done, step 2 failing with EBADF", out)
	}
	if want := "getpid, open /dev/null succeeded; close(-1): EBADF (bad file descriptor)"; out.failure() != want {
		t.Errorf("failure() = %q, want %q", out.failure(), want)
	}
	if len(out.undo) != 2 || out.undo[1] != 0 || out.undoSummary("ok") != "ok" {
		t.Errorf("undo results %v: the descriptor was not closed cleanly", out.undo)
	}

	slow, err := newRawBuilder()
	if err != nil {
		t.Fatal(err)
	}
	defer slow.close()
	ts := slow.alloc(16)
	*(*int64)(unsafe.Pointer(&ts[0])) = 30
	slow.step("nanosleep(30s)", syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts[0])), 0)
	start := time.Now()
	_, err = slow.run(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "was killed") {
		t.Errorf("run of a sleeping child: %v, want a kill after the time limit", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the time limit was not enforced (%s)", time.Since(start))
	}
	if kids := children(t); len(kids) > 0 {
		t.Errorf("children left behind: %v", kids)
	}
}

// TestProbeOnHostLeavesNothing runs every attempt in this process, on the host, and checks that
// the results are well-formed and that nothing is left behind: no mounts in the probe's
// directories, no files in the
// temporary directory or at /.probe-write-test, no children, no open descriptors.
func TestProbeOnHostLeavesNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if _, err := os.Lstat(writeTestPath); err == nil {
		t.Skipf("%s exists already; the write-rootfs checks would be meaningless", writeTestPath)
	}
	probe(attemptList[:1], &options{setuidHelper: defaultSetuidHelper}, time.Minute) // warm up the runtime's descriptors
	fdsBefore := openFDs(t)

	rep := probe(attemptList, &options{setuidHelper: defaultSetuidHelper}, time.Minute)
	data, _ := json.Marshal(rep)
	t.Logf("report: %s", data)

	var names []string
	for _, a := range rep.Attempts {
		names = append(names, a.Name)
		switch {
		case a.OK && a.Errno != "":
			t.Errorf("%s: ok with errno %q", a.Name, a.Errno)
		case a.Errno != "" && !isNamed(a.Errno):
			t.Errorf("%s: errno %q is not a symbolic name", a.Name, a.Errno)
		case a.Detail == "":
			t.Errorf("%s: empty detail", a.Name)
		case strings.Contains(a.Detail, "probe bug") || strings.Contains(a.Detail, "did not finish"):
			t.Errorf("%s: %s", a.Name, a.Detail)
		}
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("attempts %q\nwant %q", names, wantNames)
	}
	byName := map[string]Attempt{}
	for _, a := range rep.Attempts {
		byName[a.Name] = a
	}
	for _, n := range []string{"io_uring_setup", "userfaultfd", "io_uring-fallback"} {
		if a := byName[n]; !a.OK && a.Errno == "" {
			t.Errorf("%s neither succeeded nor named an errno: %+v", n, a)
		}
	}
	if os.Getuid() == 0 {
		if a := byName["setuid-gain"]; a.OK || a.Errno != "" || a.Detail != "running as root: not applicable" {
			t.Errorf("setuid-gain as root: %+v", a)
		}
		// Root on the host with no seccomp filter: these succeed, so the clean-up checks below
		// are meaningful.
		for _, n := range []string{"write-rootfs", "mknod-block", "unshare-userns-mount", "ptrace-sibling"} {
			if a := byName[n]; !a.OK {
				t.Errorf("%s failed as root on the host: %+v", n, a)
			}
		}
	}

	if _, err := os.Lstat(writeTestPath); err == nil {
		os.Remove(writeTestPath)
		t.Errorf("%s was left behind", writeTestPath)
	}
	// Other mounts may come and go on a shared host; the probe's would be in its directories.
	for _, line := range strings.Split(readFile(t, "/proc/self/mountinfo"), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (strings.HasPrefix(f[4], tmp) || strings.Contains(f[4], "/probe-")) {
			t.Errorf("mount left behind: %s", line)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("left in TMPDIR: %v", entries)
	}
	if kids := children(t); len(kids) > 0 {
		t.Errorf("children left behind: %v", kids)
	}
	if fdsAfter := openFDs(t); !slices.Equal(fdsAfter, fdsBefore) {
		t.Errorf("open descriptors changed from %v to %v", fdsBefore, fdsAfter)
	}
}

func isNamed(errno string) bool {
	for _, n := range errnoNames {
		if n == errno {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// openFDs lists this process's descriptors with their targets.
func openFDs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the descriptor ReadDir itself used
		}
		fds = append(fds, e.Name()+" -> "+target)
	}
	sort.Strings(fds)
	return fds
}

// children lists the processes (zombies included) whose parent is this process.
func children(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	var kids []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == self {
			kids = append(kids, e.Name()+" "+string(stat[:i+1])+" "+f[0])
		}
	}
	return kids
}

// probeCopy copies the test binary into a fresh world-readable directory, so that other users
// can run it, and returns the directory.
func probeCopy(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "probe-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "probe"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runCopy runs the copied test binary as the probe with args, and decodes its report.
func runCopy(t *testing.T, dir string, cred *syscall.Credential, env []string, args ...string) Report {
	t.Helper()
	cmd := exec.Command(filepath.Join(dir, "probe"), args...)
	cmd.Env = append(os.Environ(), append([]string{envMode + "=run"}, env...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("probe %q: %v\nstderr: %s", args, err, stderr.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("probe %q did not finish", args)
	}
	t.Logf("probe %q: %s", args, stdout.String())
	return decodeReport(t, stdout.Bytes())
}

func attemptsByName(rep Report) map[string]Attempt {
	m := map[string]Attempt{}
	for _, a := range rep.Attempts {
		m[a.Name] = a
	}
	return m
}

// TestUnderSeccompFilter runs the probe under a filter shaped like the hardened runtime's and
// checks that it reports the filter's errnos for the decisive syscalls, including unshare in the
// forked child, and that io_uring's ENOSYS makes the fallback work.
func TestUnderSeccompFilter(t *testing.T) {
	dir := probeCopy(t)
	rep := runCopy(t, dir, nil, []string{envSeccomp + "=1"}, "-only",
		"unshare-userns-mount,io_uring_setup,userfaultfd,bpf,perf_event_open,keyctl,add_key,ptrace-sibling,io_uring-fallback")
	if rep.Status["Seccomp"] != "2" || rep.Status["NoNewPrivs"] != "1" {
		t.Errorf("status %v, want Seccomp 2 and NoNewPrivs 1", rep.Status)
	}
	got := attemptsByName(rep)
	for name, errno := range map[string]string{
		"io_uring_setup": "ENOSYS", "userfaultfd": "EPERM", "bpf": "EPERM", "perf_event_open": "EPERM",
		"keyctl": "EPERM", "add_key": "EPERM", "ptrace-sibling": "EPERM", "unshare-userns-mount": "EPERM",
	} {
		if a := got[name]; a.OK || a.Errno != errno {
			t.Errorf("%s: %+v, want errno %s", name, a, errno)
		}
	}
	if a := got["unshare-userns-mount"]; !strings.HasPrefix(a.Detail, "unshare(CLONE_NEWUSER|CLONE_NEWNS): EPERM") {
		t.Errorf("unshare-userns-mount detail %q does not name the unshare step", a.Detail)
	}
	if a := got["io_uring-fallback"]; !a.OK || a.Errno != "" || a.Detail != "fell back to read(2)" {
		t.Errorf("io_uring-fallback: %+v", a)
	}
}

// TestAsUnprivilegedUser runs the probe as nobody with a set-user-ID root helper, with and
// without no_new_privs.
func TestAsUnprivilegedUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("switching to another user needs root")
	}
	dir := probeCopy(t)
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(dir, &sfs); err != nil {
		t.Fatal(err)
	}
	if sfs.Flags&unix.ST_NOSUID != 0 {
		t.Skipf("%s is on a nosuid file system", dir)
	}
	helper := filepath.Join(dir, "nnp")
	data, err := os.ReadFile(filepath.Join(dir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(helper, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(helper, os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "probe-test-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}
	env := []string{"TMPDIR=" + tmp}
	only := "setuid-gain,write-rootfs,mknod-block,unshare-userns-mount,cgroup-release-agent,ptrace-sibling"

	rep := runCopy(t, dir, nobody, env, "-only", only, "-setuid-helper", helper)
	if rep.Status["Uid"] != "65534 65534 65534 65534" || rep.Status["CapEff"] != "0000000000000000" {
		t.Errorf("status %v", rep.Status)
	}
	got := attemptsByName(rep)
	if a := got["setuid-gain"]; !a.OK || a.Errno != "" || !strings.Contains(a.Detail, `printed "Effective uid: 0"`) {
		t.Errorf("setuid-gain without no_new_privs: %+v", a)
	}
	if a := got["write-rootfs"]; a.OK || a.Errno != "EACCES" {
		t.Errorf("write-rootfs as nobody: %+v", a)
	}
	if a := got["mknod-block"]; a.OK || a.Errno != "EPERM" {
		t.Errorf("mknod-block as nobody: %+v", a)
	}
	if a := got["cgroup-release-agent"]; a.OK {
		t.Errorf("cgroup-release-agent as nobody: %+v", a)
	}
	if a := got["ptrace-sibling"]; !a.OK {
		t.Errorf("ptrace-sibling of its own child as nobody: %+v", a)
	}

	rep = runCopy(t, dir, nobody, append(env, envNNP+"=1"), "-only", "setuid-gain", "-setuid-helper", helper)
	if a := attemptsByName(rep)["setuid-gain"]; a.OK || a.Errno != "" || !strings.Contains(a.Detail, "set-user-ID not honoured") {
		t.Errorf("setuid-gain with no_new_privs: %+v", a)
	}
	if rep.Status["NoNewPrivs"] != "1" {
		t.Errorf("status %v, want NoNewPrivs 1", rep.Status)
	}

	rep = runCopy(t, dir, nobody, env, "-only", "setuid-gain", "-setuid-helper", filepath.Join(dir, "missing"))
	if a := attemptsByName(rep)["setuid-gain"]; a.OK || a.Errno != "ENOENT" {
		t.Errorf("setuid-gain with a missing helper: %+v", a)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("left in TMPDIR: %v", entries)
	}
	if _, err := os.Lstat(writeTestPath); err == nil {
		t.Errorf("%s exists", writeTestPath)
	}
}

func TestHostRootOf(t *testing.T) {
	for in, wantOK := range map[string]bool{
		"         0          0 4294967295\n": true,
		"         0 2147483648      65536\n": false,
		"      1000       1000          1\n": false,
		"":                                   false,
	} {
		if a := hostRootOf(in); a.OK != wantOK || a.Detail == "" {
			t.Errorf("hostRootOf(%q) = %+v, want OK %v with a detail", in, a, wantOK)
		}
	}
}

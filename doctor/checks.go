//go:build linux

package doctor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	units "github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/sandbox"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/seccomp"
)

// The node's answers, replaceable in tests.
var (
	// procDir is where the kernel's settings are read (/proc).
	procDir = "/proc"
	// idMappable and usernsCreatable are the sandbox package's probes
	// (uncached: the doctor reports the node as it is now).
	idMappable      = func(path string) error { return sandbox.IDMappable(path, "") }
	usernsCreatable = sandbox.UsernsCreatable
	// mountSetattr reports whether the kernel has mount_setattr(2).
	mountSetattr = func() error {
		err := unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{})
		if errors.Is(err, unix.ENOSYS) {
			return err
		}
		return nil
	}
	// kernelRelease is uname's release.
	kernelRelease = func() string {
		var u unix.Utsname
		if unix.Uname(&u) != nil {
			return "?"
		}
		return unix.ByteSliceToString(u.Release[:])
	}
)

// findings gathers what one check found.
type findings struct {
	status        Status
	details, fixs []string
}

func (f *findings) ok(format string, args ...any) {
	f.details = append(f.details, fmt.Sprintf(format, args...))
}

func (f *findings) bad(s Status, detail, fix string) {
	f.status = worse(f.status, s)
	f.details = append(f.details, detail)
	if fix != "" && !slices.Contains(f.fixs, fix) {
		f.fixs = append(f.fixs, fix)
	}
}

func (f *findings) check(kind string) Check {
	st := f.status
	if st == "" {
		st = OK
	}
	return Check{Kind: kind, Status: st, Detail: strings.Join(f.details, "; "), Fix: strings.Join(f.fixs, "; ")}
}

// usernsStatus is how a missing user-namespace requirement counts: a class
// that requires them in enforce mode refuses its pods at start (fail); one
// that runs without them (if-supported, or audit mode) only warns.
func usernsStatus(c *runtimeclass.Class) Status {
	if c.UsernsMode() == runtimeclass.UsernsRequired && c.PolicyMode() == policy.ModeEnforce {
		return Fail
	}
	return Warn
}

// usernsConsequence says what a missing user-namespace requirement does.
func usernsConsequence(c *runtimeclass.Class) string {
	if usernsStatus(c) == Fail {
		return "every pod of the class is refused at start (user_namespace = \"required\")"
	}
	return fmt.Sprintf("pods run without a user namespace of their own (user_namespace = %q, mode %s)", c.UsernsMode(), c.Mode)
}

// checkOCIRuntime checks a runc class's OCI runtime: present, its version,
// idmapped mounts (user namespaces) and recursive read-only mounts.
func checkOCIRuntime(c *runtimeclass.Class, where string) Check {
	var f findings
	path, err := exec.LookPath(c.BinaryName)
	if err != nil {
		f.bad(Fail, fmt.Sprintf("binary_name %q: %v", c.BinaryName, unwrapExec(err)),
			fmt.Sprintf("install runc 1.2 or newer (on containerd's PATH) or set binary_name in %s to its absolute path", where))
		return f.check(KindOCIRuntime)
	}
	version := "version unknown"
	if out, err := run(path, "--version"); err == nil {
		version = firstLine(string(out))
	} else {
		version = fmt.Sprintf("version unknown (%v)", err)
	}
	f.ok("%s: %s", path, version)

	// one `runc features` for both questions
	feats, ferr := sandbox.RuncFeatures(path)
	// idmapped mounts: what the shim asks before giving a pod a user
	// namespace of its own
	idmapErr := ferr
	if ferr == nil {
		idmapErr = sandbox.IDMapError(path, feats)
	}
	if c.UsernsMode() == runtimeclass.UsernsOff {
		f.ok("idmapped mounts not needed (user_namespace = \"off\")")
	} else if err := idmapErr; err != nil {
		f.bad(usernsStatus(c), fmt.Sprintf("%v: %s", err, usernsConsequence(c)),
			fmt.Sprintf("install runc 1.2 or newer (idmapped mounts), or set user_namespace = \"off\" in %s", where))
	} else {
		f.ok("idmapped mounts")
	}
	// the hardening writes every read-only rbind mount's "ro" as "rro"
	// (harden/mounts.go): a runtime without it does not make them read-only
	switch {
	case ferr != nil:
		f.bad(Fail, fmt.Sprintf("cannot tell whether it supports recursive read-only mounts (%v): the hardening turns every read-only volume's \"ro\" into \"rro\", which a runtime without it does not apply", ferr),
			"install runc 1.2 or newer")
	case !slices.Contains(feats.MountOptions, "rro"):
		f.bad(Fail, fmt.Sprintf("`%s features` does not list the mount option \"rro\": the hardening turns every read-only volume's \"ro\" into \"rro\" (recursive read-only), which this runtime would not apply", path),
			"install runc 1.2 or newer")
	default:
		f.ok("recursive read-only mounts (rro)")
	}
	return f.check(KindOCIRuntime)
}

// unwrapExec shortens exec.LookPath's error.
func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		if errors.Is(ee.Err, exec.ErrNotFound) {
			return fmt.Errorf("not found in PATH (%s)", os.Getenv("PATH"))
		}
		return ee.Err
	}
	return err
}

// seccompActions maps the OCI seccomp actions to the kernel's names
// (/proc/sys/kernel/seccomp/actions_avail).
var seccompActions = map[specs.LinuxSeccompAction]string{
	specs.ActKill:        "kill_thread",
	specs.ActKillThread:  "kill_thread",
	specs.ActKillProcess: "kill_process",
	specs.ActTrap:        "trap",
	specs.ActErrno:       "errno",
	specs.ActTrace:       "trace",
	specs.ActAllow:       "allow",
	specs.ActLog:         "log",
	specs.ActNotify:      "user_notif",
}

// profileActions returns the kernel actions the class's seccomp profile
// uses, or nil when it applies none.
func profileActions(c *runtimeclass.Class) ([]string, string, error) {
	ho, err := c.HardenOptions()
	if err != nil {
		return nil, "", err
	}
	if ho.SeccompProfile == "" {
		return nil, "", nil
	}
	p, err := seccomp.Build(ho.SeccompProfile, nil, ho.SeccompAudit)
	if err != nil {
		return nil, ho.SeccompProfile, err
	}
	set := map[string]bool{}
	add := func(a specs.LinuxSeccompAction) {
		if n, ok := seccompActions[a]; ok {
			set[n] = true
		}
	}
	add(p.DefaultAction)
	for _, s := range p.Syscalls {
		add(s.Action)
	}
	var out []string
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, ho.SeccompProfile, nil
}

// readProc reads a file under procDir, trimmed.
func readProc(rel string) (string, error) {
	b, err := os.ReadFile(filepath.Join(procDir, rel))
	return strings.TrimSpace(string(b)), err
}

// fsName names a file system by its magic.
func fsName(path string) string {
	var s unix.Statfs_t
	if unix.Statfs(path, &s) != nil {
		return ""
	}
	switch uint64(s.Type) {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlay"
	case 0x2fc12fc1:
		return "zfs"
	}
	return fmt.Sprintf("fs %#x", s.Type)
}

// checkKernel checks what the class needs of the kernel: seccomp filters
// with the actions of its profile, mount_setattr for recursive read-only
// mounts, and user namespaces with idmapped mounts on the file systems the
// class uses.
func checkKernel(c *runtimeclass.Class, where string) Check {
	var f findings
	f.ok("Linux %s", kernelRelease())

	// seccomp
	actions, profile, err := profileActions(c)
	avail, aerr := readProc("sys/kernel/seccomp/actions_avail")
	have := strings.Fields(avail)
	switch {
	case err != nil:
		f.bad(Fail, fmt.Sprintf("the class's seccomp profile cannot be built: %v", err), fmt.Sprintf("correct [seccomp] profile in %s", where))
	case profile == "":
		f.ok("seccomp not used ([seccomp] profile = \"none\")")
	case aerr != nil:
		f.bad(Fail, fmt.Sprintf("no seccomp filter support (%v): the class applies seccomp profile %q", aerr, profile),
			fmt.Sprintf("use a kernel with CONFIG_SECCOMP_FILTER (Linux 4.14 or newer), or set [seccomp] profile = \"none\" in %s", where))
	case c.Runtime == runtimeclass.BackendRunsc:
		// gVisor applies the profile in its own kernel (--oci-seccomp);
		// runsc itself needs the host's seccomp filters
		f.ok("seccomp filters (%s; gVisor applies the class's profile itself)", strings.Join(have, " "))
	default:
		var missing []string
		for _, a := range actions {
			if !slices.Contains(have, a) {
				missing = append(missing, a)
			}
		}
		if len(missing) > 0 {
			why := ""
			if slices.Contains(missing, "log") && c.Seccomp.Audit {
				why = " ([seccomp] audit = true turns denials into log)"
			}
			fix := "use a kernel whose seccomp has these actions"
			if why != "" {
				fix = fmt.Sprintf("use a kernel with SECCOMP_RET_LOG (Linux 4.14 or newer), or set [seccomp] audit = false in %s", where)
			}
			f.bad(Fail, fmt.Sprintf("seccomp lacks action(s) %s that the class's profile %q uses%s (%s lists: %s): runc cannot load the filter",
				strings.Join(missing, ", "), profile, why, filepath.Join(procDir, "sys/kernel/seccomp/actions_avail"), avail), fix)
		} else {
			f.ok("seccomp filters with the profile's actions (%s)", strings.Join(actions, ", "))
		}
	}

	// recursive read-only mounts (runc applies "rro" with mount_setattr)
	if c.Runtime == runtimeclass.BackendRunc {
		if err := mountSetattr(); err != nil {
			f.bad(Fail, fmt.Sprintf("no mount_setattr(2) (%v): runc cannot apply the \"rro\" the hardening gives every read-only volume, and such containers fail to start", err),
				"use Linux 5.12 or newer")
		} else {
			f.ok("mount_setattr")
		}
	}

	if c.UsernsMode() == runtimeclass.UsernsOff {
		f.ok("user namespaces not needed (user_namespace = \"off\")")
		return f.check(KindKernel)
	}
	st := usernsStatus(c)
	consequence := usernsConsequence(c)
	offFix := fmt.Sprintf("or set user_namespace = \"off\" in %s", where)
	n, nerr := readProc("sys/user/max_user_namespaces")
	switch {
	case nerr == nil && n == "0":
		f.bad(st, fmt.Sprintf("user namespaces are disabled (%s = 0): %s", filepath.Join(procDir, "sys/user/max_user_namespaces"), consequence),
			"sysctl -w user.max_user_namespaces=65536 (and in /etc/sysctl.d), "+offFix)
	default:
		if err := usernsCreatable(); err != nil {
			f.bad(st, fmt.Sprintf("cannot create a user namespace (%v): %s", err, consequence),
				"allow user namespaces (CONFIG_USER_NS, user.max_user_namespaces), "+offFix)
		} else if nerr == nil {
			f.ok("user namespaces (max %s)", n)
		} else {
			f.ok("user namespaces")
		}
	}

	// idmapped mounts on the file systems the class mounts from
	po := c.PolicyOptions()
	type fsPath struct{ path, what string }
	paths := []fsPath{{po.ContainerdRoot, "containerd's root (containerd_root)"}}
	overlay := filepath.Join(po.ContainerdRoot, "io.containerd.snapshotter.v1.overlayfs")
	if _, err := os.Stat(overlay); err == nil {
		paths = append(paths, fsPath{overlay, "the overlayfs snapshotter"})
	}
	if _, err := os.Stat(po.KubeletRoot); err == nil {
		paths = append(paths, fsPath{po.KubeletRoot, "kubelet's root (kubelet_root)"})
	} else {
		f.ok("kubelet_root %s absent (not probed)", po.KubeletRoot)
	}
	var mappable []string
	for _, p := range paths {
		if _, err := os.Stat(p.path); err != nil {
			f.bad(Warn, fmt.Sprintf("%s %s: %v (idmapped mounts not probed; containerd creates it)", p.what, p.path, err),
				fmt.Sprintf("start containerd, or correct containerd_root in %s", where))
			continue
		}
		if err := idMappable(p.path); err != nil {
			f.bad(st, fmt.Sprintf("%s %s (%s): %v: %s", p.what, p.path, fsName(p.path), err, consequence),
				"put it on a file system the kernel idmaps (ext4, xfs, btrfs, tmpfs; Linux 5.12 or newer, 6.3+ for tmpfs), "+offFix)
			continue
		}
		mappable = append(mappable, fmt.Sprintf("%s (%s)", p.path, fsName(p.path)))
	}
	if len(mappable) > 0 {
		f.ok("idmapped mounts on %s", strings.Join(mappable, ", "))
	}
	return f.check(KindKernel)
}

// checkAuditLog checks that the class's audit log can be written: its
// directory exists or can be created, is writable, leaves audit_log_min_free,
// and the log and its lock are regular files if they exist.
func checkAuditLog(c *runtimeclass.Class, where string) Check {
	var f findings
	path := c.AuditLog
	if path == "-" {
		f.ok("disabled (audit_log = \"-\"): decisions go to the shim's log only")
		return f.check(KindAuditLog)
	}
	fix := fmt.Sprintf("set audit_log in %s to a file in a writable directory", where)
	dir := filepath.Dir(path)
	// the nearest existing directory: the shim creates the rest (0700)
	existing := dir
	for {
		st, err := os.Stat(existing)
		if err == nil {
			if !st.IsDir() {
				f.bad(Fail, fmt.Sprintf("audit_log %s: its directory %s cannot be created: %s is not a directory", path, dir, existing), fix)
				return f.check(KindAuditLog)
			}
			break
		}
		// ENOTDIR: a component is not a directory; found going up
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			f.bad(Fail, fmt.Sprintf("audit_log %s: %v", path, err), fix)
			return f.check(KindAuditLog)
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	tmp, err := os.CreateTemp(existing, ".doctor-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		f.bad(Fail, fmt.Sprintf("audit_log %s: %s is not writable (%v): no decision would be recorded", path, existing, err), fix)
		return f.check(KindAuditLog)
	}
	tmp.Close()
	os.Remove(tmp.Name())
	if existing == dir {
		f.ok("%s: directory writable", path)
	} else {
		f.ok("%s: %s is created at the first record (%s is writable)", path, dir, existing)
	}
	// the shim neither follows a symbolic link nor writes a file with other
	// links (audit.openRegular)
	for _, p := range []string{path, path + ".lock"} {
		st, err := os.Lstat(p)
		if err != nil {
			continue
		}
		switch {
		case st.Mode()&os.ModeSymlink != 0:
			f.bad(Fail, fmt.Sprintf("%s is a symbolic link: the shim does not follow it, and no decision would be recorded", p), fmt.Sprintf("remove %s (the shim creates it)", p))
		case !st.Mode().IsRegular():
			f.bad(Fail, fmt.Sprintf("%s is not a regular file (%s): no decision would be recorded", p, st.Mode().Type()), fmt.Sprintf("remove %s (the shim creates it)", p))
		default:
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Nlink > 1 {
				f.bad(Fail, fmt.Sprintf("%s has %d hard links: the shim does not write it, and no decision would be recorded", p, sys.Nlink), fmt.Sprintf("remove the other links of %s", p))
			}
		}
	}
	minFree := c.AuditOptions().MinFree
	if minFree <= 0 {
		f.ok("free space not checked (audit_log_min_free = \"0\")")
		return f.check(KindAuditLog)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(existing, &sfs); err != nil {
		f.bad(Warn, fmt.Sprintf("free space of %s unknown: %v", existing, err), "")
		return f.check(KindAuditLog)
	}
	unit := uint64(sfs.Frsize)
	if unit == 0 {
		unit = uint64(sfs.Bsize)
	}
	avail := sfs.Bavail * unit
	if avail < uint64(minFree) {
		f.bad(Fail, fmt.Sprintf("%s free on the file system of %s, below the %s the audit log leaves free (audit_log_min_free): no decision would be recorded",
			units.BytesSize(float64(avail)), existing, units.BytesSize(float64(minFree))),
			fmt.Sprintf("free space there, or move audit_log (or lower audit_log_min_free) in %s", where))
	} else {
		f.ok("%s free (keeps %s)", units.BytesSize(float64(avail)), units.BytesSize(float64(minFree)))
	}
	return f.check(KindAuditLog)
}

// checkSandbox checks a runsc or kata class's backend.
func checkSandbox(c *runtimeclass.Class, where string) Check {
	var f findings
	switch c.Runtime {
	case runtimeclass.BackendRunsc:
		path, err := exec.LookPath(c.BinaryName)
		if err != nil {
			f.bad(Fail, fmt.Sprintf("runtime runsc: binary_name %q: %v", c.BinaryName, unwrapExec(err)),
				fmt.Sprintf("install gVisor's runsc (on containerd's PATH) or set binary_name in %s to its absolute path", where))
			break
		}
		out, err := run(path, "--version")
		if err != nil {
			f.bad(Fail, fmt.Sprintf("runtime runsc: %v", err), fmt.Sprintf("install a working gVisor runsc, or set binary_name in %s", where))
			break
		}
		f.ok("runtime runsc: %s: %s, platform %s", path, firstLine(string(out)), c.Runsc.Platform)
	case runtimeclass.BackendKata:
		path, err := exec.LookPath(c.Kata.Shim)
		if err != nil {
			f.bad(Fail, fmt.Sprintf("runtime kata: [kata] shim %q: %v", c.Kata.Shim, unwrapExec(err)),
				fmt.Sprintf("install the delegate shim (Kata's containerd-shim-kata-v2) or set [kata] shim in %s to its absolute path", where))
		} else {
			f.ok("runtime kata: delegate shim %s", path)
		}
		if p := c.Kata.ConfigPath; p != "" {
			if st, err := os.Stat(p); err != nil {
				f.bad(Fail, fmt.Sprintf("[kata] config_path %s: %v", p, errors.Unwrap(err)), fmt.Sprintf("install the delegate's configuration at %s, or correct [kata] config_path in %s", p, where))
			} else if !st.Mode().IsRegular() {
				f.bad(Fail, fmt.Sprintf("[kata] config_path %s is not a regular file", p), fmt.Sprintf("correct [kata] config_path in %s", where))
			} else {
				f.ok("config_path %s", p)
			}
		}
		if c.UsernsMode() != runtimeclass.UsernsOff && !c.Kata.UserNamespaces {
			// the shim's own answer, before any probe
			err := sandbox.UserNamespaces(c, c.PolicyOptions().ContainerdRoot, "")
			if err != nil {
				f.bad(usernsStatus(c), fmt.Sprintf("%v: %s", err, usernsConsequence(c)),
					fmt.Sprintf("set user_namespace = \"off\" in %s (or [kata] user_namespaces = true if the delegate applies a spec's user namespace)", where))
			}
		}
	default:
		f.bad(Fail, fmt.Sprintf("runtime %q: not a backend this build knows", c.Runtime), fmt.Sprintf("set runtime in %s", where))
	}
	return f.check(KindSandbox)
}

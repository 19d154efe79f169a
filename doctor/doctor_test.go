//go:build linux

package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// world is a node made of temporary files: fake containerd, shim, runc,
// runsc and delegate binaries, containerd's root and state, a class
// directory, and kernel answers the test sets.
type world struct {
	t                                         *testing.T
	dir, bin                                  string
	root, state, kubelet, classDir, usernsDir string
	shim, runc, runsc, kata, kataConfig, ctrd string
	audit, ctrdConfig, versionFile, socket    string
	// unmappable lists the paths the fake kernel cannot idmap.
	unmappable map[string]bool
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d := t.TempDir()
	w := &world{t: t, dir: d, bin: filepath.Join(d, "bin"),
		root: filepath.Join(d, "containerd"), state: filepath.Join(d, "state"), kubelet: filepath.Join(d, "kubelet"),
		classDir: filepath.Join(d, "etc"), usernsDir: filepath.Join(d, "userns"),
		audit: filepath.Join(d, "log", "audit.log"), unmappable: map[string]bool{}}
	for _, p := range []string{w.bin, w.root, w.state, w.kubelet, w.classDir, filepath.Dir(w.audit)} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.shim = filepath.Join(w.bin, ShimBinary)
	w.runc = filepath.Join(w.bin, "runc")
	w.runsc = filepath.Join(w.bin, "runsc")
	w.kata = filepath.Join(w.bin, "containerd-shim-kata-v2")
	w.kataConfig = filepath.Join(d, "kata.toml")
	w.ctrd = filepath.Join(w.bin, "containerd")
	w.versionFile = filepath.Join(d, "containerd-version")
	w.socket = filepath.Join(d, "no-containerd.sock")
	w.script(w.shim, "echo 'containerd-shim-hardened-v2:'\necho '  Version:    v-test'\n")
	w.fakeRunc(w.runc, true, true)
	w.script(w.runsc, "[ \"$1\" = --version ] && echo 'runsc version test' && exit 0\nexit 1\n")
	w.script(w.kata, "exit 0\n")
	os.WriteFile(w.kataConfig, []byte("[hypervisor.qemu]\n"), 0o644)
	w.setVersion("2.4.2")
	w.script(w.ctrd, fmt.Sprintf(`case "$1" in
--version) echo "containerd github.com/containerd/containerd/v2 $(cat %s) 0123abcd" ;;
--config) shift; cat "$1" ;;
*) echo "containerd: unexpected arguments: $*" >&2; exit 3 ;;
esac
`, w.versionFile))
	t.Setenv(runtimeclass.NodeConfigDirEnv, w.classDir)
	t.Setenv("PATH", w.bin+":"+os.Getenv("PATH"))
	w.fakeKernel("kill_process kill_thread trap errno user_notif trace log allow", "15000")
	// the node class file of the shim binary
	w.writeFile(runtimeclass.NodeConfigPath(w.shim), w.fill("class.toml"))
	w.containerdConfig("containerd-v3.toml")
	return w
}

// fakeKernel replaces the kernel's answers for the test.
func (w *world) fakeKernel(actions, maxUserns string) {
	t := w.t
	proc := filepath.Join(w.dir, "proc")
	os.MkdirAll(filepath.Join(proc, "sys/kernel/seccomp"), 0o755)
	os.MkdirAll(filepath.Join(proc, "sys/user"), 0o755)
	os.WriteFile(filepath.Join(proc, "sys/kernel/seccomp/actions_avail"), []byte(actions+"\n"), 0o644)
	os.WriteFile(filepath.Join(proc, "sys/user/max_user_namespaces"), []byte(maxUserns+"\n"), 0o644)
	saved := []any{procDir, idMappable, usernsCreatable, mountSetattr, kernelRelease}
	t.Cleanup(func() {
		procDir = saved[0].(string)
		idMappable = saved[1].(func(string) error)
		usernsCreatable = saved[2].(func() error)
		mountSetattr = saved[3].(func() error)
		kernelRelease = saved[4].(func() string)
	})
	procDir = proc
	idMappable = func(path string) error {
		if w.unmappable[path] {
			return errors.New("the kernel cannot idmap a mount of this file system (magic 0x1234): invalid argument")
		}
		return nil
	}
	usernsCreatable = func() error { return nil }
	mountSetattr = func() error { return nil }
	kernelRelease = func() string { return "6.18.0-test" }
}

func (w *world) script(path, body string) {
	w.t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		w.t.Fatal(err)
	}
}

// fakeRunc writes a runc whose features report idmapped mounts and rro or not.
func (w *world) fakeRunc(path string, idmap, rro bool) {
	opts := `"bind","rbind","ro","rw"`
	if rro {
		opts += `,"rro","rrw"`
	}
	w.script(path, fmt.Sprintf(`case "$1" in
--version) echo "runc version 1.5.2"; echo "spec: 1.3.0" ;;
features) echo '{"ociVersionMin":"1.0.0","mountOptions":[%s],"linux":{"mountExtensions":{"idmap":{"enabled":%t}}}}' ;;
*) exit 1 ;;
esac
`, opts, idmap))
}

func (w *world) setVersion(v string) {
	os.WriteFile(w.versionFile, []byte(v), 0o644)
}

func (w *world) writeFile(path, body string) string {
	w.t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// fill reads a fixture and puts this world's paths in.
func (w *world) fill(name string) string {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		w.t.Fatal(err)
	}
	return strings.NewReplacer("@ROOT@", w.root, "@STATE@", w.state, "@KUBELET@", w.kubelet, "@CLASSDIR@", w.classDir,
		"@USERNS@", w.usernsDir, "@SHIM@", w.shim, "@RUNC@", w.runc, "@RUNSC@", w.runsc, "@KATA@", w.kata,
		"@KATACONFIG@", w.kataConfig, "@AUDIT@", w.audit).Replace(string(b))
}

// containerdConfig makes fixture name containerd's config.
func (w *world) containerdConfig(name string) {
	w.ctrdConfig = w.writeFile(filepath.Join(w.dir, "containerd.toml"), w.fill(name))
}

// class writes a class file from a fixture, with top-level keys before
// its first line and tables after its last.
func (w *world) class(name, keys, tables string) string {
	return w.writeFile(filepath.Join(w.dir, "classes", name), keys+"\n"+w.fill(name)+"\n"+tables)
}

// classReplace writes a class file from a fixture with one string replaced.
func (w *world) classReplace(name, old, new string) string {
	body := w.fill(name)
	if !strings.Contains(body, old) {
		w.t.Fatalf("fixture %s has no %q", name, old)
	}
	return w.writeFile(filepath.Join(w.dir, "classes", name), strings.Replace(body, old, new, 1))
}

// doctor runs the command with this world's containerd (config, binary, a
// socket nobody listens on) and --json.
func (w *world) doctor(args ...string) (int, Report, string) {
	w.t.Helper()
	base := []string{"--containerd-config", w.ctrdConfig, "--containerd", w.ctrd, "--address", w.socket, "--json"}
	var stdout, stderr bytes.Buffer
	code := Run(append(base, args...), &stdout, &stderr)
	var r Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		w.t.Fatalf("doctor %v: exit %d, output is not JSON (%v):\n%s\n%s", args, code, err, stdout.String(), stderr.String())
	}
	return code, r, stdout.String()
}

// byStatus returns the names of the checks with status s.
func byStatus(r Report, s Status) []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == s {
			out = append(out, c.Name)
		}
	}
	slices.Sort(out)
	return out
}

func find(r Report, name string) *Check {
	for i := range r.Checks {
		if r.Checks[i].Name == name {
			return &r.Checks[i]
		}
	}
	return nil
}

func TestDoctor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(w *world) []string // extra arguments
		code  int
		fail  []string // the checks that fail, all others ok (or warn, below)
		warn  []string
		// substrings of a check's detail ("name: text") and fix ("name fix: text")
		want []string
		// checks that must not be there (skipped after a failed class)
		absent []string
	}{
		{
			name:  "v3 config, good handler",
			setup: func(w *world) []string { return nil },
			want: []string{
				"containerd: 2.4.2 (binary ",
				"handler hardened: runtime_path " + "@SHIM@ (version v-test)",
				"class hardened: node class file @CLASSDIR@/containerd-shim-hardened-v2.toml",
				"oci-runtime hardened: runc version 1.5.2; idmapped mounts; recursive read-only mounts (rro)",
				"kernel hardened: seccomp filters with the profile's actions (allow, errno)",
				"kernel hardened: idmapped mounts on @ROOT@",
				"audit-log hardened: @AUDIT@: directory writable",
				"containerd-config: version 3, root @ROOT@",
			},
		},
		{
			name:  "v2 config, good handler",
			setup: func(w *world) []string { w.containerdConfig("containerd-v2.toml"); return nil },
			want:  []string{"containerd-config: version 2", "handler hardened: runtime_path"},
		},
		{
			name: "v2 config parsed directly, version from the daemon",
			setup: func(w *world) []string {
				w.containerdConfig("containerd-v2.toml")
				w.socket = fakeDaemon(w.t, "v2.1.9")
				return []string{"--containerd", filepath.Join(w.dir, "no-containerd")}
			},
			// 2.0 and 2.1 report no features of a non-runc handler to kubelet
			warn: []string{"containerd"},
			want: []string{"containerd: 2.1.9 (daemon at ", "containerd: report no features for a non-runc handler", "containerd-config: parsed directly", "class hardened: node class file"},
		},
		{
			name: "imports parsed directly",
			setup: func(w *world) []string {
				w.containerdConfig("containerd-imports.toml")
				w.writeFile(filepath.Join(w.dir, "conf.d", "hardened.toml"), w.fill("dropin.toml"))
				w.socket = fakeDaemon(w.t, "v2.4.2")
				return []string{"--containerd", filepath.Join(w.dir, "no-containerd")}
			},
			want: []string{"containerd-config: and 1 import(s), parsed directly", "handler hardened: runtime_path"},
		},
		{
			name: "no hardened handler",
			setup: func(w *world) []string {
				w.containerdConfig("containerd-none.toml")
				// with no handler, the class is this binary's node class file
				w.writeFile(runtimeclass.NodeConfigPath(os.Args[0]), w.fill("class.toml"))
				return nil
			},
			code: 1,
			fail: []string{"handler"},
			want: []string{
				"handler: no CRI runtime handler of runtime_type io.containerd.hardened.v2 in containerd's config",
				"handler fix: [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened]\n  runtime_type = \"io.containerd.hardened.v2\"",
				"class: node class file",
			},
		},
		{
			name: "no hardened handler, v2 snippet",
			setup: func(w *world) []string {
				w.writeFile(w.ctrdConfig, strings.ReplaceAll(w.fill("containerd-v2.toml"), "io.containerd.hardened.v2", "io.containerd.runc.v2"))
				return []string{"--config", w.class("class.toml", "", "")}
			},
			code: 1,
			fail: []string{"handler"},
			want: []string{`handler fix: [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardened]`},
		},
		{
			name: "--handler names no handler",
			setup: func(w *world) []string {
				w.writeFile(runtimeclass.NodeConfigPath(os.Args[0]), w.fill("class.toml"))
				return []string{"--handler", "nosuch"}
			},
			code: 1,
			fail: []string{"handler nosuch"},
			want: []string{`handler nosuch: no CRI runtime handler "nosuch"`, "handler nosuch: (handlers of runtime_type io.containerd.hardened.v2: hardened)",
				"handler nosuch fix: containerd.runtimes.nosuch]"},
		},
		{
			name: "--handler names a runc handler",
			setup: func(w *world) []string {
				return []string{"--handler", "runc", "--config", w.class("class.toml", "", "")}
			},
			code: 1,
			fail: []string{"handler runc"},
			want: []string{`handler runc: has runtime_type "io.containerd.runc.v2", not "io.containerd.hardened.v2"`},
		},
		{
			name:  "handler with inline options",
			setup: func(w *world) []string { w.containerdConfig("containerd-inline.toml"); return nil },
			code:  1,
			fail:  []string{"handler hardened-inline"},
			want: []string{
				"handler hardened-inline: has inline options (class_name, mode)",
				"handler hardened-inline: for a hostUsers: false pod it must send runc-style options (it sets the stdio owner through them), so every such pod of the handler fails inside containerd before the shim is reached (" + userNamespaceFailure + ")",
				"handler hardened-inline fix: remove options from [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-inline]",
				"handler hardened-inline fix: already handler \"hardened\"'s class: a second class needs a second binary name, a symlink @BIN@/containerd-shim-hardened-inline-v2 → containerd-shim-hardened-v2 used as runtime_path, with its class in @CLASSDIR@/containerd-shim-hardened-inline-v2.toml",
				`class hardened-inline: class "hardened-inline" from @CLASSDIR@/containerd-shim-hardened-v2.toml tightened by inline options`,
				"handler hardened: no options",
			},
		},
		{
			name: "handler with inline options, checked alone",
			setup: func(w *world) []string {
				w.containerdConfig("containerd-inline.toml")
				return []string{"--handler", "hardened-inline"}
			},
			code: 1,
			fail: []string{"handler hardened-inline"},
			want: []string{"handler hardened-inline fix: That file is already handler \"hardened\"'s class"},
		},
		{
			name: "handler with ConfigPath",
			setup: func(w *world) []string {
				w.containerdConfig("containerd-configpath.toml")
				w.writeFile(filepath.Join(w.classDir, "hardened-file.toml"), w.fill("class-file.toml"))
				return nil
			},
			code: 1,
			fail: []string{"handler hardened-file"},
			want: []string{
				`handler hardened-file: has options = { ConfigPath = "@CLASSDIR@/hardened-file.toml" }`,
				"handler hardened-file: hostUsers: false",
				"handler hardened-file fix: put the class (the contents of @CLASSDIR@/hardened-file.toml) in @CLASSDIR@/containerd-shim-hardened-v2.toml",
				`class hardened-file: class "hardened-file" from @CLASSDIR@/containerd-shim-hardened-v2.toml tightened by @CLASSDIR@/hardened-file.toml`,
			},
		},
		{
			name: "handler without runtime_path, shim on PATH",
			setup: func(w *world) []string {
				w.containerdConfig("containerd-nopath.toml")
				return nil
			},
			want: []string{"handler hardened: containerd-shim-hardened-v2 on PATH: @SHIM@"},
		},
		{
			name: "handler without runtime_path, shim nowhere",
			setup: func(w *world) []string {
				w.containerdConfig("containerd-nopath.toml")
				os.Remove(w.shim)
				return nil
			},
			code: 1,
			fail: []string{"handler hardened"},
			want: []string{"handler hardened: no runtime_path, and containerd-shim-hardened-v2 is not on PATH", "handler hardened fix: install -m 0755 containerd-shim-hardened-v2 /usr/local/bin/"},
		},
		{
			name:  "runtime_path missing",
			setup: func(w *world) []string { os.Remove(w.shim); return nil },
			code:  1,
			fail:  []string{"handler hardened"},
			want:  []string{"handler hardened: runtime_path @SHIM@: stat @SHIM@: no such file or directory"},
		},
		{
			name:   "bad class config: unknown key",
			setup:  func(w *world) []string { return []string{"--config", w.class("class-unknown-key.toml", "", "")} },
			code:   1,
			fail:   []string{"class hardened"},
			want:   []string{`class hardened: runtime class config @DIR@/classes/class-unknown-key.toml: unknown key "polcy" (line 6`},
			absent: []string{"oci-runtime hardened", "kernel hardened", "audit-log hardened"},
		},
		{
			name: "bad node class file: bad value",
			setup: func(w *world) []string {
				w.writeFile(runtimeclass.NodeConfigPath(w.shim), "mode = \"loud\"\n"+w.fill("class.toml"))
				return nil
			},
			code:   1,
			fail:   []string{"class hardened"},
			want:   []string{`class hardened: runtime class config @CLASSDIR@/containerd-shim-hardened-v2.toml: key "mode": "loud" is not a mode`},
			absent: []string{"oci-runtime hardened"},
		},
		{
			name: "containerd_root differs from containerd's root",
			setup: func(w *world) []string {
				other := filepath.Join(w.dir, "other-root")
				os.MkdirAll(other, 0o755)
				return []string{"--config", w.classReplace("class.toml", `containerd_root = "`+w.root+`"`, `containerd_root = "`+other+`"`)}
			},
			code: 1,
			fail: []string{"class hardened"},
			want: []string{
				"class hardened: containerd_root is @DIR@/other-root but containerd's root is @ROOT@ (root in @DIR@/containerd.toml)",
				`class hardened fix: set containerd_root = "@ROOT@" in @DIR@/classes/class.toml`,
			},
		},
		{
			name: "runc missing",
			setup: func(w *world) []string {
				return []string{"--config", w.classReplace("class.toml", `binary_name = "`+w.runc+`"`, `binary_name = "/nonexistent/runc"`)}
			},
			code: 1,
			fail: []string{"oci-runtime hardened"},
			want: []string{`oci-runtime hardened: binary_name "/nonexistent/runc": stat /nonexistent/runc: no such file or directory`, "oci-runtime hardened fix: install runc 1.2 or newer"},
		},
		{
			name:  "runc without idmapped mounts",
			setup: func(w *world) []string { w.fakeRunc(w.runc, false, true); return nil },
			code:  1,
			fail:  []string{"oci-runtime hardened"},
			want: []string{"oci-runtime hardened: linux.mountExtensions.idmap.enabled is not true", `oci-runtime hardened: every pod of the class is refused at start (user_namespace = "required")`,
				"oci-runtime hardened: recursive read-only mounts (rro)"},
		},
		{
			name: "runc without idmapped mounts, if-supported",
			setup: func(w *world) []string {
				w.fakeRunc(w.runc, false, true)
				return []string{"--config", w.class("class.toml", `user_namespace = "if-supported"`, "")}
			},
			warn: []string{"oci-runtime hardened"},
			want: []string{`oci-runtime hardened: pods run without a user namespace of their own (user_namespace = "if-supported", mode enforce)`},
		},
		{
			name: "runc without idmapped mounts, user namespaces off",
			setup: func(w *world) []string {
				w.fakeRunc(w.runc, false, true)
				return []string{"--config", w.class("class.toml", `user_namespace = "off"`, "")}
			},
			want: []string{`oci-runtime hardened: idmapped mounts not needed (user_namespace = "off")`, `kernel hardened: user namespaces not needed`},
		},
		{
			name:  "runc without rro",
			setup: func(w *world) []string { w.fakeRunc(w.runc, true, false); return nil },
			code:  1,
			fail:  []string{"oci-runtime hardened"},
			want:  []string{`oci-runtime hardened: does not list the mount option "rro"`},
		},
		{
			name: "runc without features",
			setup: func(w *world) []string {
				w.script(w.runc, "[ \"$1\" = --version ] && echo 'runc version 1.0.3' && exit 0\necho 'unknown command features' >&2; exit 1\n")
				return nil
			},
			code: 1,
			fail: []string{"oci-runtime hardened"},
			want: []string{"oci-runtime hardened: runc version 1.0.3", "oci-runtime hardened: cannot report its features", "oci-runtime hardened: cannot tell whether it supports recursive read-only mounts"},
		},
		{
			name:  "containerd's root cannot be idmapped",
			setup: func(w *world) []string { w.unmappable[w.root] = true; return nil },
			code:  1,
			fail:  []string{"kernel hardened"},
			want:  []string{"kernel hardened: containerd's root (containerd_root) @ROOT@", "kernel hardened: cannot idmap a mount of this file system", `kernel hardened fix: or set user_namespace = "off" in @CLASSDIR@/containerd-shim-hardened-v2.toml`},
		},
		{
			name: "kubelet's root cannot be idmapped, audit mode",
			setup: func(w *world) []string {
				w.unmappable[w.kubelet] = true
				return []string{"--config", w.class("class.toml", `mode = "audit"`, "")}
			},
			warn: []string{"kernel hardened"},
			want: []string{"kernel hardened: kubelet's root (kubelet_root) @KUBELET@"},
		},
		{
			name:  "user namespaces disabled",
			setup: func(w *world) []string { w.fakeKernel("errno allow log", "0"); return nil },
			code:  1,
			fail:  []string{"kernel hardened"},
			want:  []string{"kernel hardened: user namespaces are disabled (@DIR@/proc/sys/user/max_user_namespaces = 0)"},
		},
		{
			name: "seccomp: errno and allow are enough without audit",
			setup: func(w *world) []string {
				w.fakeKernel("errno allow", "100")
				return []string{"--config", w.class("class.toml", "", "")}
			},
			// without [seccomp] audit the profile needs errno and allow only
		},
		{
			name: "seccomp audit without log",
			setup: func(w *world) []string {
				w.fakeKernel("errno allow", "100")
				return []string{"--config", w.class("class.toml", "", "[seccomp]\naudit = true\n")}
			},
			code: 1,
			fail: []string{"kernel hardened"},
			want: []string{"kernel hardened: seccomp lacks action(s) log", "kernel hardened: ([seccomp] audit = true turns denials into log)"},
		},
		{
			name: "no seccomp filters",
			setup: func(w *world) []string {
				os.Remove(filepath.Join(w.dir, "proc/sys/kernel/seccomp/actions_avail"))
				return nil
			},
			code: 1,
			fail: []string{"kernel hardened"},
			want: []string{"kernel hardened: no seccomp filter support"},
		},
		{
			name: "audit dir unwritable: parent is a regular file",
			setup: func(w *world) []string {
				file := w.writeFile(filepath.Join(w.dir, "not-a-dir"), "x")
				return []string{"--config", w.classReplace("class.toml", fmt.Sprintf("audit_log = %q", w.audit), fmt.Sprintf("audit_log = %q", filepath.Join(file, "sub", "audit.log")))}
			},
			code: 1,
			fail: []string{"audit-log hardened"},
			want: []string{"audit-log hardened: audit_log @DIR@/not-a-dir/sub/audit.log: its directory @DIR@/not-a-dir/sub cannot be created: @DIR@/not-a-dir is not a directory",
				"audit-log hardened fix: set audit_log in @DIR@/classes/class.toml"},
		},
		{
			name: "audit log is a symbolic link",
			setup: func(w *world) []string {
				os.Symlink("/etc/passwd", w.audit)
				return nil
			},
			code: 1,
			fail: []string{"audit-log hardened"},
			want: []string{"audit-log hardened: @AUDIT@ is a symbolic link"},
		},
		{
			name: "audit log: too little free space",
			setup: func(w *world) []string {
				return []string{"--config", w.class("class.toml", `audit_log_min_free = "1000000Gi"`, "")}
			},
			code: 1,
			fail: []string{"audit-log hardened"},
			want: []string{"audit-log hardened: below the 976.6TiB the audit log leaves free (audit_log_min_free)"},
		},
		{
			name: "audit log disabled",
			setup: func(w *world) []string {
				return []string{"--config", w.classReplace("class.toml", fmt.Sprintf("audit_log = %q", w.audit), `audit_log = "-"`)}
			},
			want: []string{`audit-log hardened: disabled (audit_log = "-")`},
		},
		{
			name:   "gVisor class",
			setup:  func(w *world) []string { return []string{"--config", w.class("class-gvisor.toml", "", "")} },
			want:   []string{"sandbox hardened: runtime runsc: @RUNSC@: runsc version test, platform systrap", "kernel hardened: gVisor applies the class's profile itself"},
			absent: []string{"oci-runtime hardened"},
		},
		{
			name: "gVisor class, runsc missing",
			setup: func(w *world) []string {
				os.Remove(w.runsc)
				return []string{"--config", w.class("class-gvisor.toml", "", "")}
			},
			code: 1,
			fail: []string{"sandbox hardened"},
			want: []string{`sandbox hardened: runtime runsc: binary_name "@RUNSC@": stat @RUNSC@: no such file or directory`, "sandbox hardened fix: install gVisor's runsc"},
		},
		{
			name:  "kata class",
			setup: func(w *world) []string { return []string{"--config", w.class("class-kata.toml", "", "")} },
			want:  []string{"sandbox hardened: runtime kata: delegate shim @KATA@; config_path @DIR@/kata.toml"},
		},
		{
			name: "kata class, delegate and its config missing",
			setup: func(w *world) []string {
				os.Remove(w.kata)
				os.Remove(w.kataConfig)
				return []string{"--config", w.class("class-kata.toml", "", "")}
			},
			code: 1,
			fail: []string{"sandbox hardened"},
			want: []string{`sandbox hardened: runtime kata: [kata] shim "@KATA@"`, "sandbox hardened: [kata] config_path @DIR@/kata.toml: no such file or directory"},
		},
		{
			name: "kata class requiring user namespaces",
			setup: func(w *world) []string {
				return []string{"--config", w.classReplace("class-kata.toml", `user_namespace = "off"`, `user_namespace = "required"`)}
			},
			code: 1,
			fail: []string{"sandbox hardened"},
			want: []string{"sandbox hardened: the delegate shim @KATA@ is not declared to apply a spec's user namespace", `sandbox hardened fix: set user_namespace = "off" in @DIR@/classes/class-kata.toml`},
		},
		{
			name:  "containerd 1.x",
			setup: func(w *world) []string { w.setVersion("v1.7.24"); return nil },
			code:  1,
			fail:  []string{"containerd"},
			want:  []string{"containerd: 1.7.24 (binary @BIN@/containerd; the daemon at", "containerd: this shim needs containerd 2.0 or newer", "containerd fix: upgrade containerd to 2.x"},
		},
		{
			name:  "containerd newer than tested",
			setup: func(w *world) []string { w.setVersion("2.6.0"); return nil },
			warn:  []string{"containerd"},
			want:  []string{"containerd: 2.6.0 (", "containerd: newer than the containerd versions this shim is tested with (2.0.14, 2.1.9, 2.2.9, 2.3.7, 2.4.2)"},
		},
		{
			name: "containerd 1.x config",
			setup: func(w *world) []string {
				w.containerdConfig("containerd-v1.toml")
				return []string{"--config", w.class("class.toml", "", "")}
			},
			code: 1,
			fail: []string{"containerd-config", "handler"},
			want: []string{"containerd-config: has version 0: a containerd 1.x configuration"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			args := tc.setup(w)
			code, r, out := w.doctor(args...)
			if code != tc.code || r.OK != (tc.code == 0) {
				t.Errorf("exit %d ok %v, want %d", code, r.OK, tc.code)
			}
			if got := byStatus(r, Fail); !slices.Equal(got, sorted(tc.fail)) {
				t.Errorf("failed checks %q, want %q", got, sorted(tc.fail))
			}
			if got := byStatus(r, Warn); !slices.Equal(got, sorted(tc.warn)) {
				t.Errorf("warnings %q, want %q", got, sorted(tc.warn))
			}
			if r.Problems != len(tc.fail) {
				t.Errorf("problems = %d, want %d", r.Problems, len(tc.fail))
			}
			repl := strings.NewReplacer("@ROOT@", w.root, "@CLASSDIR@", w.classDir, "@SHIM@", w.shim, "@RUNSC@", w.runsc, "@KATA@", w.kata,
				"@AUDIT@", w.audit, "@BIN@", w.bin, "@DIR@", w.dir, "@KUBELET@", w.kubelet)
			for _, want := range tc.want {
				want = repl.Replace(want)
				name, text, _ := strings.Cut(want, ": ")
				field := "detail"
				if n, ok := strings.CutSuffix(name, " fix"); ok {
					name, field = n, "fix"
				}
				c := find(r, name)
				if c == nil {
					t.Errorf("no check %q in\n%s", name, out)
					continue
				}
				got := c.Detail
				if field == "fix" {
					got = c.Fix
				}
				if !strings.Contains(got, text) {
					t.Errorf("%s %s:\n  %s\nwant it to contain\n  %s", name, field, got, text)
				}
			}
			for _, name := range tc.absent {
				if find(r, name) != nil {
					t.Errorf("check %q should not run:\n%s", name, out)
				}
			}
			for _, c := range r.Checks {
				if (c.Status == OK) != (c.Fix == "") {
					t.Errorf("check %q: status %s with fix %q", c.Name, c.Status, c.Fix)
				}
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// fakeDaemon serves containerd's version service on a socket.
func fakeDaemon(t *testing.T, version string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	versionapi.RegisterVersionServer(s, fakeVersion{version: version})
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return sock
}

type fakeVersion struct {
	versionapi.UnimplementedVersionServer
	version string
}

func (f fakeVersion) Version(context.Context, *emptypb.Empty) (*versionapi.VersionResponse, error) {
	return &versionapi.VersionResponse{Version: f.version, Revision: "test"}, nil
}

func TestDoctorUsage(t *testing.T) {
	w := newWorld(t)
	for _, args := range [][]string{
		{"--bogus"},
		{"extra-argument"},
		{"--config", filepath.Join(w.dir, "missing.toml")},
		{"--containerd-config", filepath.Join(w.dir, "missing.toml")},
		{"--config", w.dir},
		{"--address", ""},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(args, &stdout, &stderr); code != ExitUsage || stdout.Len() != 0 || stderr.Len() == 0 {
			t.Errorf("doctor %q: exit %d, stdout %q, stderr %q; want exit %d and a message", args, code, stdout.String(), stderr.String(), ExitUsage)
		}
	}
}

// TestDoctorOutput checks the human output's lines and the JSON document's
// shape.
func TestDoctorOutput(t *testing.T) {
	w := newWorld(t)
	w.containerdConfig("containerd-inline.toml")
	base := []string{"--containerd-config", w.ctrdConfig, "--containerd", w.ctrd, "--address", w.socket}

	var stdout, stderr bytes.Buffer
	if code := Run(base, &stdout, &stderr); code != ExitProblems {
		t.Fatalf("exit %d, want %d: %s", code, ExitProblems, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	var sawFail, sawFix bool
	for i, line := range lines[:len(lines)-1] {
		switch {
		case strings.HasPrefix(line, "ok    "):
		case strings.HasPrefix(line, "FAIL  handler hardened-inline "):
			sawFail = true
			if !strings.HasPrefix(lines[i+1], "      fix: remove options from [") {
				t.Errorf("line after the failure %q, want its fix", lines[i+1])
			}
		case strings.HasPrefix(line, "      fix: "):
			sawFix = true
		default:
			t.Errorf("unexpected line %q", line)
		}
	}
	if !sawFail || !sawFix {
		t.Errorf("no FAIL line with a fix in\n%s", stdout.String())
	}
	if last := lines[len(lines)-1]; last != "1 problem(s): handler hardened-inline" {
		t.Errorf("last line %q", last)
	}
	if !strings.Contains(stdout.String(), "ok    containerd    ") {
		t.Errorf("names are not aligned:\n%s", stdout.String())
	}

	stdout.Reset()
	w.containerdConfig("containerd-v3.toml")
	if code := Run(base, &stdout, &stderr); code != ExitOK {
		t.Fatalf("exit %d, want 0:\n%s", code, stdout.String())
	}
	if !strings.HasSuffix(stdout.String(), "\nhardened class can run on this node (handler hardened)\n") {
		t.Errorf("verdict missing:\n%s", stdout.String())
	}

	stdout.Reset()
	if code := Run(append(base, "--json"), &stdout, &stderr); code != ExitOK {
		t.Fatalf("exit %d, want 0", code)
	}
	var doc map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ok", "problems", "warnings", "handlers", "checks"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON has no %q: %s", k, stdout.String())
		}
	}
	if doc["ok"] != true || fmt.Sprint(doc["handlers"]) != "[hardened]" {
		t.Errorf("ok %v handlers %v", doc["ok"], doc["handlers"])
	}
	checks, _ := doc["checks"].([]any)
	var kinds []string
	for _, c := range checks {
		m := c.(map[string]any)
		for _, k := range []string{"name", "check", "status", "detail"} {
			if s, _ := m[k].(string); s == "" {
				t.Errorf("check without %q: %v", k, m)
			}
		}
		if _, ok := m["fix"]; ok {
			t.Errorf("an ok check has a fix: %v", m)
		}
		kinds = append(kinds, m["check"].(string))
	}
	want := []string{KindContainerd, KindConfig, KindHandler, KindClass, KindOCIRuntime, KindKernel, KindAuditLog}
	if !slices.Equal(kinds, want) {
		t.Errorf("checks %q, want %q", kinds, want)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v2.4.2":        "2.4.2",
		"2.4.2+unknown": "2.4.2+unknown",
		"containerd github.com/containerd/containerd/v2 2.0.14 abc":   "2.0.14",
		"containerd github.com/containerd/containerd v1.7.24 88bf19b": "1.7.24",
	} {
		if got, _, _, ok := parseVersion(in); !ok || got != want {
			t.Errorf("parseVersion(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	if _, _, _, ok := parseVersion("devel"); ok {
		t.Error("parseVersion(devel) ok")
	}
}

// TestResolveClassDefaults: a handler without a node class file runs the
// built-in defaults, whose containerd_root must be containerd's.
func TestResolveClassDefaults(t *testing.T) {
	w := newWorld(t)
	cfg := &containerdConfig{Version: 3, Root: w.root, State: w.state, File: w.ctrdConfig, Runtimes: map[string]*runtimeEntry{}}
	rt := &runtimeEntry{Name: "hardened-other", Type: RuntimeType, Path: filepath.Join(w.bin, "containerd-shim-hardened-other-v2")}
	class, where, c := resolveClass(options{}, cfg, rt)
	node := filepath.Join(w.classDir, "containerd-shim-hardened-other-v2.toml")
	if class == nil || where != node || c.Status != Fail || c.Handler != "hardened-other" {
		t.Fatalf("class %v where %q check %+v", class, where, c)
	}
	for _, want := range []string{
		"class \"hardened\" from the built-in defaults (no node class file " + node + ")",
		"containerd_root is /var/lib/containerd but containerd's root is " + w.root,
	} {
		if !strings.Contains(c.Detail, want) {
			t.Errorf("detail %q\nwant %q", c.Detail, want)
		}
	}
	if want := fmt.Sprintf("write the node class file %s with containerd_root = %q", node, w.root); c.Fix != want {
		t.Errorf("fix %q\nwant %q", c.Fix, want)
	}
	// the same defaults with containerd's default root are fine
	cfg.Root = "/var/lib/containerd"
	if _, _, c := resolveClass(options{}, cfg, rt); c.Status != OK {
		t.Errorf("%+v", c)
	}
}

package images

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"
)

// DefaultBusybox is where Debian's busybox package installs the binary. It must be the
// dynamically linked build ("busybox"), not "busybox-static": the static build runs applets in
// process (sh -c ls never executes /bin/ls), which breaks critest's MaskedPaths spec.
const DefaultBusybox = "/bin/busybox"

// basePasswd and baseGroup are the account files of the upstream busybox image, which critest's
// specs rely on (RunAsUserName "nobody", USER www-data).
const basePasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`

const baseGroup = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`

// nsswitchConf makes glibc resolve users and groups from the image's own files.
const nsswitchConf = `passwd:   files
group:    files
shadow:   files
hosts:    files dns
networks: files
protocols: files
services: files
`

// busyboxRoot is the shared bottom layer of every Busybox-based image.
type busyboxRoot struct {
	fs      *layerFS // kept so tests can inspect it
	version string   // first line of busybox's banner
	applets []string
}

// baseDirs are the directories of the upstream busybox image plus /var/run (nginx's PID file).
var baseDirs = []struct {
	path string
	mode fs.FileMode
}{
	{"/bin", 0o755}, {"/dev", 0o755}, {"/etc", 0o755}, {"/home", 0o755}, {"/proc", 0o555},
	{"/root", 0o700}, {"/sys", 0o555}, {"/tmp", fs.ModeSticky | 0o777}, {"/usr", 0o755},
	{"/usr/sbin", 0o755}, {"/var", 0o755}, {"/var/run", 0o755}, {"/var/spool", 0o755},
	{"/var/spool/mail", 0o755}, {"/var/www", 0o755},
}

// newBusyboxRoot builds the busybox root file system from the host's busybox binary and the
// libraries it links, plus the pgrep and ipcs tools.
func newBusyboxRoot(ctx context.Context, busybox string, arch archInfo, tools map[string][]byte) (*busyboxRoot, error) {
	data, err := os.ReadFile(busybox)
	if err != nil {
		return nil, fmt.Errorf("reading busybox (install Debian's \"busybox\" package): %w", err)
	}
	static, err := isStatic(busybox, arch)
	if err != nil {
		return nil, err
	}
	if static {
		return nil, fmt.Errorf("%s is statically linked (busybox-static?); the lab needs Debian's dynamically linked \"busybox\" package, because the static build runs applets in process", busybox)
	}
	version, applets, err := busyboxApplets(ctx, busybox)
	if err != nil {
		return nil, err
	}
	deps, err := runtimeDeps(busybox, arch)
	if err != nil {
		return nil, fmt.Errorf("resolving the libraries of %s: %w", busybox, err)
	}

	l := newLayerFS()
	for _, d := range baseDirs {
		if err := l.Dir(d.path, d.mode, 0, 0); err != nil {
			return nil, err
		}
	}
	if err := l.File("/bin/busybox", data, 0o755, 0, 0); err != nil {
		return nil, err
	}
	for _, applet := range applets {
		if err := l.HardLink("/bin/"+applet, "/bin/busybox"); err != nil {
			return nil, err
		}
	}
	for _, dep := range deps {
		content, err := os.ReadFile(dep.hostPath)
		if err != nil {
			return nil, fmt.Errorf("reading %s, which busybox needs: %w", dep.hostPath, err)
		}
		info, err := os.Stat(dep.hostPath)
		if err != nil {
			return nil, err
		}
		if err := l.File(dep.imagePath, content, info.Mode().Perm(), 0, 0); err != nil {
			return nil, err
		}
	}
	for _, tool := range []string{ToolPgrep, ToolIpcs} {
		if err := l.File("/bin/"+tool, tools[tool], 0o755, 0, 0); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct{ path, content string }{
		{"/etc/passwd", basePasswd},
		{"/etc/group", baseGroup},
		{"/etc/nsswitch.conf", nsswitchConf},
	} {
		if err := l.File(f.path, []byte(f.content), 0o644, 0, 0); err != nil {
			return nil, err
		}
	}
	return &busyboxRoot{fs: l, version: version, applets: applets}, nil
}

// busyboxApplets runs busybox to learn its version banner and applet names.
func busyboxApplets(ctx context.Context, busybox string) (version string, applets []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, busybox, "--list").Output()
	if err != nil {
		return "", nil, fmt.Errorf("listing busybox applets with %s --list: %w", busybox, err)
	}
	for _, name := range strings.Fields(string(out)) {
		switch {
		case name == "busybox", name == ToolPgrep, name == ToolIpcs:
			// busybox is the binary itself; the Go stand-ins win over same-named applets.
		case strings.ContainsAny(name, "/\x00") || name == "." || name == "..":
			return "", nil, fmt.Errorf("busybox --list printed an unusable applet name %q", name)
		default:
			applets = append(applets, name)
		}
	}
	if len(applets) == 0 {
		return "", nil, fmt.Errorf("%s --list printed no applets", busybox)
	}
	// busybox prints its banner as the first line of its help; it exits non-zero for --help.
	var banner bytes.Buffer
	cmd := exec.CommandContext(ctx, busybox, "--help")
	cmd.Stdout = &banner
	cmd.Stderr = &banner
	_ = cmd.Run()
	version, _, _ = strings.Cut(banner.String(), "\n")
	version = strings.TrimSuffix(strings.TrimSpace(version), " multi-call binary.")
	return version, applets, nil
}

// accountFiles renders /etc/passwd and /etc/group of a busybox image with extra accounts.
func accountFiles(users []Account, groups []Group) (passwd, group string) {
	var p, g strings.Builder
	p.WriteString(basePasswd)
	for _, u := range users {
		fmt.Fprintf(&p, "%s:x:%d:%d:%s:%s:%s\n", u.Name, u.UID, u.GID, u.Gecos, u.Home, u.Shell)
	}
	g.WriteString(baseGroup)
	for _, gr := range groups {
		fmt.Fprintf(&g, "%s:x:%d:%s\n", gr.Name, gr.GID, strings.Join(gr.Members, ","))
	}
	return p.String(), g.String()
}

// has reports whether a path exists in the busybox root.
func (r *busyboxRoot) has(p string) bool {
	rel, err := layerPath(p)
	if err != nil {
		return false
	}
	_, ok := r.fs.entries[rel]
	return ok
}

//go:build linux

package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"github.com/pelletier/go-toml/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/shim"
)

// TestedContainerd lists the containerd releases this shim is tested with,
// one per minor version: 2.0 up to the last of them is ok, 1.x fails, a newer
// minor is a warning.
var TestedContainerd = []string{"2.0.14", "2.1.9", "2.2.9", "2.3.7", "2.4.2"}

// DefaultContainerdConfig is where containerd reads its config by default.
const DefaultContainerdConfig = "/etc/containerd/config.toml"

// Containerd's defaults for the keys the doctor reads.
const (
	defaultContainerdRoot  = "/var/lib/containerd"
	defaultContainerdState = "/run/containerd"
)

// CRI's runtime plugin, by config version.
const (
	criRuntimeV3 = "io.containerd.cri.v1.runtime" // version 3 and later (containerd 2.x)
	criRuntimeV2 = "io.containerd.grpc.v1.cri"    // version 2 (containerd 1.x, migrated by 2.x)
)

// commandTimeout bounds each command the doctor runs.
var commandTimeout = 30 * time.Second

// versionTimeout bounds the question to containerd's daemon.
var versionTimeout = 5 * time.Second

// lookContainerd returns the containerd binary's path, or "".
func lookContainerd(name string) string {
	if name == "" {
		return ""
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return p
}

// run runs a command with the doctor's timeout and returns its stdout, or an
// error with the last line of its stderr.
func run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := lastLine(stderr.String())
		if msg == "" {
			msg = lastLine(stdout.String())
		}
		if msg != "" {
			return stdout.Bytes(), fmt.Errorf("`%s %s`: %v: %s", name, strings.Join(args, " "), err, msg)
		}
		return stdout.Bytes(), fmt.Errorf("`%s %s`: %v", name, strings.Join(args, " "), err)
	}
	return stdout.Bytes(), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}

// daemonVersion asks containerd's version service.
func daemonVersion(address string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), versionTimeout)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	resp, err := versionapi.NewVersionClient(conn).Version(ctx, &emptypb.Empty{})
	if err != nil {
		return "", err
	}
	return resp.GetVersion(), nil
}

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?`)

// parseVersion reads "v2.4.2", "2.4.2+unknown" or `containerd --version`'s
// line ("containerd github.com/containerd/containerd/v2 2.4.2 <commit>").
func parseVersion(s string) (version string, major, minor int, ok bool) {
	fields := strings.Fields(s)
	if len(fields) >= 3 && fields[0] == "containerd" {
		s = fields[2]
	} else if len(fields) > 0 {
		s = fields[0]
	}
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return s, 0, 0, false
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	return strings.TrimPrefix(s, "v"), major, minor, true
}

// checkContainerdVersion asks the daemon at address, else the binary.
func checkContainerdVersion(address, name, bin string) Check {
	c := Check{Kind: KindContainerd}
	v, err := daemonVersion(address)
	from := fmt.Sprintf("daemon at %s", address)
	if err != nil {
		if bin == "" {
			c.Status = Fail
			c.Detail = fmt.Sprintf("cannot tell containerd's version: the daemon at %s did not answer (%v) and there is no containerd binary (%s not found)", address, grpcMessage(err), name)
			c.Fix = "start containerd, or name its socket with --address and its binary with --containerd"
			return c
		}
		out, rerr := run(bin, "--version")
		if rerr != nil {
			c.Status = Fail
			c.Detail = fmt.Sprintf("cannot tell containerd's version: the daemon at %s did not answer (%v), and %v", address, grpcMessage(err), rerr)
			c.Fix = "start containerd, or name its socket with --address and its binary with --containerd"
			return c
		}
		v = firstLine(string(out))
		from = fmt.Sprintf("binary %s; the daemon at %s did not answer: %s", bin, address, grpcMessage(err))
	}
	version, major, minor, ok := parseVersion(v)
	tested := strings.Join(TestedContainerd, ", ")
	last := TestedContainerd[len(TestedContainerd)-1]
	_, lastMajor, lastMinor, _ := parseVersion(last)
	switch {
	case !ok:
		c.Status = Warn
		c.Detail = fmt.Sprintf("%q (%s): not a version the doctor can read; this shim is tested with containerd %s", v, from, tested)
		c.Fix = fmt.Sprintf("check that containerd is %s or newer (`containerd --version`)", shim.MinContainerd)
	case major < 2:
		c.Status = Fail
		c.Detail = fmt.Sprintf("%s (%s): this shim needs containerd %s or newer (tested with %s)", version, from, shim.MinContainerd, tested)
		c.Fix = fmt.Sprintf("upgrade containerd to 2.x (tested: %s), with a version 2 or 3 config", tested)
	case major > lastMajor || (major == lastMajor && minor > lastMinor):
		c.Status = Warn
		c.Detail = fmt.Sprintf("%s (%s): newer than the containerd versions this shim is tested with (%s)", version, from, tested)
		c.Fix = fmt.Sprintf("run the class's pods on a test node first, or use containerd %s", last)
	case major == 2 && minor < 2:
		// their CRI asks only runc-type handlers for features (-info)
		c.Status = Warn
		c.Detail = fmt.Sprintf("%s (%s): supported, but containerd 2.0 and 2.1 report no features for a non-runc handler, so kubelet refuses hostUsers: false pods and recursiveReadOnly mounts on the hardened handler (its own user namespace still applies to every pod)", version, from)
		c.Fix = "upgrade containerd to 2.2 or newer for hostUsers: false pods and recursive read-only volumes on this handler"
	default:
		c.Status = OK
		c.Detail = fmt.Sprintf("%s (%s)", version, from)
	}
	return c
}

// grpcMessage shortens a gRPC error to its description.
func grpcMessage(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "desc = "); i >= 0 {
		s = strings.Trim(s[i+len("desc = "):], `"`)
	}
	return s
}

// containerdConfig is what the doctor reads of containerd's configuration.
type containerdConfig struct {
	// File is the config file (the default when none was named).
	File string
	// FileVersion is the version key of File as written (0 when unread):
	// config snippets in fixes are written for it.
	FileVersion int64
	// Version is the version of the configuration read (a dump is the
	// latest version containerd knows).
	Version int64
	// Root and State are containerd's root and state directories.
	Root, State string
	// Runtimes are CRI's runtime handlers, by name.
	Runtimes map[string]*runtimeEntry
}

// runtimeEntry is one CRI runtime handler.
type runtimeEntry struct {
	Name string
	Type string // runtime_type
	Path string // runtime_path
	// Options is the handler's options table; nil when it has none.
	Options map[string]any
}

// snippetVersion is the config version fixes are written for.
func (c *containerdConfig) snippetVersion() int64 {
	if c == nil {
		return 3
	}
	if c.FileVersion != 0 {
		return c.FileVersion
	}
	return c.Version
}

// runtimeTable names a handler's table in containerd's config.
func (c *containerdConfig) runtimeTable(name string) string {
	if c.snippetVersion() == 2 {
		return fmt.Sprintf(`plugins."%s".containerd.runtimes.%s`, criRuntimeV2, tomlKey(name))
	}
	return fmt.Sprintf(`plugins.'%s'.containerd.runtimes.%s`, criRuntimeV3, tomlKey(name))
}

// fileName is the config file as named in messages.
func (c *containerdConfig) fileName() string {
	if c == nil || c.File == "" {
		return DefaultContainerdConfig
	}
	return c.File
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func tomlKey(k string) string {
	if bareKey.MatchString(k) {
		return k
	}
	return strconv.Quote(k)
}

// loadContainerdConfig reads containerd's configuration: as `containerd
// [--config FILE] config dump` resolves it when the binary is there (imports,
// defaults and migration applied, as the daemon would), else by parsing the
// file and its imports.
func loadContainerdConfig(file, name, bin string) (*containerdConfig, Check) {
	c := Check{Kind: KindConfig}
	named := file
	if file == "" {
		file = DefaultContainerdConfig
	}
	fileVersion := peekVersion(file)
	if bin != "" {
		args := []string{"config", "dump"}
		if named != "" {
			args = append([]string{"--config", named}, args...)
		}
		out, err := run(bin, args...)
		if err != nil {
			c.Status = Fail
			c.Detail = fmt.Sprintf("containerd cannot read its config %s: %v", file, err)
			c.Fix = fmt.Sprintf("correct %s (containerd would not start with it)", file)
			return nil, c
		}
		cfg, err := parseContainerdConfig(out, fmt.Sprintf("the output of `%s %s`", bin, strings.Join(args, " ")))
		if err != nil {
			c.Status = Fail
			c.Detail = err.Error()
			c.Fix = fmt.Sprintf("write a version 3 config (containerd 2.x) to %s", file)
			return nil, c
		}
		cfg.File, cfg.FileVersion = file, fileVersion
		c.Status = OK
		exists := ""
		if _, err := os.Stat(file); err != nil {
			exists = " (absent: containerd's defaults)"
		}
		c.Detail = fmt.Sprintf("%s%s as `%s %s` resolves it: version %d, root %s, state %s, %d CRI runtime handler(s)",
			file, exists, filepath.Base(bin), strings.Join(args, " "), cfg.Version, cfg.Root, cfg.State, len(cfg.Runtimes))
		return cfg, c
	}
	cfg, files, err := readContainerdConfig(file)
	if err != nil {
		c.Status = Fail
		c.Detail = fmt.Sprintf("%v (no containerd binary to dump it: %s not found)", err, name)
		c.Fix = "name containerd's config with --containerd-config, or its binary with --containerd; a containerd 2.x config is version 2 or 3"
		return nil, c
	}
	cfg.File, cfg.FileVersion = file, fileVersion
	c.Status = OK
	imports := ""
	if len(files) > 1 {
		imports = fmt.Sprintf(" and %d import(s)", len(files)-1)
	}
	c.Detail = fmt.Sprintf("%s%s, parsed directly (no containerd binary to dump it: %s not found; containerd's defaults not applied): version %d, root %s, state %s, %d CRI runtime handler(s)",
		file, imports, name, cfg.Version, cfg.Root, cfg.State, len(cfg.Runtimes))
	return cfg, c
}

// peekVersion returns the version key of a config file, or 0.
func peekVersion(file string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	var v struct {
		Version int64 `toml:"version"`
	}
	if toml.Unmarshal(b, &v) != nil {
		return 0
	}
	return v.Version
}

// maxConfigFile bounds a containerd config file or dump.
const maxConfigFile = 16 << 20

// parseContainerdConfig reads one configuration document (a dump, or one
// file without its imports).
func parseContainerdConfig(data []byte, source string) (*containerdConfig, error) {
	doc, err := decodeTOML(data, source)
	if err != nil {
		return nil, err
	}
	cfg := &containerdConfig{Runtimes: map[string]*runtimeEntry{}}
	if err := cfg.merge(doc, source); err != nil {
		return nil, err
	}
	cfg.defaults()
	return cfg, nil
}

func decodeTOML(data []byte, source string) (map[string]any, error) {
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("containerd config %s: larger than %d bytes", source, maxConfigFile)
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("containerd config %s: line %d, column %d: %v", source, row, col, err)
		}
		return nil, fmt.Errorf("containerd config %s: %v", source, err)
	}
	return doc, nil
}

func (c *containerdConfig) defaults() {
	if c.Root == "" {
		c.Root = defaultContainerdRoot
	}
	if c.State == "" {
		c.State = defaultContainerdState
	}
}

// merge applies one document to the configuration, later documents
// overriding earlier ones key by key (as containerd merges imports).
func (c *containerdConfig) merge(doc map[string]any, source string) error {
	version, _ := doc["version"].(int64)
	if c.Version == 0 {
		c.Version = version
	}
	if s, ok := doc["root"].(string); ok && s != "" {
		c.Root = s
	}
	if s, ok := doc["state"].(string); ok && s != "" {
		c.State = s
	}
	var plugin string
	switch {
	case version >= 3:
		plugin = criRuntimeV3
	case version == 2:
		plugin = criRuntimeV2
	default:
		return fmt.Errorf("containerd config %s has version %d: a containerd 1.x configuration (containerd 2.x reads versions 2 and 3)", source, version)
	}
	runtimes := table(doc, "plugins", plugin, "containerd", "runtimes")
	for name, v := range runtimes {
		t, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("containerd config %s: plugins.%q.containerd.runtimes.%s is not a table", source, plugin, name)
		}
		e := c.Runtimes[name]
		if e == nil {
			e = &runtimeEntry{Name: name}
			c.Runtimes[name] = e
		}
		if s, ok := t["runtime_type"].(string); ok {
			e.Type = s
		}
		if s, ok := t["runtime_path"].(string); ok {
			e.Path = s
		}
		if o, ok := t["options"]; ok {
			m, ok := o.(map[string]any)
			if !ok {
				return fmt.Errorf("containerd config %s: plugins.%q.containerd.runtimes.%s.options is not a table", source, plugin, name)
			}
			if e.Options == nil {
				e.Options = map[string]any{}
			}
			deepMerge(e.Options, m)
		}
	}
	return nil
}

// table walks nested tables; a missing one is nil.
func table(doc map[string]any, keys ...string) map[string]any {
	cur := doc
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// readContainerdConfig parses a config file and its imports (globs,
// relative to the importing file's directory), in containerd's order: the
// file, then each import, later ones overriding.
func readContainerdConfig(file string) (*containerdConfig, []string, error) {
	cfg := &containerdConfig{Runtimes: map[string]*runtimeEntry{}}
	seen := map[string]bool{}
	pending := []string{file}
	var files []string
	for len(pending) > 0 {
		path := pending[0]
		pending = pending[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("containerd config: %w", err)
		}
		doc, err := decodeTOML(data, path)
		if err != nil {
			return nil, nil, err
		}
		if err := cfg.merge(doc, path); err != nil {
			return nil, nil, err
		}
		files = append(files, path)
		imports, _ := doc["imports"].([]any)
		for _, imp := range imports {
			s, ok := imp.(string)
			if !ok {
				continue
			}
			if !filepath.IsAbs(s) {
				s = filepath.Join(filepath.Dir(path), s)
			}
			matches, err := filepath.Glob(s)
			if err != nil {
				return nil, nil, fmt.Errorf("containerd config %s: import %q: %w", path, s, err)
			}
			sort.Strings(matches)
			pending = append(pending, matches...)
		}
	}
	cfg.defaults()
	return cfg, files, nil
}

// hardenedHandlers returns the names of the handlers of this runtime type.
func (c *containerdConfig) hardenedHandlers() []string {
	var names []string
	for name, e := range c.Runtimes {
		if e.Type == RuntimeType {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// addHandlerSnippet is the config a node admin adds for a handler.
func addHandlerSnippet(cfg *containerdConfig, name string) string {
	return fmt.Sprintf("add to %s (or a drop-in it imports) and restart containerd:\n[%s]\n  runtime_type = %q",
		cfg.fileName(), cfg.runtimeTable(name), RuntimeType)
}

// selectHandlers returns the handlers to check (--handler, or every handler
// of this runtime type) and the checks of a missing one.
func selectHandlers(cfg *containerdConfig, want string) ([]*runtimeEntry, []Check) {
	name := want
	if name == "" {
		name = "hardened"
	}
	if cfg == nil {
		return nil, []Check{{Kind: KindHandler, Handler: want, Status: Fail,
			Detail: "cannot tell which CRI runtime handlers exist: containerd's config could not be read (see containerd-config)",
			Fix:    "make containerd's config readable, then run doctor again"}}
	}
	all := cfg.hardenedHandlers()
	list := "none"
	if len(all) > 0 {
		list = strings.Join(all, ", ")
	}
	if want != "" {
		e := cfg.Runtimes[want]
		switch {
		case e == nil:
			return nil, []Check{{Kind: KindHandler, Handler: want, Status: Fail,
				Detail: fmt.Sprintf("no CRI runtime handler %q in containerd's config %s (handlers of runtime_type %s: %s)", want, cfg.fileName(), RuntimeType, list),
				Fix:    addHandlerSnippet(cfg, want)}}
		case e.Type != RuntimeType:
			return nil, []Check{{Kind: KindHandler, Handler: want, Status: Fail,
				Detail: fmt.Sprintf("CRI runtime handler %q in %s has runtime_type %q, not %q (handlers of runtime_type %s: %s)", want, cfg.fileName(), e.Type, RuntimeType, RuntimeType, list),
				Fix:    fmt.Sprintf("set runtime_type = %q in [%s], or name another handler with --handler", RuntimeType, cfg.runtimeTable(want))}}
		}
		return []*runtimeEntry{e}, nil
	}
	if len(all) == 0 {
		return nil, []Check{{Kind: KindHandler, Status: Fail,
			Detail: fmt.Sprintf("no CRI runtime handler of runtime_type %s in containerd's config %s: pods of the class cannot be created through CRI", RuntimeType, cfg.fileName()),
			Fix:    addHandlerSnippet(cfg, name)}}
	}
	var out []*runtimeEntry
	for _, n := range all {
		out = append(out, cfg.Runtimes[n])
	}
	return out, nil
}

//go:build linux

package doctor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/pelletier/go-toml/v2"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// userNamespaceFailure is what containerd answers a hostUsers: false pod of
// a handler with options.
const userNamespaceFailure = `failed to get runtime v2 options: can't unmarshal type "runtimeoptions.v1.Options" to output "containerd.runc.v1.Options"`

// shimPath resolves the shim binary containerd runs for a handler, as
// containerd does: runtime_path when set, else containerd-shim-hardened-v2
// on PATH, else beside containerd's own binary. where says how it was found.
func shimPath(rt *runtimeEntry, containerdBin string) (path, where string, err error) {
	if rt.Path != "" {
		if !filepath.IsAbs(rt.Path) {
			return "", "", fmt.Errorf("runtime_path %q is not an absolute path (containerd takes a relative one for a runtime type name)", rt.Path)
		}
		st, err := os.Stat(rt.Path)
		if err != nil {
			return "", "", fmt.Errorf("runtime_path %s: %w", rt.Path, err)
		}
		if !st.Mode().IsRegular() {
			return "", "", fmt.Errorf("runtime_path %s is not a regular file (%s)", rt.Path, st.Mode().Type())
		}
		if st.Mode().Perm()&0o111 == 0 {
			return "", "", fmt.Errorf("runtime_path %s is not executable (mode %s)", rt.Path, st.Mode().Perm())
		}
		return rt.Path, "runtime_path " + rt.Path, nil
	}
	if p, err := exec.LookPath(ShimBinary); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return p, fmt.Sprintf("%s on PATH: %s", ShimBinary, p), nil
	}
	if containerdBin != "" {
		p := filepath.Join(filepath.Dir(containerdBin), ShimBinary)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, fmt.Sprintf("%s beside containerd: %s", ShimBinary, p), nil
		}
	}
	beside := ""
	if containerdBin != "" {
		beside = " nor beside containerd in " + filepath.Dir(containerdBin)
	}
	return "", "", fmt.Errorf("no runtime_path, and %s is not on PATH (%s)%s", ShimBinary, os.Getenv("PATH"), beside)
}

// argv0 is what names a handler's node class file: its runtime_path, or the
// shim's binary name.
func argv0(rt *runtimeEntry) string {
	if rt != nil && rt.Path != "" {
		return rt.Path
	}
	return ShimBinary
}

// optionsKind describes a handler's options table.
func optionsKind(opts map[string]any) string {
	if p, ok := opts["ConfigPath"].(string); ok && p != "" {
		return fmt.Sprintf("options = { ConfigPath = %q }", p)
	}
	if len(opts) == 0 {
		return "an empty options table"
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprintf("inline options (%s)", strings.Join(keys, ", "))
}

// checkHandler checks one CRI runtime handler of this runtime type: its shim
// binary, and that it sends no options.
func checkHandler(cfg *containerdConfig, rt *runtimeEntry, containerdBin string) Check {
	c := Check{Kind: KindHandler, Handler: rt.Name, Status: OK}
	table := cfg.runtimeTable(rt.Name)
	var details, fixes []string
	path, where, err := shimPath(rt, containerdBin)
	if err != nil {
		c.Status = Fail
		details = append(details, err.Error())
		if rt.Path != "" {
			fixes = append(fixes, fmt.Sprintf("install the shim at %s (install -m 0755 containerd-shim-hardened-v2 …) or correct runtime_path in [%s]", rt.Path, table))
		} else {
			fixes = append(fixes, fmt.Sprintf("install -m 0755 %s /usr/local/bin/ (on containerd's PATH), or set runtime_path in [%s]", ShimBinary, table))
		}
	} else {
		if v := shimVersion(path); v != "" {
			where += " (" + v + ")"
		}
		details = append(details, where)
	}
	if rt.Options != nil {
		c.Status = Fail
		details = append(details, fmt.Sprintf("has %s: containerd's CRI then sends runtimeoptions.v1.Options, but for a hostUsers: false pod it must send runc-style options (it sets the stdio owner through them), so every such pod of the handler fails inside containerd before the shim is reached (%s); pods without hostUsers: false still run",
			optionsKind(rt.Options), userNamespaceFailure))
		fixes = append(fixes, optionsFix(cfg, rt))
	} else if err == nil {
		details = append(details, fmt.Sprintf("no options: the class comes from the node class file %s", runtimeclass.NodeConfigPath(argv0(rt))))
	}
	c.Detail = strings.Join(details, "; ")
	c.Fix = strings.Join(fixes, "; ")
	return c
}

// optionsFix says how to move a handler's class out of its options.
func optionsFix(cfg *containerdConfig, rt *runtimeEntry) string {
	node := runtimeclass.NodeConfigPath(argv0(rt))
	what := "the class"
	if p, ok := rt.Options["ConfigPath"].(string); ok && p != "" {
		what = "the class (the contents of " + p + ")"
	}
	fix := fmt.Sprintf("remove options from [%s] and put %s in %s, the node class file of its shim binary %s",
		cfg.runtimeTable(rt.Name), what, node, filepath.Base(argv0(rt)))
	// a node class file is one class: another handler on the same binary
	// without options already takes its class from it
	for _, name := range cfg.hardenedHandlers() {
		o := cfg.Runtimes[name]
		if o != rt && o.Options == nil && runtimeclass.NodeConfigPath(argv0(o)) == node {
			name := "containerd-shim-" + rt.Name + "-v2"
			dir := filepath.Dir(argv0(rt))
			if !filepath.IsAbs(dir) {
				dir = "/usr/local/bin"
			}
			fix += fmt.Sprintf(". That file is already handler %q's class: a second class needs a second binary name, a symlink %s → %s used as runtime_path, with its class in %s",
				o.Name, filepath.Join(dir, name), filepath.Base(argv0(rt)), runtimeclass.NodeConfigPath(name))
			break
		}
	}
	return fix
}

// shimVersion returns the Version line of `SHIM --version`, or "".
func shimVersion(path string) string {
	out, err := run(path, "--version")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Version:"); ok {
			return "version " + strings.TrimSpace(v)
		}
	}
	return ""
}

// bundleDir is a bundle path under containerd's state directory, so that
// a class's default runtime root is the one containerd's shims would use.
func bundleDir(cfg *containerdConfig) string {
	state := defaultContainerdState
	if cfg != nil {
		state = cfg.State
	}
	return filepath.Join(state, "io.containerd.runtime.v2.task", "k8s.io", "doctor")
}

// handlerOptions are the runtime options containerd's CRI sends for a
// handler's options table (GenerateRuntimeOptions): ConfigPath alone when
// it has one, else the whole table as ConfigBody.
func handlerOptions(opts map[string]any) (*anypb.Any, error) {
	b, err := toml.Marshal(opts)
	if err != nil {
		return nil, fmt.Errorf("encoding the handler's options: %w", err)
	}
	ro := &runtimeoptions.Options{}
	if p, ok := opts["ConfigPath"].(string); ok && p != "" {
		ro.ConfigPath = p
	} else {
		ro.ConfigBody = b
	}
	if t, ok := opts["TypeUrl"].(string); ok {
		ro.TypeUrl = t
	}
	return anypb.New(ro)
}

// resolveClass resolves the class a handler runs (or --config, or with no
// handler this binary's node class file) as the shim does, and checks it.
// where names the file (or options) the class's keys are set in, for fixes.
func resolveClass(o options, cfg *containerdConfig, rt *runtimeEntry) (class *runtimeclass.Class, where string, c Check) {
	c = Check{Kind: KindClass, Status: OK}
	if rt != nil {
		c.Handler = rt.Name
	}
	bundle := bundleDir(cfg)
	var (
		desc string
		err  error
	)
	switch {
	case o.config != "":
		var cfgFile *runtimeclass.Config
		cfgFile, err = runtimeclass.Load(o.config)
		if err == nil {
			class = runtimeclass.New(cfgFile, o.config, bundle)
		}
		where = o.config
		desc = o.config + " (--config)"
	case rt != nil && rt.Options != nil:
		var opts *anypb.Any
		opts, err = handlerOptions(rt.Options)
		if err == nil {
			class, err = runtimeclass.Resolver{Argv0: argv0(rt)}.Resolve(opts, bundle)
		}
		where = fmt.Sprintf("the options of [%s]", cfg.runtimeTable(rt.Name))
		if p, ok := rt.Options["ConfigPath"].(string); ok && p != "" {
			where = p
		}
	default:
		a := o.argv0
		if rt != nil {
			a = argv0(rt)
		}
		class, err = runtimeclass.Resolver{Argv0: a}.Node(bundle)
		where = runtimeclass.NodeConfigPath(a)
	}
	if err != nil {
		c.Status = Fail
		c.Detail = err.Error()
		c.Fix = fmt.Sprintf("correct %s (every key and value: README, Configuration reference); `%s check --config FILE` loads a class file the same way",
			where, ShimBinary)
		return nil, where, c
	}
	if desc == "" {
		switch {
		case class.Source == runtimeclass.SourceDefaults:
			desc = fmt.Sprintf("the built-in defaults (no node class file %s)", class.NodeFile)
		case strings.HasPrefix(class.Source, runtimeclass.SourceDefaults+" + "):
			desc = fmt.Sprintf("%s over the built-in defaults (no node class file %s)", strings.TrimPrefix(class.Source, runtimeclass.SourceDefaults+" + "), class.NodeFile)
		case rt != nil && rt.Options != nil:
			desc = strings.ReplaceAll(class.Source, " + ", " tightened by ")
		default:
			desc = "node class file " + class.Source
		}
	}
	if env := os.Getenv(runtimeclass.NodeConfigDirEnv); env != "" && o.config == "" {
		desc += fmt.Sprintf(" (%s=%s)", runtimeclass.NodeConfigDirEnv, env)
	}
	c.Detail = fmt.Sprintf("class %q from %s: runtime %s, mode %s, user_namespace %s", class.Name(), desc, class.Runtime, class.Mode, class.UsernsMode())
	// the checks take only snapshots under containerd_root as root file
	// systems: another root refuses every container
	if cfg != nil {
		have, want := class.PolicyOptions().ContainerdRoot, cfg.Root
		if !samePath(have, want) {
			c.Status = Fail
			c.Detail += fmt.Sprintf("; containerd_root is %s but containerd's root is %s (root in %s): the class takes only snapshots under containerd_root as root file systems, so every container would be refused (hostPathVolumes)",
				have, want, cfg.fileName())
			c.Fix = fmt.Sprintf("set containerd_root = %q in %s", want, where)
			if class.Source == runtimeclass.SourceDefaults {
				c.Fix = fmt.Sprintf("write the node class file %s with containerd_root = %q", class.NodeFile, want)
			}
		}
	}
	return class, where, c
}

// samePath compares two paths after resolving symbolic links where they
// resolve.
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

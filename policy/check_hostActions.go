package policy

import (
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func init() {
	register(Check{
		ID: "hostActions",
		Description: "Things runc does on the node on a spec's behalf: OCI hooks (run as the node's root, outside the container's confinement) " +
			"and a seccomp listenerPath (runc connects to a host socket and hands it the container's seccomp notify fd). " +
			"Refused unless the class allowlists the exact path.",
		Evaluate: checkHostActions,
	})
}

// checkHostActions refuses hooks and seccomp listeners outside the class's
// allowlists. runc (libcontainer/specconv/spec_linux.go createHooks) turns
// every hook into a command it runs itself: prestart, createRuntime and
// poststart/poststop from the runtime's namespaces with runc's full
// privileges, createContainer in the container's mount namespace before
// pivot_root (the host's tree still at /), startContainer inside the
// container just before the user process. None of them is confined like
// the container. A path is matched exactly after cleaning and resolving
// symlinks on the node, so "/usr/bin/../bin/hook" or a symlink to an
// allowlisted binary is the binary it really is; a startContainer hook is
// resolved by runc inside the container, and is held to the same host-path
// allowlist, which a container file cannot satisfy by accident.
func checkHostActions(in *Input) []Violation {
	var vs []Violation
	if h := in.Spec.Hooks; h != nil {
		allowed := resolvedSet(in.Host, in.Options.AllowedHooks)
		refused, more := 0, 0
		for _, set := range []struct {
			name  string
			hooks []specs.Hook
		}{
			{"prestart", h.Prestart}, //nolint:staticcheck // deprecated, still run by runc
			{"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
			{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop},
		} {
			for i, hk := range set.hooks {
				if refused >= maxHookViolations {
					more++ // bounded time: no more lookups on the node
					continue
				}
				field := fmt.Sprintf("hooks.%s[%d].path", set.name, i)
				if why := notAllowlisted(in.Host, hk.Path, allowed); why != "" {
					refused++
					vs = append(vs, Violation{Check: "hostActions", Field: field, Value: hk.Path,
						Reason: fmt.Sprintf("%s runs %q as the node's root (%s); remove the hook or add it to the class's policy.allowed_hooks", field, hk.Path, why)})
				}
			}
		}
		if more > 0 {
			vs = append(vs, Violation{Check: "hostActions", Field: "hooks", Value: fmt.Sprintf("%d more", more),
				Reason: fmt.Sprintf("hooks: %d more hooks not checked after %d refused ones; remove them", more, maxHookViolations)})
		}
	}
	if l := in.Spec.Linux; l != nil && l.Seccomp != nil && l.Seccomp.ListenerPath != "" {
		p := l.Seccomp.ListenerPath
		if why := notAllowlisted(in.Host, p, resolvedSet(in.Host, in.Options.AllowedSeccompListeners)); why != "" {
			vs = append(vs, Violation{Check: "hostActions", Field: "linux.seccomp.listenerPath", Value: p,
				Reason: fmt.Sprintf("linux.seccomp.listenerPath %q makes runc hand the container's seccomp notify fd to a host socket (%s); remove it or add it to the class's policy.allowed_seccomp_listeners", p, why)})
		}
	}
	return vs
}

// maxHookViolations bounds the hooks looked up and reported one by one.
const maxHookViolations = 16

// resolvedSet resolves every allowlisted path (an allowlisted symlink
// stands for its target).
func resolvedSet(h Host, paths []string) map[string]bool {
	set := map[string]bool{}
	for _, p := range paths {
		set[resolveOrClean(h, p)] = true
	}
	return set
}

// notAllowlisted returns why p is not in allowed (resolved paths), or "".
func notAllowlisted(h Host, p string, allowed map[string]bool) string {
	if !filepath.IsAbs(p) {
		return "a relative path, which runc resolves from the bundle"
	}
	r, err := h.Resolve(filepath.Clean(p))
	if err != nil {
		return fmt.Sprintf("cannot be resolved on the node: %v", err)
	}
	if !allowed[r] {
		if r != filepath.Clean(p) {
			return fmt.Sprintf("resolves to %q, not allowlisted", r)
		}
		return "not allowlisted"
	}
	return ""
}

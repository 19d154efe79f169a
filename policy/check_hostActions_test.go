package policy

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestHostActions(t *testing.T) {
	hooks := func(set func(h *specs.Hooks), allow ...string) func(s *specs.Spec, h *fakeHost, o *Options) {
		return func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Hooks = &specs.Hooks{}
			set(s.Hooks)
			o.AllowedHooks = allow
		}
	}
	hook := func(p string) []specs.Hook { return []specs.Hook{{Path: p, Args: []string{p}}} }
	listener := func(p string, allow ...string) func(s *specs.Spec, h *fakeHost, o *Options) {
		return func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: p}
			o.AllowedSeccompListeners = allow
		}
	}
	runCases(t, []checkCase{
		{name: "prestart hook refused by default", setup: hooks(func(h *specs.Hooks) { h.Prestart = hook("/usr/bin/evil") }), //nolint:staticcheck
			want: "hostActions", reason: `runs "/usr/bin/evil" as the node's root`, field: "hooks.prestart[0].path"},
		{name: "createRuntime hook refused by default", setup: hooks(func(h *specs.Hooks) { h.CreateRuntime = hook("/bin/sh") }),
			want: "hostActions", reason: "policy.allowed_hooks", field: "hooks.createRuntime[0].path"},
		{name: "createContainer hook", setup: hooks(func(h *specs.Hooks) { h.CreateContainer = hook("/bin/sh") }),
			want: "hostActions", field: "hooks.createContainer[0].path"},
		{name: "startContainer hook", setup: hooks(func(h *specs.Hooks) { h.StartContainer = hook("/bin/sh") }),
			want: "hostActions", field: "hooks.startContainer[0].path"},
		{name: "poststart and poststop hooks", setup: hooks(func(h *specs.Hooks) { h.Poststart = hook("/bin/a"); h.Poststop = hook("/bin/b") }),
			want: "hostActions,hostActions", field: "hooks.poststart[0].path"},
		{name: "second hook of a set is named", setup: hooks(func(h *specs.Hooks) {
			h.CreateRuntime = append(hook("/opt/nvidia/hook"), hook("/bin/sh")...)
		}, "/opt/nvidia/hook"), want: "hostActions", field: "hooks.createRuntime[1].path"},
		{name: "allowlisted hook", setup: hooks(func(h *specs.Hooks) { h.CreateRuntime = hook("/opt/nvidia/hook") }, "/opt/nvidia/hook"), want: ""},
		{name: "allowlisted hook spelled with ..", setup: hooks(func(h *specs.Hooks) { h.CreateRuntime = hook("/opt/other/../nvidia/hook") }, "/opt/nvidia/hook"), want: ""},
		{name: "allowlisted hook reached through a symlink", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			h.links["/usr/local/bin/hook"] = "/opt/nvidia/hook"
			hooks(func(hk *specs.Hooks) { hk.CreateRuntime = hook("/usr/local/bin/hook") }, "/opt/nvidia/hook")(s, h, o)
		}, want: ""},
		{name: "hook symlinked to another binary", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			h.links["/usr/local/bin/nv"] = "/bin/sh"
			hooks(func(hk *specs.Hooks) { hk.CreateRuntime = hook("/usr/local/bin/nv") }, "/opt/nvidia/hook")(s, h, o)
		}, want: "hostActions", reason: `resolves to "/bin/sh"`},
		{name: "allowlist is exact, not a prefix", setup: hooks(func(h *specs.Hooks) { h.CreateRuntime = hook("/opt/nvidia/hook2") }, "/opt/nvidia/hook"),
			want: "hostActions", reason: "not allowlisted"},
		{name: "relative hook path", setup: hooks(func(h *specs.Hooks) { h.CreateRuntime = hook("hook") }, "/opt/nvidia/hook"),
			want: "hostActions", reason: "relative path"},
		{name: "seccomp listener refused by default", setup: listener("/run/agent.sock"),
			want: "hostActions", reason: "seccomp notify fd", field: "linux.seccomp.listenerPath"},
		{name: "allowlisted seccomp listener", setup: listener("/run/seccomp-agent.sock", "/run/seccomp-agent.sock"), want: ""},
		{name: "seccomp listener through a symlink elsewhere", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			h.links["/run/agent"] = "/run/containerd"
			listener("/run/agent/containerd.sock", "/run/agent/containerd.sock")(s, h, o)
		}, want: ""},
		{name: "seccomp listener outside the allowlist", setup: listener("/run/containerd/containerd.sock", "/run/seccomp-agent.sock"),
			want: "hostActions", reason: "policy.allowed_seccomp_listeners"},
		{name: "profile without listener", setup: listener(""), want: ""},
		{name: "many hooks are reported in bounded time", setup: hooks(func(h *specs.Hooks) {
			for i := 0; i < 20; i++ {
				h.Poststop = append(h.Poststop, hook("/bin/true")...)
			}
		}), want: strings.TrimSuffix(strings.Repeat("hostActions,", maxHookViolations+1), ","), field: "hooks.poststop[0].path"},
	})
}

func TestAllowlistOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(o *Options)
		err  string // substring; "" for valid
	}{
		{"hooks ok", func(o *Options) { o.AllowedHooks = []string{"/usr/bin/nvidia-container-runtime-hook"} }, ""},
		{"relative hook", func(o *Options) { o.AllowedHooks = []string{"hook"} }, `"policy.allowed_hooks"`},
		{"unclean hook", func(o *Options) { o.AllowedHooks = []string{"/usr/bin/../sbin/x"} }, "clean absolute path"},
		{"listener /", func(o *Options) { o.AllowedSeccompListeners = []string{"/"} }, `"policy.allowed_seccomp_listeners"`},
		{"listener ok", func(o *Options) { o.AllowedSeccompListeners = []string{"/run/agent.sock"} }, ""},
		{"devices ok", func(o *Options) { o.AllowedDevices = []string{"c 10:229", "c 195:*", "b 8:0"} }, ""},
		{"device type wildcard", func(o *Options) { o.AllowedDevices = []string{"c *:*"} }, `"policy.allowed_devices"`},
		{"device bad type", func(o *Options) { o.AllowedDevices = []string{"a 1:3"} }, "not a device"},
		{"device no minor", func(o *Options) { o.AllowedDevices = []string{"c 10"} }, "not a device"},
		{"device negative", func(o *Options) { o.AllowedDevices = []string{"c 10:-1"} }, "minor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.set(o)
			err := o.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

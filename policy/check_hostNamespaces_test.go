package policy

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func dropNamespace(s *specs.Spec, kind specs.LinuxNamespaceType) {
	var out []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != kind {
			out = append(out, ns)
		}
	}
	s.Linux.Namespaces = out
}

func TestHostNamespaces(t *testing.T) {
	runCases(t, []checkCase{
		{name: "no network namespace", setup: func(s *specs.Spec, h *fakeHost, o *Options) { dropNamespace(s, "network") },
			want: "hostNamespaces", reason: "hostNetwork=true", field: "linux.namespaces"},
		{name: "no pid namespace", setup: func(s *specs.Spec, h *fakeHost, o *Options) { dropNamespace(s, "pid") },
			want: "hostNamespaces", reason: "hostPID=true"},
		{name: "no ipc namespace", setup: func(s *specs.Spec, h *fakeHost, o *Options) { dropNamespace(s, "ipc") },
			want: "hostNamespaces", reason: "hostIPC=true"},
		{name: "joins the host network namespace by path", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			for i, ns := range s.Linux.Namespaces {
				if ns.Type == "network" {
					s.Linux.Namespaces[i].Path = "/proc/1/ns/net"
				}
			}
			h.ns["/proc/1/ns/net"] = h.hostNS["network"]
		}, want: "hostNamespaces", reason: `joins the host's network namespace through "/proc/1/ns/net"`, field: `linux.namespaces["network"].path`},
		{name: "joins another path to the host pid namespace", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			for i, ns := range s.Linux.Namespaces {
				if ns.Type == "pid" {
					s.Linux.Namespaces[i].Path = "/proc/777/ns/pid"
				}
			}
			h.ns["/proc/777/ns/pid"] = h.hostNS["pid"]
		}, want: "hostNamespaces", reason: "hostPID=true"},
		{name: "namespace path that does not exist", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			for i, ns := range s.Linux.Namespaces {
				if ns.Type == "ipc" {
					s.Linux.Namespaces[i].Path = "/proc/99999/ns/ipc"
				}
			}
		}, want: "hostNamespaces", reason: "cannot verify"},
		{name: "host /dev/shm bind", setup: func(s *specs.Spec, h *fakeHost, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "rw"}})
			o.AllowedHostPaths = []AllowedHostPath{{PathPrefix: "/dev/shm"}}
		}, want: "hostNamespaces", reason: "host's /dev/shm"},
		{name: "sandbox's own namespaces", want: ""},
	})
}

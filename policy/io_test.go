package policy

import (
	"io/fs"
	"strings"
	"testing"
)

func TestEvaluateIO(t *testing.T) {
	const state = "/run/containerd"
	fifo := state + "/io.containerd.grpc.v1.cri/containers/c1/io/123/c1-stdout"
	for _, tc := range []struct {
		name   string
		io     IO
		setup  func(h *fakeHost, o *Options)
		reason string // "" for allowed
	}{
		{"CRI FIFOs", IO{Stdout: fifo, Stderr: fifo}, nil, ""},
		{"no stdio", IO{}, nil, ""},
		{"ctr FIFO in the default dir", IO{Stdin: DefaultFIFODir + "/x/stdin"}, func(h *fakeHost, o *Options) {
			h.modes[DefaultFIFODir+"/x/stdin"] = fs.ModeNamedPipe
		}, ""},
		{"plain path to a host file", IO{Stdout: "/etc/passwd"}, func(h *fakeHost, o *Options) {
			h.modes["/etc/passwd"] = 0o644
		}, "outside containerd's state and FIFO directories"},
		{"regular file in the state dir", IO{Stdin: state + "/x"}, func(h *fakeHost, o *Options) {
			h.modes[state+"/x"] = 0o644
		}, "not a FIFO"},
		{"symlink from the FIFO dir to a host FIFO", IO{Stdout: DefaultFIFODir + "/evil"}, func(h *fakeHost, o *Options) {
			h.links[DefaultFIFODir+"/evil"] = "/run/initctl"
			h.modes["/run/initctl"] = fs.ModeNamedPipe
		}, `("/run/initctl") is outside`},
		{"fifo:// scheme", IO{Stdout: "fifo://" + fifo}, nil, ""},
		{"binary logger", IO{Stdout: "binary:///usr/local/bin/evil?x=1"}, nil, "runs host binary"},
		{"allowlisted binary logger", IO{Stdout: "binary:///usr/local/bin/logger"}, func(h *fakeHost, o *Options) {
			o.AllowedLogBinaries = []string{"/usr/local/bin/logger"}
		}, ""},
		{"file target", IO{Stdout: "file:///root/.ssh/authorized_keys"}, nil, "create and append to host file"},
		{"file target under an allowed dir", IO{Stdout: "file:///var/log/ctr/app.log"}, func(h *fakeHost, o *Options) {
			o.AllowedLogDirs = []string{"/var/log/ctr"}
		}, ""},
		{"file target escaping an allowed dir by ..", IO{Stdout: "file:///var/log/ctr/../../../etc/cron.d/x"}, func(h *fakeHost, o *Options) {
			o.AllowedLogDirs = []string{"/var/log/ctr"}
		}, "host file"},
		{"file target through a symlink", IO{Stdout: "file:///var/log/ctr/link/x"}, func(h *fakeHost, o *Options) {
			o.AllowedLogDirs = []string{"/var/log/ctr"}
			h.links["/var/log/ctr/link"] = "/etc"
		}, "host file"},
		{"unknown scheme", IO{Stderr: "tcp://127.0.0.1:1"}, nil, "scheme"},
		{"relative path", IO{Stderr: "x/y"}, nil, "not an absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost()
			h.modes = map[string]fs.FileMode{fifo: fs.ModeNamedPipe}
			o := DefaultOptions()
			if tc.setup != nil {
				tc.setup(h, o)
			}
			vs := EvaluateIO(tc.io, state, o, h)
			if tc.reason == "" {
				if len(vs) != 0 {
					t.Fatalf("violations %v", vs)
				}
				return
			}
			if len(vs) != 1 || vs[0].Check != IOCheckID || !strings.Contains(vs[0].Reason, tc.reason) {
				t.Fatalf("violations %v, want one with %q", vs, tc.reason)
			}
		})
	}
}

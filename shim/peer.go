//go:build linux

package shim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/ttrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// groupLabels are the annotations by which containerd's runc manager puts a
// container into an existing shim process (its pod's): the same list as
// cmd/containerd-shim-runc-v2/manager.
var groupLabels = []string{"io.containerd.runc.v2.group", policy.AnnotationSandboxID}

// grouping returns the shim group a spec claims and the annotation that
// claims it; claims is false when it claims none other than its own id. The
// runc manager takes the first label present, even with an empty value.
func grouping(id string, spec *specs.Spec) (group, label string, claims bool) {
	for _, l := range groupLabels {
		if g, ok := spec.Annotations[l]; ok {
			return g, l, g != id
		}
	}
	return "", "", false
}

// peerTimeout bounds the conversation with the shim serving a group.
const peerTimeout = 5 * time.Second

// verifyPeer checks that the shim process serving address is this binary
// running this class: the runc manager hands a container that claims a group
// (pod) to whatever shim serves that group's socket, which may be another
// runtime's (the stock runc shim) — the container would then run unhardened
// under this runtime's name.
func verifyPeer(ctx context.Context, address, group, label string, class *runtimeclass.Class) error {
	refuse := func(format string, args ...any) error {
		return &refusal{msg: fmt.Sprintf("container claims shim group %q (annotation %s), %s; refused (runtime class %q)",
			group, label, fmt.Sprintf(format, args...), class.Name())}
	}
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	path := strings.TrimPrefix(address, "unix://")
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return refuse("whose shim cannot be reached: %v", err)
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	resp, err := taskAPI.NewTTRPCTaskClient(client).Connect(ctx, &taskAPI.ConnectRequest{ID: group})
	if err != nil {
		return refuse("whose shim does not answer: %v", err)
	}
	pid := resp.GetShimPid()
	peerExe, err := os.Stat(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return refuse("whose shim process %d cannot be inspected: %v", pid, err)
	}
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		return err
	}
	if !os.SameFile(peerExe, self) {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		return refuse("which is served by %s (pid %d), not by this runtime's shim", exe, pid)
	}
	// The shim daemon runs in the bundle of the group's first container,
	// where the start step saved its class.
	peer, err := runtimeclass.LoadSaved(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return refuse("whose shim's runtime class cannot be read: %v", err)
	}
	if a, b := classIdentity(peer), classIdentity(class); a != b {
		return refuse("which is served by runtime class %q with other settings (%s)", peer.Name(), peer.Source)
	}
	return nil
}

// classIdentity is what must agree for two containers to share a shim: every
// setting but the label-free stdio owner and where the settings came from.
func classIdentity(c *runtimeclass.Class) string {
	cfg := c.Config
	cfg.IoUID, cfg.IoGID = 0, 0
	b, _ := json.Marshal(cfg)
	return string(b)
}

// sandboxPIDFromRuntime returns the init process of pod sandbox id as the
// class's runtime records it (runc's state.json under <root>/<namespace>),
// or 0 when the runtime has no such container: what the start step, which
// runs before the pod's shim is asked, knows of the pod.
func sandboxPIDFromRuntime(class *runtimeclass.Class, namespace, id string) int {
	if namespace == "" || strings.ContainsAny(namespace, "/\x00") || namespace == ".." || namespace == "." {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(class.Root, namespace, id, "state.json"))
	if err != nil || len(b) > 4<<20 {
		return 0
	}
	var st struct {
		Pid int `json:"init_process_pid"`
	}
	if json.Unmarshal(b, &st) != nil {
		return 0
	}
	return st.Pid
}

// sandboxUIDFromBundle returns the pod UID of pod sandbox id from its
// bundle's spec (a sibling of bundle), or "".
func sandboxUIDFromBundle(bundle, id string) string {
	spec, err := readBundleSpec(filepath.Join(filepath.Dir(bundle), id))
	if err != nil {
		return ""
	}
	in := &policy.Input{Spec: spec, ID: id}
	if !in.IsSandbox() || in.OwnSandboxID() != id {
		return ""
	}
	return in.PodUID()
}

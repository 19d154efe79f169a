//go:build linux

package shim

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	namespacesapi "github.com/containerd/containerd/api/services/namespaces/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Exit codes of the verify command.
const (
	VerifyOK       = 0
	VerifyMismatch = 1
	VerifyError    = 2
)

// verifyResult is one running container of the runtime and who serves it.
type verifyResult struct {
	Namespace string `json:"namespace"`
	ID        string `json:"id"`
	SandboxID string `json:"sandboxID,omitempty"`
	InitPID   uint32 `json:"initPID"`
	ShimPID   int    `json:"shimPID"`
	ShimExe   string `json:"shimExe"`
	OK        bool   `json:"ok"`
	Problem   string `json:"problem,omitempty"`
}

// RunVerify is `containerd-shim-hardened-v2 verify`: it asks containerd for
// every container whose runtime is this shim's and checks that the shim
// process serving its task is this binary. A raw containerd client can
// create a container of the hardened runtime whose SandboxID names a pod of
// another runtime; containerd then runs it in that pod's shim without ever
// calling this one, and only such a look from outside can tell.
func RunVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	address := fs.String("address", "/run/containerd/containerd.sock", "containerd's gRPC socket")
	ns := fs.String("namespace", "", "containerd namespace (default: every namespace)")
	runtime := fs.String("runtime", RuntimeName, "runtime type whose containers are checked")
	asJSON := fs.Bool("json", false, "print one JSON object per container")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s verify [--address SOCK] [--namespace NS] [--runtime TYPE] [--json]\n\n"+
			"Checks that every running container of the runtime is served by this shim binary.\n"+
			"Exit status: 0 all are, 1 some are not, 2 error.\n\n", filepath.Base(os.Args[0]))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		if err == nil {
			fs.Usage()
		}
		return VerifyError
	}
	results, err := verify(*address, *ns, *runtime)
	if err != nil {
		fmt.Fprintln(stderr, "verify:", err)
		return VerifyError
	}
	code := VerifyOK
	for _, r := range results {
		if !r.OK {
			code = VerifyMismatch
		}
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Fprintln(stdout, string(b))
			continue
		}
		state := "ok"
		if !r.OK {
			state = "NOT SERVED BY THIS SHIM: " + r.Problem
		}
		fmt.Fprintf(stdout, "%s/%s: shim %d (%s): %s\n", r.Namespace, r.ID, r.ShimPID, r.ShimExe, state)
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "%d running container(s) of runtime %s checked\n", len(results), *runtime)
	}
	return code
}

func verify(address, ns, runtime string) ([]verifyResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	nss := []string{ns}
	if ns == "" {
		resp, err := namespacesapi.NewNamespacesClient(conn).List(ctx, &namespacesapi.ListNamespacesRequest{})
		if err != nil {
			return nil, fmt.Errorf("listing namespaces at %s: %w", address, err)
		}
		nss = nss[:0]
		for _, n := range resp.GetNamespaces() {
			nss = append(nss, n.GetName())
		}
	}
	var out []verifyResult
	for _, n := range nss {
		nctx := namespaces.WithNamespace(ctx, n)
		cs, err := containersapi.NewContainersClient(conn).List(nctx, &containersapi.ListContainersRequest{})
		if err != nil {
			return nil, fmt.Errorf("listing containers of namespace %s: %w", n, err)
		}
		for _, c := range cs.GetContainers() {
			if c.GetRuntime().GetName() != runtime {
				continue
			}
			t, err := tasksapi.NewTasksClient(conn).Get(nctx, &tasksapi.GetRequest{ContainerID: c.GetID()})
			if err != nil || t.GetProcess().GetPid() == 0 {
				continue // no running task: nothing runs, nothing to verify
			}
			r := verifyResult{Namespace: n, ID: c.GetID(), SandboxID: c.GetSandbox(), InitPID: t.GetProcess().GetPid()}
			r.ShimPID, err = parentPID(r.InitPID)
			if err != nil {
				r.Problem = err.Error()
				out = append(out, r)
				continue
			}
			r.ShimExe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", r.ShimPID))
			st, err := os.Stat(fmt.Sprintf("/proc/%d/exe", r.ShimPID))
			switch {
			case err != nil:
				r.Problem = err.Error()
			case !os.SameFile(st, self):
				r.Problem = "the task runs under " + r.ShimExe
				if r.SandboxID != "" {
					r.Problem += fmt.Sprintf(" (the container names sandbox %q)", r.SandboxID)
				}
			default:
				r.OK = true
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// parentPID returns the parent of pid: a runc-based shim is the subreaper
// of its containers' init processes.
func parentPID(pid uint32) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no PPid in /proc/%d/status", pid)
}

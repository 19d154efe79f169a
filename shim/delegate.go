//go:build linux

package shim

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/sandbox"
)

// shimEnv is what containerd told this shim process about itself (the
// flags and environment of containerd's shim protocol, which the shim
// library keeps to itself), for the delegate shims it starts and cleans up.
func shimEnv(ctx context.Context, bundle string) sandbox.ShimEnv {
	fs := flag.NewFlagSet("shim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ns := fs.String("namespace", "", "")
	address := fs.String("address", "", "")
	publish := fs.String("publish-binary", "", "")
	debug := fs.Bool("debug", false, "")
	for _, name := range []string{"id", "socket", "debug-socket", "bundle"} {
		fs.String(name, "", "")
	}
	for _, name := range []string{"v", "version", "info"} {
		fs.Bool(name, false, "")
	}
	_ = fs.Parse(os.Args[1:])
	env := sandbox.ShimEnv{Namespace: *ns, Address: *address, PublishBinary: *publish, Debug: *debug,
		TTRPCAddress: os.Getenv("TTRPC_ADDRESS")}
	if n, ok := namespaces.Namespace(ctx); ok {
		env.Namespace = n
	}
	if env.Address == "" {
		env.Address = os.Getenv("GRPC_ADDRESS")
	}
	// the start step links the socket directory containerd named into the
	// bundle ("s", pkg/shim)
	// (an app container's bundle has none: the shim process runs in its
	// pod sandbox's)
	for _, link := range []string{filepath.Join(bundle, "s"), "s"} {
		if dir, err := os.Readlink(link); err == nil {
			env.SocketDir = dir
			break
		}
	}
	return env
}

//go:build linux

package shim

import (
	"context"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/log"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/sandbox"
)

// shimEnv is what containerd told this shim process about itself (the
// flags and environment of containerd's shim protocol, which the shim
// library keeps to itself), for the delegate shims it starts and cleans up.
func shimEnv(ctx context.Context, bundle string) sandbox.ShimEnv {
	a, _ := parseShimArgs(os.Args[1:])
	env := sandbox.ShimEnv{ID: a.id, Namespace: a.namespace, Address: a.address, PublishBinary: a.publishBinary, Debug: a.debug,
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

// prestartDelegate starts the delegate shim of the container this shim
// process was started for, if its class delegates, while containerd connects
// and sends Create: Create then finds the delegate running (or starts it
// itself, reporting the error, when this failed). The start step saved the
// class after its checks; Create checks the container again before the
// delegate gets it.
func prestartDelegate(ctx context.Context) {
	bundle, err := os.Getwd()
	if err != nil {
		return
	}
	class, err := runtimeclass.LoadSaved(bundle)
	if err != nil {
		return
	}
	backend, err := sandbox.For(class)
	if err != nil {
		return
	}
	d, ok := backend.(sandbox.Delegator)
	if !ok {
		return
	}
	opts, err := runcOptionsAny(class)
	if err != nil {
		return
	}
	env := shimEnv(ctx, bundle)
	if _, _, err := d.Delegate(ctx, class, env, env.ID, bundle, opts); err != nil {
		log.G(ctx).WithError(err).Warn("starting the delegate shim ahead of Create")
	}
}

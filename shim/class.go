//go:build linux

package shim

import (
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// resolveClass resolves a container's class. Class options (a config file or
// inline TOML) decide it. Without them, a CRI app container takes the class
// its pod sandbox was started with (saved in the sandbox's bundle): containerd
// creates app containers in the pod's shim without running this binary's
// start step, so the node class file named after the binary as invoked would
// not tell two classes served by one binary apart. Otherwise the node class
// applies.
func resolveClass(r runtimeclass.Resolver, opts *anypb.Any, bundle string, spec *specs.Spec) (*runtimeclass.Class, error) {
	if runtimeclass.IsClassOptions(opts) {
		return r.Resolve(opts, bundle)
	}
	sandboxID := (&policy.Input{Spec: spec}).SandboxID()
	if spec.Annotations[policy.AnnotationContainerType] == policy.ContainerTypeContainer && sandboxID != "" {
		class, err := runtimeclass.LoadSaved(filepath.Join(filepath.Dir(bundle), sandboxID))
		if err == nil {
			if err := class.ApplyAny(opts); err != nil {
				return nil, err
			}
			return class, nil
		}
		if !os.IsNotExist(err) {
			return nil, err
		}
	}
	return r.Resolve(opts, bundle)
}

package policy

import (
	"fmt"
	"sort"
	"strings"
)

func init() {
	register(Check{
		ID:          "runtimeAnnotations",
		Description: "Spec annotations that configure the OCI runtime itself (gVisor's flags, internals, a tar root file system), which a workload must not set.",
		Evaluate:    checkRuntimeAnnotations,
	})
}

// runtimeAnnotationPrefixes are annotations a runtime reads as its own configuration. gVisor's
// mount hints (dev.gvisor.spec.mount.*) describe how the pod shares its volumes and stay
// allowed.
var runtimeAnnotationPrefixes = []string{"dev.gvisor.flag.", "dev.gvisor.internal.", "dev.gvisor.tar.", "dev.gvisor.spec.rootfs."}

func checkRuntimeAnnotations(in *Input) []Violation {
	var keys []string
	for k := range in.Spec.Annotations {
		for _, p := range runtimeAnnotationPrefixes {
			if strings.HasPrefix(k, p) {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	var vs []Violation
	for _, k := range keys {
		vs = append(vs, Violation{Check: "runtimeAnnotations", Field: fmt.Sprintf("annotations[%q]", k), Value: fmt.Sprintf("%q", in.Spec.Annotations[k]),
			Reason: "configures the OCI runtime (gVisor) itself; its flags and internals are the node admin's (the class's [runsc] flags)"})
	}
	return vs
}

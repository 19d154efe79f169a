//go:build linux

package shim

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/internal/fuzzguard"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// The fuzz targets. Seeds: the lab's real specs (policy/testdata, captured by
// integration/capture-fixtures.sh) and the regressions in testdata/fuzz.
// `make fuzz` runs each for a bounded time; FUZZTIME=10m for longer.

// fuzzSeeds adds every spec of the lab's fixtures to f.
func fuzzSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "policy", "testdata", "cri", "*.json"))
	files = append(files, filepath.Join("..", "policy", "testdata", "ctr-default.json"))
	n := 0
	for _, file := range files {
		if strings.HasSuffix(file, "meta.json") {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		n++
	}
	if n < 10 {
		f.Fatalf("only %d seed specs in policy/testdata", n)
	}
}

// fuzzRoots are the lab paths the fixtures were captured with.
func fuzzRoots(f *testing.F) propertyRoots {
	b, err := os.ReadFile(filepath.Join("..", "policy", "testdata", "cri", "meta.json"))
	if err != nil {
		f.Fatal(err)
	}
	var meta struct {
		KubeletRoot    string `json:"kubeletRoot"`
		ContainerdRoot string `json:"containerdRoot"`
		StateDir       string `json:"stateDir"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		f.Fatal(err)
	}
	return propertyRoots{containerdRoot: meta.ContainerdRoot, kubeletRoot: meta.KubeletRoot, stateDir: meta.StateDir}
}

// FuzzCheckAndHarden: any spec through the shim's Create path (the checks,
// then the hardening step, as `check --offline` judges it): nothing panics,
// and a spec that comes out allowed keeps the class's promise
// (propertyViolations).
func FuzzCheckAndHarden(f *testing.F) {
	fuzzSeeds(f)
	roots := fuzzRoots(f)
	cfg, err := runtimeclass.Parse([]byte(`containerd_root = "`+roots.containerdRoot+`"
kubelet_root = "`+roots.kubeletRoot+`"
audit_log = "-"
`), "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	bundle := filepath.Join(roots.stateDir, "io.containerd.runtime.v2.task", "k8s.io", "fuzz")
	class := runtimeclass.New(cfg, "fuzz", bundle)
	ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzzguard.Watch(data)()
		spec, err := parseSpec(data, "fuzz")
		if err != nil {
			return
		}
		id := specID(spec, "fuzz")
		r := request{id: id, bundle: filepath.Join(filepath.Dir(bundle), id), spec: spec, sandboxPID: pidOfNamespacePaths(spec),
			sandboxUID: spec.Annotations[policy.AnnotationSandboxUID], host: &policy.OfflineHost{}}
		d, err := evaluateSpec(ctx, audit.EventCreate, class, r)
		if err != nil || d.refused {
			return
		}
		if vs := propertyViolations(spec, roots); len(vs) > 0 {
			out, _ := json.MarshalIndent(spec, "", "  ")
			t.Fatalf("allowed and hardened, but:\n  %s\nspec as hardened:\n%s", strings.Join(vs, "\n  "), out)
		}
	})
}

// TestFuzzPropertyIsNotVacuous: the fuzz target's property runs on the seeds
// the class allows (several of the lab's specs are), and it flags the
// violations it is meant to find in specs as they come from a client.
func TestFuzzPropertyIsNotVacuous(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "policy", "testdata", "cri", "*.json"))
	b, err := os.ReadFile(filepath.Join("..", "policy", "testdata", "cri", "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct{ KubeletRoot, ContainerdRoot, StateDir string }
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	roots := propertyRoots{containerdRoot: meta.ContainerdRoot, kubeletRoot: meta.KubeletRoot, stateDir: meta.StateDir}
	cfg, err := runtimeclass.Parse([]byte("containerd_root = \""+roots.containerdRoot+"\"\nkubelet_root = \""+roots.kubeletRoot+"\"\naudit_log = \"-\"\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(roots.stateDir, "io.containerd.runtime.v2.task", "k8s.io", "t")
	class := runtimeclass.New(cfg, "t", bundle)
	ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
	allowed, flaggedRaw := 0, 0
	for _, file := range files {
		if strings.HasSuffix(file, "meta.json") {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := parseSpec(data, file)
		if err != nil {
			t.Fatal(err)
		}
		if len(propertyViolations(raw, roots)) > 0 {
			flaggedRaw++
		}
		spec, _ := parseSpec(data, file)
		id := specID(spec, "t")
		d, err := evaluateSpec(ctx, audit.EventCreate, class, request{id: id, bundle: filepath.Join(filepath.Dir(bundle), id), spec: spec,
			sandboxPID: pidOfNamespacePaths(spec), sandboxUID: spec.Annotations[policy.AnnotationSandboxUID], host: &policy.OfflineHost{}})
		if err != nil || d.refused {
			if d != nil && testing.Verbose() {
				t.Logf("%s refused: %+v", filepath.Base(file), d.record.Violations)
			}
			continue
		}
		allowed++
		if vs := propertyViolations(spec, roots); len(vs) > 0 {
			t.Errorf("%s: allowed and hardened, but %v", file, vs)
		}
	}
	// CRI sends neither noNewPrivileges nor a read-only root: every raw spec breaks the promise
	if allowed < 5 || flaggedRaw < allowed {
		t.Errorf("%d seeds allowed, %d raw seeds flagged: the property must see allowed specs and flag raw ones", allowed, flaggedRaw)
	}
	t.Logf("%d of %d seeds allowed; %d raw seeds flagged", allowed, len(files)-1, flaggedRaw)
}

// FuzzParseSpec: the spec reader answers any bytes (no panic, no hang, no
// allocation beyond its size limit), and a spec it accepts survives a
// round trip through JSON.
func FuzzParseSpec(f *testing.F) {
	fuzzSeeds(f)
	f.Add([]byte(`{"ociVersion":"1.2.0","process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzzguard.Watch(data)()
		spec, err := parseSpec(data, "fuzz")
		if err != nil {
			return
		}
		b, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("an accepted spec does not marshal: %v", err)
		}
		if _, err := parseSpec(b, "again"); err != nil {
			t.Fatalf("an accepted spec, marshalled, is refused: %v", err)
		}
	})
}

//go:build linux

package shim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/audit"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/internal/fuzzguard"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
)

// The fuzz targets. Seeds: the lab's real specs (policy/testdata, captured by
// integration/capture-fixtures.sh) and the regressions in testdata/fuzz.
// `make fuzz` runs each for a bounded time; FUZZTIME=10m for longer.

// seed is one of the lab's captured specs.
type seed struct {
	name string
	data []byte
}

// seedSpecs reads the lab's captured specs (policy/testdata).
func seedSpecs(tb testing.TB) []seed {
	files, _ := filepath.Glob(filepath.Join("..", "policy", "testdata", "cri", "*.json"))
	files = append(files, filepath.Join("..", "policy", "testdata", "ctr-default.json"))
	var out []seed
	for _, file := range files {
		if strings.HasSuffix(file, "meta.json") {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, seed{filepath.Base(file), b})
	}
	if len(out) < 10 {
		tb.Fatalf("only %d seed specs in policy/testdata", len(out))
	}
	return out
}

// fuzzSeeds adds every spec of the lab's fixtures to f.
func fuzzSeeds(f *testing.F) {
	for _, s := range seedSpecs(f) {
		f.Add(s.data)
	}
}

// fuzzJudge judges specs as the fuzz target does: the default class over
// the lab paths the fixtures were captured with, on an offline host.
type fuzzJudge struct {
	roots  propertyRoots
	class  *runtimeclass.Class
	bundle string // a bundle in containerd's task state directory
	ctx    context.Context
}

func newFuzzJudge(tb testing.TB) *fuzzJudge {
	b, err := os.ReadFile(filepath.Join("..", "policy", "testdata", "cri", "meta.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var meta struct {
		KubeletRoot    string `json:"kubeletRoot"`
		ContainerdRoot string `json:"containerdRoot"`
		StateDir       string `json:"stateDir"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		tb.Fatal(err)
	}
	roots := propertyRoots{containerdRoot: meta.ContainerdRoot, kubeletRoot: meta.KubeletRoot, stateDir: meta.StateDir}
	cfg, err := runtimeclass.Parse([]byte(fmt.Sprintf("containerd_root = %q\nkubelet_root = %q\naudit_log = \"-\"\n", roots.containerdRoot, roots.kubeletRoot)), "fuzz")
	if err != nil {
		tb.Fatal(err)
	}
	bundle := filepath.Join(roots.stateDir, "io.containerd.runtime.v2.task", "k8s.io", "fuzz")
	return &fuzzJudge{roots: roots, class: runtimeclass.New(cfg, "fuzz", bundle), bundle: bundle,
		ctx: namespaces.WithNamespace(context.Background(), "k8s.io")}
}

// judge runs spec through the checks and the hardening step (applied to
// spec) under the container ID a CRI spec names, as the shim's Create does.
func (j *fuzzJudge) judge(spec *specs.Spec) (d *decision, allowed bool) {
	id := specID(spec, "fuzz")
	r := request{id: id, bundle: filepath.Join(filepath.Dir(j.bundle), id), spec: spec, sandboxPID: pidOfNamespacePaths(spec),
		sandboxUID: spec.Annotations[policy.AnnotationSandboxUID], host: &policy.OfflineHost{}}
	d, err := evaluateSpec(j.ctx, audit.EventCreate, j.class, r)
	return d, err == nil && !d.refused
}

// FuzzCheckAndHarden: any spec through the shim's Create path (the checks,
// then the hardening step, as `check --offline` judges it): nothing panics,
// and a spec that comes out allowed keeps the class's promise
// (propertyViolations).
func FuzzCheckAndHarden(f *testing.F) {
	fuzzSeeds(f)
	j := newFuzzJudge(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		defer fuzzguard.Watch(data)()
		spec, err := parseSpec(data, "fuzz")
		if err != nil {
			return
		}
		if _, allowed := j.judge(spec); !allowed {
			return
		}
		if vs := propertyViolations(spec, j.roots); len(vs) > 0 {
			out, _ := json.MarshalIndent(spec, "", "  ")
			t.Fatalf("allowed and hardened, but:\n  %s\nspec as hardened:\n%s", strings.Join(vs, "\n  "), out)
		}
	})
}

// TestFuzzPropertyIsNotVacuous: the fuzz target's property runs on the seeds
// the class allows (several of the lab's specs are), and it flags the
// violations it is meant to find in specs as they come from a client.
func TestFuzzPropertyIsNotVacuous(t *testing.T) {
	j := newFuzzJudge(t)
	seeds := seedSpecs(t)
	allowed, flaggedRaw := 0, 0
	for _, s := range seeds {
		spec, err := parseSpec(s.data, s.name)
		if err != nil {
			t.Fatal(err)
		}
		if len(propertyViolations(spec, j.roots)) > 0 {
			flaggedRaw++
		}
		d, ok := j.judge(spec) // hardens spec in place
		if !ok {
			if d != nil && testing.Verbose() {
				t.Logf("%s refused: %+v", s.name, d.record.Violations)
			}
			continue
		}
		allowed++
		if vs := propertyViolations(spec, j.roots); len(vs) > 0 {
			t.Errorf("%s: allowed and hardened, but %v", s.name, vs)
		}
	}
	// CRI sends neither noNewPrivileges nor a read-only root: every raw spec breaks the promise
	if allowed < 5 || flaggedRaw < allowed {
		t.Errorf("%d seeds allowed, %d raw seeds flagged: the property must see allowed specs and flag raw ones", allowed, flaggedRaw)
	}
	t.Logf("%d of %d seeds allowed; %d raw seeds flagged", allowed, len(seeds), flaggedRaw)
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

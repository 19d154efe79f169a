package images

import (
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// critestRefs are the image references sigs.k8s.io/cri-tools v1.37.0 pulls on Linux, normalized
// the way containerd names them (explicit tag), from pkg/framework/util.go, pkg/validate
// (consts.go, consts_linux.go, security_context_linux.go, multi_container_linux.go) and
// pkg/benchmark/image.go.
var critestRefs = []string{
	"registry.k8s.io/e2e-test-images/busybox:1.29-2", // framework.DefaultLinuxContainerImage
	"registry.k8s.io/e2e-test-images/nginx:1.14-2",   // nginxContainerImage, webServerLinuxImage
	"registry.k8s.io/e2e-test-images/nonewprivs:1.3", // noNewPrivsImage
	"registry.k8s.io/e2e-test-images/httpd:2.4.39-4", // httpdImage
	"gcr.io/k8s-staging-cri-tools/hostnet-nginx-" + runtime.GOARCH + ":latest",
	"gcr.io/k8s-staging-cri-tools/test-image-user-uid:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-user-username:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-user-uid-group:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-user-username-group:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-predefined-group:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-latest:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-tag:test",
	"gcr.io/k8s-staging-cri-tools/test-image-digest@sha256:9700f9a2f5bf2c45f2f605a0bd3bce7cf37420ec9d3ed50ac2758413308766bf",
	"gcr.io/k8s-staging-cri-tools/test-image-tag:all",
	"gcr.io/k8s-staging-cri-tools/test-image-1:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-2:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-3:latest",
	"gcr.io/k8s-staging-cri-tools/test-image-tags:1",
	"gcr.io/k8s-staging-cri-tools/test-image-tags:2",
	"gcr.io/k8s-staging-cri-tools/test-image-tags:3",
	"registry.k8s.io/pause:3.9", // testSameImageDifferentRegistries
	"k8s.gcr.io/pause:3.9",
	"registry.k8s.io/pause:3.10.2", // containerd v2.4.2 default sandbox image
	"public.ecr.aws/docker/library/busybox:1.35.0-glibc",
	"public.ecr.aws/docker/library/busybox:1-uclibc",
	"public.ecr.aws/docker/library/busybox:1",
	"public.ecr.aws/docker/library/busybox:1-glibc",
	"public.ecr.aws/docker/library/busybox:1-musl",
}

// servedRefs maps each normalized served reference to its definition.
func servedRefs(t *testing.T) map[string]string {
	t.Helper()
	served := map[string]string{}
	for _, d := range Catalog() {
		refs, err := d.NormalizedRefs()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			served[r] = d.Name
		}
	}
	return served
}

func TestCatalogIsValid(t *testing.T) {
	if err := Validate(Catalog()); err != nil {
		t.Fatal(err)
	}
}

func TestCatalogCoversCritest(t *testing.T) {
	served := servedRefs(t)
	for _, ref := range critestRefs {
		if _, ok := served[ref]; ok {
			continue
		}
		if slices.ContainsFunc(Unservable, func(u UnservableRef) bool { return u.Ref == ref }) {
			continue
		}
		t.Errorf("critest needs %s, which is neither served nor listed in Unservable", ref)
	}
	for _, u := range Unservable {
		if _, ok := served[u.Ref]; ok {
			t.Errorf("%s is listed as unservable but is served", u.Ref)
		}
		if u.Reason == "" {
			t.Errorf("%s is listed as unservable without a reason", u.Ref)
		}
	}
}

func TestCatalogProjectImages(t *testing.T) {
	served := servedRefs(t)
	if served["docker.io/library/busybox:latest"] == "" {
		t.Error("docker.io/library/busybox:latest is not served")
	}
	if served["docker.io/library/busybox:latest"] == served["registry.k8s.io/e2e-test-images/busybox:1.29-2"] {
		t.Error("the project busybox and critest's busybox share a definition, so removing one by ID in CRI would remove the other")
	}
	for ref, name := range map[string]string{
		"hardened.test/probe:latest":     "probe",
		"hardened.test/webserver:latest": "webserver",
	} {
		if served[ref] != name {
			t.Errorf("%s is served by %q, want the %s image", ref, served[ref], name)
		}
	}
}

// TestCatalogProbeDefinition checks what the hardening tests rely on in the probe image: the
// probe as entrypoint and a set-user-ID root nnp for its setuid-gain attempt.
func TestCatalogProbeDefinition(t *testing.T) {
	var def *Definition
	for _, d := range Catalog() {
		if d.Name == "probe" {
			def = &d
		}
	}
	if def == nil {
		t.Fatal("no probe image")
	}
	if def.Base != Busybox || !slices.Equal(def.Config.Entrypoint, []string{"/usr/local/bin/probe"}) || def.Config.User != "" {
		t.Errorf("probe image: base %v, entrypoint %q, user %q", def.Base, def.Config.Entrypoint, def.Config.User)
	}
	files := map[string]File{}
	for _, f := range def.Files {
		files[f.Path] = f
	}
	if f := files["/usr/local/bin/probe"]; f.Tool != ToolProbe {
		t.Errorf("/usr/local/bin/probe is %+v", f)
	}
	if f := files["/usr/local/bin/nnp"]; f.Tool != ToolNNP || f.Mode != fs.ModeSetuid|0o755 || f.UID != 0 {
		t.Errorf("/usr/local/bin/nnp is %+v, want the nnp tool set-user-ID root", f)
	}
}

// TestCatalogTagGroups checks which references share an image, as critest's image specs expect.
func TestCatalogTagGroups(t *testing.T) {
	served := servedRefs(t)
	same := [][]string{
		{"gcr.io/k8s-staging-cri-tools/test-image-tags:1", "gcr.io/k8s-staging-cri-tools/test-image-tags:2", "gcr.io/k8s-staging-cri-tools/test-image-tags:3"},
		{"registry.k8s.io/pause:3.9", "k8s.gcr.io/pause:3.9"},
	}
	for _, group := range same {
		for _, ref := range group[1:] {
			if served[ref] != served[group[0]] {
				t.Errorf("%s and %s must be one image", group[0], ref)
			}
		}
	}
	different := []string{
		"gcr.io/k8s-staging-cri-tools/test-image-1:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-2:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-3:latest",
		"gcr.io/k8s-staging-cri-tools/test-image-tag:test",
		"gcr.io/k8s-staging-cri-tools/test-image-tag:all",
		"registry.k8s.io/pause:3.9",
		"registry.k8s.io/pause:3.10.2",
		"registry.k8s.io/e2e-test-images/busybox:1.29-2",
	}
	seen := map[string]string{}
	for _, ref := range different {
		def := served[ref]
		if other, ok := seen[def]; ok {
			t.Errorf("%s and %s must be different images, both come from %s", other, ref, def)
		}
		seen[def] = ref
	}
}

func TestTargetOf(t *testing.T) {
	cases := []struct{ ref, norm, path string }{
		{"docker.io/library/busybox:1.29-2", "docker.io/library/busybox:1.29-2", "library/busybox:1.29-2"},
		{"busybox", "docker.io/library/busybox:latest", "library/busybox:latest"},
		{"index.docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "library/busybox:latest"},
		{"registry.k8s.io/pause:3.10.1", "registry.k8s.io/pause:3.10.1", "pause:3.10.1"},
		{"gcr.io/k8s-staging-cri-tools/test-image-tags:1", "gcr.io/k8s-staging-cri-tools/test-image-tags:1", "k8s-staging-cri-tools/test-image-tags:1"},
		{"hardened.test/probe:latest", "hardened.test/probe:latest", "probe:latest"},
		{"localhost:5000/a/b:c", "localhost:5000/a/b:c", "a/b:c"},
	}
	for _, c := range cases {
		got, err := TargetOf(c.ref)
		if err != nil {
			t.Errorf("TargetOf(%q): %v", c.ref, err)
			continue
		}
		if got.Ref != c.norm || got.Path() != c.path {
			t.Errorf("TargetOf(%q) = %q at %q; want %q at %q", c.ref, got.Ref, got.Path(), c.norm, c.path)
		}
	}
	for _, bad := range []string{
		"gcr.io/k8s-staging-cri-tools/test-image-digest@sha256:9700f9a2f5bf2c45f2f605a0bd3bce7cf37420ec9d3ed50ac2758413308766bf",
		"UPPER/case:tag",
		"",
	} {
		if _, err := TargetOf(bad); err == nil {
			t.Errorf("TargetOf(%q) succeeded, want an error", bad)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	ok := Definition{Name: "ok", Refs: []string{"example.test/ok:1"}, Base: Busybox, Config: Config{Cmd: []string{"sh"}}}
	with := func(f func(*Definition)) Definition {
		d := ok
		d.Refs = slices.Clone(ok.Refs)
		f(&d)
		return d
	}
	cases := []struct {
		name string
		defs []Definition
		want string
	}{
		{"duplicate name", []Definition{ok, with(func(d *Definition) { d.Refs = []string{"example.test/other:1"} })}, "defined twice"},
		{"target clash across registries", []Definition{
			with(func(d *Definition) { d.Refs = []string{"registry.k8s.io/pause:3.9"} }),
			with(func(d *Definition) { d.Name = "other"; d.Refs = []string{"k8s.gcr.io/pause:3.9"} }),
		}, "both served as pause:3.9"},
		{"digest", []Definition{with(func(d *Definition) { d.Refs = []string{"example.test/x@sha256:" + strings.Repeat("a", 64)} })}, "digest"},
		{"no tag", []Definition{with(func(d *Definition) { d.Refs = []string{"example.test/x"} })}, "no explicit tag"},
		{"no refs", []Definition{with(func(d *Definition) { d.Refs = nil })}, "no references"},
		{"bad name", []Definition{with(func(d *Definition) { d.Name = "Bad/Name" })}, "must match"},
		{"unknown tool", []Definition{with(func(d *Definition) { d.Files = []File{{Path: "/x", Tool: "nope"}} })}, "unknown tool"},
		{"relative file", []Definition{with(func(d *Definition) { d.Files = []File{{Path: "x"}} })}, "not absolute"},
		{"users on scratch", []Definition{with(func(d *Definition) { d.Base = Scratch; d.Users = []Account{{Name: "u", UID: 1}} })}, "need the busybox base"},
		{"no command", []Definition{with(func(d *Definition) { d.Config = Config{} })}, "neither an entrypoint nor a command"},
	}
	for _, c := range cases {
		err := Validate(c.defs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v; want an error containing %q", c.name, err, c.want)
		}
	}
}

package images

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestStartRegistryRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:5000", "example.com:5000", "nonsense"} {
		if r, err := StartRegistry(addr, nil); err == nil {
			r.Close(context.Background())
			t.Errorf("StartRegistry(%q) succeeded", addr)
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	client := &http.Client{Transport: loopbackTransport(), Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// TestServeAndPull pushes the whole catalog to a registry on a free loopback port and pulls it
// back the way containerd's mirror configuration addresses it.
func TestServeAndPull(t *testing.T) {
	built := builtCatalog(t)
	reg, err := StartRegistry("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var pushed []Pushed
	if err := Push(ctx, reg.Addr(), built, func(p Pushed) { pushed = append(pushed, p) }); err != nil {
		t.Fatal(err)
	}
	served := servedRefs(t)
	if len(pushed) != len(served) {
		t.Errorf("pushed %d references, the catalog serves %d", len(pushed), len(served))
	}

	var catalog struct{ Repositories []string }
	getJSON(t, "http://"+reg.Addr()+"/v2/_catalog?n=1000", &catalog)
	wantRepos := map[string]bool{}
	for ref := range served {
		tgt, _ := TargetOf(ref)
		wantRepos[tgt.Repository] = true
	}
	for repo := range wantRepos {
		if !slices.Contains(catalog.Repositories, repo) {
			t.Errorf("repository %s missing from the catalog %v", repo, catalog.Repositories)
		}
	}

	var tags struct{ Tags []string }
	getJSON(t, "http://"+reg.Addr()+"/v2/pause/tags/list", &tags)
	sort.Strings(tags.Tags)
	if want := []string{"3.10", "3.10.1", "3.10.2", "3.9"}; !slices.Equal(tags.Tags, want) {
		t.Errorf("pause tags %v, want %v", tags.Tags, want)
	}

	// containerd asks the mirror for /v2/<path>/manifests/<tag>?ns=<upstream host>.
	client := &http.Client{Transport: loopbackTransport(), Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, "http://"+reg.Addr()+"/v2/e2e-test-images/busybox/manifests/1.29-2?ns=registry.k8s.io", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want, _ := builtByName(t, "busybox").Image.Digest()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != want.String() {
		t.Errorf("manifest request with ?ns=: %s, digest %q, want %s", resp.Status, resp.Header.Get("Docker-Content-Digest"), want)
	}

	for _, b := range built {
		targets, err := b.Definition.Targets()
		if err != nil {
			t.Fatal(err)
		}
		wantDigest, _ := b.Image.Digest()
		for _, tgt := range targets {
			ref, err := name.NewTag(reg.Addr()+"/"+tgt.Path(), name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithTransport(loopbackTransport()))
			if err != nil {
				t.Errorf("pulling %s: %v", ref, err)
				continue
			}
			got, _ := img.Digest()
			if got != wantDigest {
				t.Errorf("%s has digest %s, built %s", ref, got, wantDigest)
			}
		}
	}
}

func TestSaveArchives(t *testing.T) {
	built := builtCatalog(t)
	var subset []Built
	for _, b := range built {
		if b.Definition.Name == "pause-3.9" || b.Definition.Name == "library-busybox" {
			subset = append(subset, b)
		}
	}
	dir := t.TempDir()
	archives, err := Save(dir, subset)
	if err != nil {
		t.Fatal(err)
	}
	if len(archives) != 2 {
		t.Fatalf("got %d archives, want 2", len(archives))
	}
	for i, a := range archives {
		want, _ := subset[i].Image.ConfigName()
		for _, ref := range a.Refs {
			tag, err := name.NewTag(ref)
			if err != nil {
				t.Fatal(err)
			}
			img, err := tarball.ImageFromPath(a.Path, &tag)
			if err != nil {
				t.Errorf("%s does not hold %s: %v", a.Path, ref, err)
				continue
			}
			got, err := img.ConfigName()
			if err != nil || got != want {
				t.Errorf("%s: %s has image ID %s (%v), want %s", a.Path, ref, got, err, want)
			}
		}
	}
	if got := archives[0].Refs; !slices.Equal(got, []string{"docker.io/library/busybox:latest"}) && !slices.Equal(got, []string{"registry.k8s.io/pause:3.9", "k8s.gcr.io/pause:3.9"}) {
		t.Errorf("unexpected references %v", got)
	}
}

package images

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// testCacheDir is shared by all tests of the package, so the Go tools are built once.
var testCacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "labimages-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testCacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	catalogOnce  sync.Once
	catalogBuilt []Built
	catalogErr   error
)

// builtCatalog builds every catalog image once per test binary.
func builtCatalog(t *testing.T) []Built {
	t.Helper()
	catalogOnce.Do(func() {
		b, err := NewBuilder(Options{CacheDir: testCacheDir, Logf: t.Logf})
		if err != nil {
			catalogErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		catalogBuilt, catalogErr = b.BuildAll(ctx, Catalog())
	})
	if catalogErr != nil {
		t.Fatalf("building the catalog (needs the go command and Debian's busybox package): %v", catalogErr)
	}
	return catalogBuilt
}

// builtByName returns the built image of the named definition.
func builtByName(t *testing.T, name string) Built {
	t.Helper()
	for _, b := range builtCatalog(t) {
		if b.Definition.Name == name {
			return b
		}
	}
	t.Fatalf("catalog has no image %q", name)
	return Built{}
}

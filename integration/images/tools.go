package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The Go stand-ins that images carry; each is a main package under tools/.
const (
	ToolPause     = "pause"     // pod sandbox process (registry.k8s.io/pause)
	ToolPgrep     = "pgrep"     // procps pgrep subset, missing from Debian's busybox
	ToolIpcs      = "ipcs"      // util-linux ipcs subset, missing from Debian's busybox
	ToolWebserver = "webserver" // nginx and httpd stand-in
	ToolNNP       = "nnp"       // prints the effective UID (e2e-test-images/nonewprivs)
	ToolProbe     = "probe"     // reports as JSON what a container can do (hardening tests)
)

// toolNames lists every tool; all are built together.
var toolNames = []string{ToolIpcs, ToolNNP, ToolPause, ToolPgrep, ToolProbe, ToolWebserver}

//go:embed tools
var toolSources embed.FS

// toolBuildTimeout bounds one "go build" of all tools.
const toolBuildTimeout = 10 * time.Minute

// toolModule is the go.mod of the throw-away module the tools are built in. They use only the
// standard library, so the build needs no module download.
const toolModule = "module labimages.tools\n\ngo 1.22\n"

// buildTools returns the static binaries of all tools for linux/arch, building them with goCmd
// unless cacheDir already holds binaries built from the same sources by the same Go version.
func buildTools(ctx context.Context, goCmd, cacheDir, arch string, logf func(string, ...any)) (map[string][]byte, error) {
	cacheDir, err := filepath.Abs(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	goPath, err := exec.LookPath(goCmd)
	if err != nil {
		return nil, fmt.Errorf("building the image tools needs the go command: %w", err)
	}
	env := toolBuildEnv(arch, cacheDir)
	goVersion, err := runGo(ctx, goPath, "", env, "env", "GOVERSION")
	if err != nil {
		return nil, err
	}
	key, err := toolSourceKey(strings.TrimSpace(goVersion), arch)
	if err != nil {
		return nil, err
	}
	final := filepath.Join(cacheDir, "tools-"+arch+"-"+key[:20])
	if bins, err := readTools(final); err == nil {
		logf("using cached image tools from %s", final)
		return bins, nil
	}

	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cache directory: %w", err)
	}
	work, err := os.MkdirTemp(cacheDir, ".tools-build-")
	if err != nil {
		return nil, fmt.Errorf("creating tool build directory: %w", err)
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	if err := writeToolSources(src); err != nil {
		return nil, err
	}
	out := filepath.Join(work, "bin")
	if err := os.Mkdir(out, 0o755); err != nil {
		return nil, err
	}
	args := []string{"build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out + string(os.PathSeparator)}
	for _, name := range toolNames {
		args = append(args, "./"+name)
	}
	start := time.Now()
	logf("building image tools %v with %s (%s)", toolNames, goPath, strings.TrimSpace(goVersion))
	bctx, cancel := context.WithTimeout(ctx, toolBuildTimeout)
	defer cancel()
	if _, err := runGo(bctx, goPath, src, env, args...); err != nil {
		return nil, err
	}
	bins, err := readTools(out)
	if err != nil {
		return nil, fmt.Errorf("go build did not produce the tools: %w", err)
	}
	if _, err := os.Stat(final); err == nil {
		// An unreadable or incomplete earlier cache entry: replace it.
		if err := os.RemoveAll(final); err != nil {
			return nil, fmt.Errorf("removing broken tool cache %s: %w", final, err)
		}
	}
	if err := os.Rename(out, final); err != nil {
		// Another labimages may have filled the cache meanwhile; its binaries are equivalent.
		if _, statErr := os.Stat(final); statErr != nil {
			return nil, fmt.Errorf("caching the image tools in %s: %w", final, err)
		}
	}
	logf("built image tools in %s, cached in %s", time.Since(start).Round(time.Millisecond), final)
	return bins, nil
}

// toolBuildEnv is the environment of the go commands: static binaries for linux/arch, no
// workspace, no toolchain switch and no network.
func toolBuildEnv(arch, cacheDir string) []string {
	env := os.Environ()
	if os.Getenv("GOCACHE") == "" && os.Getenv("XDG_CACHE_HOME") == "" && os.Getenv("HOME") == "" {
		// The go command needs a build cache; without HOME it cannot find the default one.
		abs, err := filepath.Abs(filepath.Join(cacheDir, "gocache"))
		if err == nil {
			env = append(env, "GOCACHE="+abs)
		}
	}
	return append(env,
		"CGO_ENABLED=0",
		"GOOS=linux",
		"GOARCH="+arch,
		"GOWORK=off",
		"GOFLAGS=-buildvcs=false -mod=mod",
		"GOTOOLCHAIN=local",
		"GOPROXY=off",
		"GO111MODULE=on",
	)
}

// runGo runs the go command and returns its standard output; the error carries its stderr.
func runGo(ctx context.Context, goPath, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, goPath, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// toolSourceKey hashes the Go version, the target architecture and every embedded source file.
func toolSourceKey(goVersion, arch string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "go=%s\narch=%s\nmodule=%s\n", goVersion, arch, toolModule)
	var files []string
	err := fs.WalkDir(toolSources, "tools", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("listing embedded tool sources: %w", err)
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := toolSources.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("reading embedded %s: %w", f, err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeToolSources writes the embedded tools tree plus a go.mod to dir.
func writeToolSources(dir string) error {
	err := fs.WalkDir(toolSources, "tools", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, "tools"), "/")
		target := filepath.Join(dir, filepath.FromSlash(rel))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := toolSources.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		return fmt.Errorf("writing tool sources: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(toolModule), 0o644); err != nil {
		return fmt.Errorf("writing tool go.mod: %w", err)
	}
	return nil
}

// readTools reads every tool binary from dir.
func readTools(dir string) (map[string][]byte, error) {
	bins := make(map[string][]byte, len(toolNames))
	for _, name := range toolNames {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if len(data) == 0 {
			return nil, errors.New(path.Join(dir, name) + " is empty")
		}
		bins[name] = data
	}
	return bins, nil
}

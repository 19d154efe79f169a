//go:build linux

package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func validSpec() *specs.Spec {
	return &specs.Spec{
		Version: "1.2.0",
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"},
		Root:    &specs.Root{Path: "rootfs"},
		Linux:   &specs.Linux{},
	}
}

func TestParseSpecBadInput(t *testing.T) {
	valid, _ := json.Marshal(validSpec())
	huge := func(mutate func(s *specs.Spec)) []byte {
		s := validSpec()
		mutate(s)
		b, _ := json.Marshal(s)
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not valid JSON"},
		{"truncated", valid[:len(valid)/2], "not valid JSON"},
		{"not an object", []byte(`[1,2]`), "cannot unmarshal"},
		{"wrong field type", []byte(`{"process": {"args": "sh"}, "root": {"path": "r"}}`), `field "process.args"`},
		{"missing process", []byte(`{"root": {"path": "rootfs"}}`), `"process" is missing`},
		{"missing root", []byte(`{"process": {"cwd": "/"}}`), `"root.path" is missing`},
		{"100k mounts", huge(func(s *specs.Spec) {
			for i := 0; i < 100000; i++ {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: fmt.Sprintf("/m%d", i), Type: "tmpfs", Source: "tmpfs"})
			}
		}), `larger than`},
		{"3000 mounts", huge(func(s *specs.Spec) {
			for i := 0; i < 3000; i++ {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: fmt.Sprintf("/m%d", i), Type: "tmpfs", Source: "tmpfs"})
			}
		}), `"mounts" has 3000 entries`},
		{"100k env", huge(func(s *specs.Spec) {
			for i := 0; i < 100000; i++ {
				s.Process.Env = append(s.Process.Env, fmt.Sprintf("V%d=x", i))
			}
		}), `more than 65536 entries`},
		{"40k env", huge(func(s *specs.Spec) {
			for i := 0; i < 40000; i++ {
				s.Process.Env = append(s.Process.Env, fmt.Sprintf("V%d=x", i))
			}
		}), `"process.env" has 40000 entries`},
		{"4.5 MB of empty objects", []byte(`{"mounts":[` + strings.Repeat("{},", 1500000) + `{}]}`), "larger than"},
		{"1 MiB of empty objects", []byte(`{"mounts":[` + strings.Repeat("{},", 340000) + `{}]}`), "more than 65536 entries"},
		{"deep nesting", []byte(strings.Repeat("[", 100000) + strings.Repeat("]", 100000)), "nested more than"},
		{"over the size limit", append([]byte(`{"process":{"args":["`), []byte(strings.Repeat("a", maxSpecBytes))...), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := parseSpec(tc.data, "bundle/config.json")
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, errBadSpec) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bundle/config.json") {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %s", d)
			}
		})
	}
	if _, err := parseSpec(valid, "ok.json"); err != nil {
		t.Fatalf("valid spec refused: %v", err)
	}
}

func TestBundleSpecRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := readBundleSpec(dir); err == nil || !errors.Is(err, errBadSpec) {
		t.Fatalf("missing config.json: %v", err)
	}
	b, _ := json.Marshal(validSpec())
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := readBundleSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Linux.MaskedPaths = []string{"/proc/kcore"}
	if err := writeBundleSpec(dir, s); err != nil {
		t.Fatal(err)
	}
	again, err := readBundleSpec(dir)
	if err != nil || len(again.Linux.MaskedPaths) != 1 {
		t.Fatalf("after write: %v %v", again, err)
	}
	st, _ := os.Stat(filepath.Join(dir, "config.json"))
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("leftover files: %v", entries)
	}
}

// TestParseSpecBoundedMemory: refusing a hostile spec allocates a small
// multiple of its size, not gigabytes.
func TestParseSpecBoundedMemory(t *testing.T) {
	data := []byte(`{"mounts":[` + strings.Repeat("{},", 1500000) + `{}]}`)[:maxSpecBytes]
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := parseSpec(data, "x"); err == nil {
		t.Fatal("accepted")
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Fatalf("allocated %d MiB refusing a %d MiB spec", alloc>>20, len(data)>>20)
	}
}

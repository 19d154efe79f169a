//go:build linux

package shim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Limits on the spec a shim accepts: bounded time and memory for any input.
const (
	maxSpecBytes   = 4 << 20
	maxSpecArray   = 65536
	maxSpecDepth   = 64
	maxSpecMounts  = 2048
	maxSpecEnv     = 32768
	maxSpecArgs    = 32768
	maxSpecDevices = 4096
	specFileName   = "config.json"
)

// errBadSpec marks a spec the shim cannot evaluate (bad input, not a refusal).
var errBadSpec = errors.New("invalid container spec")

// readBundleSpec reads and validates the bundle's config.json.
func readBundleSpec(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, specFileName)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadSpec, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errBadSpec, path, err)
	}
	return parseSpec(data, path)
}

// parseSpec decodes a spec and checks the fields the shim relies on.
func parseSpec(data []byte, source string) (*specs.Spec, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", errBadSpec, source, fmt.Sprintf(format, args...))
	}
	if len(data) > maxSpecBytes {
		return nil, bad("larger than %d bytes", maxSpecBytes)
	}
	// Bound memory before decoding: a few MiB of "[{},{},...]" would
	// otherwise become gigabytes of structs.
	if err := checkShape(data); err != nil {
		return nil, bad("%v", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, bad("not valid JSON at byte %d: %v", se.Offset, err)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, bad("field %q: %v", te.Field, err)
		}
		return nil, bad("%v", err)
	}
	switch {
	case s.Process == nil:
		return nil, bad("field \"process\" is missing")
	case s.Root == nil || s.Root.Path == "":
		return nil, bad("field \"root.path\" is missing")
	case len(s.Mounts) > maxSpecMounts:
		return nil, bad("field \"mounts\" has %d entries, more than the limit of %d", len(s.Mounts), maxSpecMounts)
	case len(s.Process.Env) > maxSpecEnv:
		return nil, bad("field \"process.env\" has %d entries, more than the limit of %d", len(s.Process.Env), maxSpecEnv)
	case len(s.Process.Args) > maxSpecArgs:
		return nil, bad("field \"process.args\" has %d entries, more than the limit of %d", len(s.Process.Args), maxSpecArgs)
	case s.Linux != nil && len(s.Linux.Devices) > maxSpecDevices:
		return nil, bad("field \"linux.devices\" has %d entries, more than the limit of %d", len(s.Linux.Devices), maxSpecDevices)
	}
	return &s, nil
}

// writeBundleSpec atomically replaces the bundle's config.json.
func writeBundleSpec(bundle string, s *specs.Spec) error {
	path := filepath.Join(bundle, specFileName)
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(bundle, ".config.json-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// checkShape walks the JSON tokens once and fails on an array longer than
// maxSpecArray or nesting deeper than maxSpecDepth.
func checkShape(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		array bool
		n     int
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			// io.EOF, or a syntax error that json.Unmarshal reports with
			// its offset.
			return nil
		}
		if d, ok := tok.(json.Delim); ok && (d == ']' || d == '}') {
			stack = stack[:len(stack)-1]
			continue
		}
		if len(stack) > 0 && stack[len(stack)-1].array {
			stack[len(stack)-1].n++
			if stack[len(stack)-1].n > maxSpecArray {
				return fmt.Errorf("an array has more than %d entries", maxSpecArray)
			}
		}
		if d, ok := tok.(json.Delim); ok {
			if len(stack) >= maxSpecDepth {
				return fmt.Errorf("nested more than %d levels deep", maxSpecDepth)
			}
			stack = append(stack, frame{array: d == '['})
		}
	}
}

//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// doctorLine is one check line of `doctor`'s output, with its fix.
type doctorLine struct {
	status, name, detail, fix string
}

// runDoctor runs the lab shim's doctor against the lab's containerd, with
// the environment containerd gives the lab's shims (class directory, PATH).
func runDoctor(t *testing.T, l *lab, args ...string) (int, []doctorLine, string) {
	t.Helper()
	bin := l.envValue(t, "LAB_BIN")
	base := []string{"doctor", "--containerd-config", l.envValue(t, "LAB_CONTAINERD_CONFIG"),
		"--containerd", filepath.Join(bin, "containerd"), "--address", l.Address}
	cmd := exec.CommandContext(testContext(t), l.envValue(t, "LAB_HARDENED_SHIM"), append(base, args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERD_SHIM_HARDENED_CONFIG_DIR="+l.envValue(t, "LAB_HARDENED_CLASS_DIR"),
		"PATH="+bin+":"+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("doctor %v: %v", args, err)
	}
	out := stdout.String()
	if stderr.Len() > 0 {
		t.Logf("doctor %v stderr: %s", args, stderr.String())
	}
	if strings.Contains(strings.Join(args, " "), "--json") {
		return code, nil, out
	}
	var lines []doctorLine
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if fix, ok := strings.CutPrefix(line, "      fix: "); ok && len(lines) > 0 {
			lines[len(lines)-1].fix = fix
			continue
		}
		if cont, ok := strings.CutPrefix(line, "           "); ok && len(lines) > 0 && lines[len(lines)-1].fix != "" {
			lines[len(lines)-1].fix += "\n" + cont
			continue
		}
		status := strings.TrimSpace(line[:min(4, len(line))])
		if status != "ok" && status != "warn" && status != "FAIL" {
			continue // the verdict
		}
		rest := line[6:]
		name, detail, _ := strings.Cut(rest, "  ")
		lines = append(lines, doctorLine{status: status, name: name, detail: strings.TrimSpace(detail)})
	}
	if len(lines) == 0 {
		t.Fatalf("doctor %v printed no check:\n%s", args, out)
	}
	return code, lines, out
}

// expectDoctor checks the exit status and that exactly the checks in fail
// failed, each naming what it should (substrings of its detail and fix), and
// that every other check is ok.
func expectDoctor(t *testing.T, code int, lines []doctorLine, out string, wantCode int, fail map[string][]string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit %d, want %d", code, wantCode)
	}
	seen := map[string]bool{}
	for _, ln := range lines {
		wants, shouldFail := fail[ln.name]
		switch {
		case shouldFail && ln.status != "FAIL":
			t.Errorf("%s: %s, want FAIL", ln.name, ln.status)
		case !shouldFail && ln.status != "ok":
			t.Errorf("%s: %s, want ok: %s (fix: %s)", ln.name, ln.status, ln.detail, ln.fix)
		}
		if shouldFail {
			seen[ln.name] = true
			if ln.fix == "" {
				t.Errorf("%s fails without a fix", ln.name)
			}
			for _, w := range wants {
				if !strings.Contains(ln.detail+"\nfix: "+ln.fix, w) {
					t.Errorf("%s: %q\nfix: %q\nwant it to name %q", ln.name, ln.detail, ln.fix, w)
				}
			}
		}
	}
	for name := range fail {
		if !seen[name] {
			t.Errorf("no check %q", name)
		}
	}
	if t.Failed() {
		t.Logf("doctor output:\n%s", out)
	}
}

// classCopy writes a copy of a lab class file with one key's line replaced
// (or the line added when repl has no key of the file).
func classCopy(t *testing.T, src, key, line string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` = .*$`)
	body := string(b)
	if re.MatchString(body) {
		body = re.ReplaceAllLiteralString(body, line)
	} else {
		body = line + "\n" + body
	}
	p := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDoctor runs `containerd-shim-hardened-v2 doctor` on the lab: the lab's
// hardened handler passes, and each requirement broken in turn fails its own
// line, naming what is wrong.
func TestDoctor(t *testing.T) {
	l := requireLab(t)
	classDir := l.envValue(t, "LAB_HARDENED_CLASS_DIR")
	classFile := filepath.Join(classDir, "containerd-shim-hardened-v2.toml")
	gvisorClass := filepath.Join(classDir, "containerd-shim-hardened-gvisor-v2.toml")

	t.Run("lab handler passes", func(t *testing.T) {
		code, lines, out := runDoctor(t, l, "--handler", "hardened")
		expectDoctor(t, code, lines, out, 0, nil)
		names := map[string]bool{}
		for _, ln := range lines {
			names[ln.name] = true
		}
		for _, n := range []string{"containerd", "containerd-config", "handler hardened", "class hardened", "oci-runtime hardened", "kernel hardened", "audit-log hardened"} {
			if !names[n] {
				t.Errorf("no check %q:\n%s", n, out)
			}
		}
		if !strings.HasSuffix(out, "\nhardened class can run on this node (handler hardened)\n") {
			t.Errorf("verdict missing:\n%s", out)
		}
		for _, ln := range lines {
			if ln.name == "containerd" && !strings.HasPrefix(ln.detail, "2.4.2") {
				t.Errorf("containerd: %s, want 2.4.2 from the daemon", ln.detail)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		code, _, out := runDoctor(t, l, "--handler", "hardened", "--json")
		var r struct {
			OK     bool `json:"ok"`
			Checks []struct {
				Name, Check, Status, Detail, Fix string
			} `json:"checks"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || !r.OK || len(r.Checks) != 7 {
			t.Fatalf("exit %d, %v: %+v\n%s", code, err, r, out)
		}
		for _, c := range r.Checks {
			if c.Status != "ok" || c.Detail == "" || c.Fix != "" {
				t.Errorf("%+v", c)
			}
		}
	})

	t.Run("runc missing", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "no-runc")
		cfg := classCopy(t, classFile, "binary_name", `binary_name = "`+missing+`"`)
		code, lines, out := runDoctor(t, l, "--handler", "hardened", "--config", cfg)
		expectDoctor(t, code, lines, out, 1, map[string][]string{
			"oci-runtime hardened": {`binary_name "` + missing + `"`, "no such file or directory", "set binary_name in " + cfg},
		})
	})

	t.Run("audit dir unwritable", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "regular-file")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		logPath := filepath.Join(file, "audit", "audit.log")
		cfg := classCopy(t, classFile, "audit_log", `audit_log = "`+logPath+`"`)
		code, lines, out := runDoctor(t, l, "--handler", "hardened", "--config", cfg)
		expectDoctor(t, code, lines, out, 1, map[string][]string{
			"audit-log hardened": {logPath, file + " is not a directory", "set audit_log in " + cfg},
		})
	})

	t.Run("handler absent", func(t *testing.T) {
		code, lines, out := runDoctor(t, l, "--handler", "nosuch")
		expectDoctor(t, code, lines, out, 1, map[string][]string{
			"handler nosuch": {`no CRI runtime handler "nosuch"`, l.envValue(t, "LAB_CONTAINERD_CONFIG"),
				"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.nosuch]", `runtime_type = "io.containerd.hardened.v2"`},
		})
	})

	t.Run("containerd config without hardened handlers", func(t *testing.T) {
		b, err := os.ReadFile(l.envValue(t, "LAB_CONTAINERD_CONFIG"))
		if err != nil {
			t.Fatal(err)
		}
		// drop every hardened handler's table (and its options) from the copy
		var kept []string
		skipping := false
		for _, line := range strings.Split(string(b), "\n") {
			if h := strings.TrimSpace(line); strings.HasPrefix(h, "[") {
				skipping = strings.Contains(h, ".runtimes.hardened")
			}
			if !skipping {
				kept = append(kept, line)
			}
		}
		body := strings.Join(kept, "\n")
		if strings.Contains(body, "io.containerd.hardened.v2") {
			t.Fatalf("the copy still has a hardened handler:\n%s", body)
		}
		cfg := filepath.Join(t.TempDir(), "containerd.toml")
		if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		code, lines, out := runDoctor(t, l, "--containerd-config", cfg)
		expectDoctor(t, code, lines, out, 1, map[string][]string{
			"handler": {"no CRI runtime handler of runtime_type io.containerd.hardened.v2", cfg, "runtimes.hardened]"},
		})
	})

	for _, tc := range []struct{ name, key, line, want string }{
		{"bad class config: unknown key", "polcy_level", `polcy_level = "restricted"`, `unknown key "polcy_level"`},
		{"bad class config: bad value", "mode", `mode = "loud"`, `key "mode": "loud" is not a mode`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := classCopy(t, classFile, tc.key, tc.line)
			code, lines, out := runDoctor(t, l, "--handler", "hardened", "--config", cfg)
			expectDoctor(t, code, lines, out, 1, map[string][]string{
				"class hardened": {"runtime class config " + cfg, tc.want},
			})
			for _, ln := range lines {
				if ln.name == "oci-runtime hardened" {
					t.Errorf("the class's checks ran after it failed: %+v", ln)
				}
			}
		})
	}

	t.Run("handler with inline options", func(t *testing.T) {
		code, lines, out := runDoctor(t, l, "--handler", "hardened-inline")
		expectDoctor(t, code, lines, out, 1, map[string][]string{
			"handler hardened-inline": {
				"inline options", "hostUsers: false",
				`can't unmarshal type "runtimeoptions.v1.Options" to output "containerd.runc.v1.Options"`,
				"remove options from [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.hardened-inline]",
				filepath.Join(classDir, "containerd-shim-hardened-v2.toml"),
				"a second class needs a second binary name",
			},
		})
	})

	t.Run("gVisor class passes", func(t *testing.T) {
		code, lines, out := runDoctor(t, l, "--handler", "hardened-gvisor")
		expectDoctor(t, code, lines, out, 0, nil)
		found := false
		for _, ln := range lines {
			if ln.name == "sandbox hardened-gvisor" && strings.Contains(ln.detail, "runtime runsc") {
				found = true
			}
		}
		if !found {
			t.Errorf("no runsc sandbox check:\n%s", out)
		}
	})

	t.Run("runsc missing", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "no-runsc")
		cfg := classCopy(t, gvisorClass, "binary_name", `binary_name = "`+missing+`"`)
		code, lines, out := runDoctor(t, l, "--handler", "hardened-gvisor", "--config", cfg)
		expectDoctor(t, code, lines, out, 1, map[string][]string{
			"sandbox hardened-gvisor": {`binary_name "` + missing + `"`, "no such file or directory", "install gVisor's runsc"},
		})
	})
}

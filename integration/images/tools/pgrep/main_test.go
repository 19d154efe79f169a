package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	line := "4242 (weird ) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	name, start, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if name != "weird ) name" || start != 987654 {
		t.Fatalf("parseStat = %q, %d; want %q, 987654", name, start, "weird ) name")
	}
	if _, _, err := parseStat([]byte("12 (x) S 1")); err == nil {
		t.Fatal("parseStat accepted a truncated line")
	}
}

func TestParseArgs(t *testing.T) {
	opts, err := parseArgs([]string{"-fl", "-d,", "sleep"})
	if err != nil {
		t.Fatal(err)
	}
	if !opts.full || !opts.listName || opts.delim != "," || opts.pattern != "sleep" {
		t.Fatalf("unexpected options %+v", opts)
	}
	for _, bad := range [][]string{{}, {"-q", "x"}, {"a", "b"}, {"-n", "-o", "x"}, {"-d"}} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%q) succeeded, want an error", bad)
		}
	}
}

// writeProc creates a fake /proc entry.
func writeProc(t *testing.T, root string, pid int, comm, cmdline string, start int) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := strconv.Itoa(pid) + " (" + comm + ") S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 " + strconv.Itoa(start) + " 0 0\n"
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.ReplaceAll(cmdline, " ", "\x00")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRunAgainstFakeProc(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, 1, "sh", "sh -c pgrep sleep || true", 10)
	writeProc(t, root, 7, "sleep", "sleep 4321", 20)
	writeProc(t, root, 9, "sleep", "sleep 5", 30)
	writeProc(t, root, 11, "pgrep", "pgrep sleep", 40)
	if err := os.Mkdir(filepath.Join(root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		args []string
		want string
		code int
	}{
		{[]string{"sleep"}, "7\n9\n", exitMatch},
		{[]string{"-n", "sleep"}, "9\n", exitMatch},
		{[]string{"-o", "-l", "sleep"}, "7 sleep\n", exitMatch},
		{[]string{"-a", "-x", "sleep"}, "7 sleep 4321\n9 sleep 5\n", exitMatch},
		{[]string{"-c", "sleep"}, "2\n", exitMatch},
		{[]string{"-d", ",", "sleep"}, "7,9\n", exitMatch},
		{[]string{"-x", "slee"}, "", exitNoMatch},
		{[]string{"-f", "4321"}, "7\n", exitMatch},
		{[]string{"4321"}, "", exitNoMatch},
		{[]string{"-c", "nothing"}, "0\n", exitNoMatch},
		{[]string{"-v", "sleep"}, "1\n", exitMatch}, // pid 11 is "self" and never listed
		{[]string{"("}, "", exitUsage},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(c.args, root, 11, &out, &errOut)
		if code != c.code || out.String() != c.want {
			t.Errorf("pgrep %q = %d %q (stderr %q); want %d %q", c.args, code, out.String(), errOut.String(), c.code, c.want)
		}
	}
}

func TestRunAgainstRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	defer func() {
		_ = sleeper.Process.Kill()
		_ = sleeper.Wait()
	}()
	var out, errOut bytes.Buffer
	if code := run([]string{"-x", "sleep"}, "/proc", os.Getpid(), &out, &errOut); code != exitMatch {
		t.Fatalf("pgrep -x sleep = %d, stderr %q", code, errOut.String())
	}
	want := strconv.Itoa(sleeper.Process.Pid)
	if !strings.Contains("\n"+out.String(), "\n"+want+"\n") {
		t.Fatalf("pgrep -x sleep printed %q, which lacks the sleeper's PID %s", out.String(), want)
	}
}

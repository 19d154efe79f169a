package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as labimages when LABIMAGES_TEST_MAIN is set, so tests can
// run it as a separate process and signal it.
func TestMain(m *testing.M) {
	if os.Getenv("LABIMAGES_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestList(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"list"}, &out, &errOut); code != 0 {
		t.Fatalf("list = %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, want := range []string{"registry.k8s.io/e2e-test-images/busybox:1.29-2", "registry.k8s.io/pause:3.10.2", "docker.io/library/busybox:latest"} {
		if !slices.Contains(lines, want) {
			t.Errorf("list lacks %s", want)
		}
	}

	out.Reset()
	if code := run([]string{"list", "-l"}, &out, &errOut); code != 0 {
		t.Fatalf("list -l = %d", code)
	}
	if !strings.Contains(out.String(), "library/busybox:latest") {
		t.Errorf("list -l lacks registry paths:\n%s", out.String())
	}

	out.Reset()
	if code := run([]string{"list", "--unservable"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "test-image-digest@sha256:") {
		t.Errorf("list --unservable = %d:\n%s", code, out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"save"}, {"list", "extra"}, {"serve", "--nope"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("labimages %q = %d, want 2 (stderr %q)", args, code, errOut.String())
		}
	}
}

// TestServeLifecycle runs "labimages serve" as a process: it must become ready, serve the
// catalog, and exit 0 on SIGTERM, removing its pid and ready files.
func TestServeLifecycle(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "run", "labimages.pid")
	readyFile := filepath.Join(dir, "run", "labimages.ready")
	cmd := exec.Command(os.Args[0], "serve", "--addr", "127.0.0.1:0", "--pidfile", pidFile,
		"--ready-file", readyFile, "--cache", filepath.Join(dir, "cache"))
	cmd.Env = append(os.Environ(), "LABIMAGES_TEST_MAIN=1")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	reaped := false
	defer func() {
		if !reaped {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	var addr string
	deadline := time.After(5 * time.Minute)
	for addr == "" {
		select {
		case err := <-exited:
			reaped = true
			t.Fatalf("serve exited before it was ready: %v\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("serve not ready after 5 minutes\n%s", stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if data, err := os.ReadFile(readyFile); err == nil {
			addr = strings.TrimSpace(string(data))
		}
	}
	pid, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("pid file holds %q (%v), want %d", pid, err, cmd.Process.Pid)
	}

	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	var catalog struct{ Repositories []string }
	err = json.NewDecoder(resp.Body).Decode(&catalog)
	resp.Body.Close()
	if err != nil || !slices.Contains(catalog.Repositories, "e2e-test-images/busybox") {
		t.Errorf("catalog %v (%v) lacks e2e-test-images/busybox", catalog.Repositories, err)
	}
	if !strings.Contains(stderr.String(), "pushed registry.k8s.io/pause:3.10.2 as "+addr+"/pause:3.10.2@sha256:") {
		t.Errorf("stderr does not log the pushed references:\n%s", stderr.String())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		reaped = true
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit within 30s of SIGTERM")
	}
	for _, f := range []string{pidFile, readyFile} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s still exists after exit (%v)", f, err)
		}
	}
}

// syncBuffer is a bytes.Buffer that the process's output copier and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package images

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// toolBinary builds (or takes from the test cache) the tools and writes one to an executable file.
func toolBinary(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := buildTools(ctx, "go", testCacheDir, runtime.GOARCH, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, bins[name], 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestToolsAreStaticAndCached(t *testing.T) {
	ctx := context.Background()
	first, err := buildTools(ctx, "go", testCacheDir, runtime.GOARCH, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	var logged []string
	second, err := buildTools(ctx, "go", testCacheDir, runtime.GOARCH, func(f string, a ...any) {
		logged = append(logged, fmt.Sprintf(f, a...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "using cached") {
		t.Errorf("second build did not use the cache: %q", logged)
	}
	for _, name := range toolNames {
		if !bytes.Equal(first[name], second[name]) {
			t.Errorf("%s differs between the build and the cache", name)
		}
		assertStatic(t, name, first[name])
	}
}

func TestToolsNeedGo(t *testing.T) {
	_, err := buildTools(context.Background(), "/nonexistent/go", t.TempDir(), runtime.GOARCH, t.Logf)
	if err == nil || !strings.Contains(err.Error(), "go command") {
		t.Fatalf("error %v does not say the go command is missing", err)
	}
}

func TestPauseBinary(t *testing.T) {
	cmd := exec.Command(toolBinary(t, ToolPause))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let it install its signal handlers
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pause exited with %v after SIGTERM; stderr %q", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("pause ignored SIGTERM")
	}
	if !strings.Contains(stderr.String(), "Shutting down, got signal") {
		t.Errorf("stderr %q", stderr.String())
	}
	out, err := exec.Command(cmd.Path, "-v").Output()
	if err != nil || !strings.Contains(string(out), "pause") {
		t.Errorf("pause -v = %q, %v", out, err)
	}
}

func TestNNPBinary(t *testing.T) {
	out, err := exec.Command(toolBinary(t, ToolNNP)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("Effective uid: %d\n", os.Geteuid()); string(out) != want {
		t.Fatalf("nnp printed %q, want %q", out, want)
	}
}

// TestWebserverBinary runs the nginx stand-in as the nginx image does and checks what critest
// observes: the retitled command line, the PID file, the page, and a clean exit on SIGTERM.
func TestWebserverBinary(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(nginxIndex), 0o644); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "nginx.pid")
	const title = "nginx: master process nginx -g daemon off;"
	cmd := exec.Command(toolBinary(t, ToolWebserver), "-name=nginx", "-listen="+addr, "-root="+dir,
		"-pid-file="+pidFile, "-title="+title)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	finished := false
	defer func() {
		if !finished {
			_ = cmd.Process.Kill()
			<-done
		}
	}()

	var pid []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if pid, err = os.ReadFile(pidFile); err == nil {
			break
		}
	}
	if strings.TrimSpace(string(pid)) != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("pid file holds %q, want %d (stderr %q)", pid, cmd.Process.Pid, stderr.String())
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if string(cmdline) != title+"\x00" {
		t.Errorf("cmdline %q, want %q", cmdline, title)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != nginxIndex {
		t.Errorf("GET / = %d %q", resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		finished = true
		if err != nil {
			t.Fatalf("webserver exited with %v after SIGTERM; stderr %q", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("webserver ignored SIGTERM")
	}
	if !strings.Contains(stderr.String(), "nginx: serving") || !strings.Contains(stdout.String(), `"GET / HTTP/1.1" 200`) {
		t.Errorf("logs lack the start-up or access line:\nstderr %q\nstdout %q", stderr.String(), stdout.String())
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left behind (%v)", err)
	}
}

// TestProbeBinary runs the built probe: its attempt list and one JSON report.
func TestProbeBinary(t *testing.T) {
	bin := toolBinary(t, ToolProbe)
	out, err := exec.Command(bin, "-list").Output()
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Fields(string(out))
	for _, want := range []string{"unshare-userns-mount", "cgroup-release-agent", "io_uring_setup", "setuid-gain", "io_uring-fallback"} {
		if !slices.Contains(names, want) {
			t.Errorf("-list lacks %s: %q", want, names)
		}
	}
	out, err = exec.Command(bin, "-only", "io_uring_setup,io_uring-fallback").Output()
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Status   map[string]string `json:"status"`
		Attempts []probeAttempt    `json:"attempts"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("probe output %q: %v", out, err)
	}
	if rep.Status["CapEff"] == "" || len(rep.Attempts) != 2 || rep.Attempts[0].Name != "io_uring_setup" || !rep.Attempts[1].OK {
		t.Errorf("probe report %s", out)
	}
}

// TestProjectWebserverPort runs the webserver with the hardened.test/webserver entrypoint and a
// different port in the arguments, as a container's args would give it.
func TestProjectWebserverPort(t *testing.T) {
	var def Definition
	for _, d := range Catalog() {
		if d.Name == "webserver" {
			def = d
		}
	}
	if len(def.Config.Entrypoint) == 0 {
		t.Fatal("no webserver image")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(webserverIndex), 0o644); err != nil {
		t.Fatal(err)
	}
	// The entrypoint's -root points into the image; the later flag wins.
	args := append(slices.Clone(def.Config.Entrypoint[1:]), "-listen="+addr, "-root="+dir)
	cmd := exec.Command(toolBinary(t, ToolWebserver), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	var body []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webserver %q not serving on %s: %v (stderr %q)", args, addr, err, stderr.String())
		}
	}
	if string(body) != webserverIndex {
		t.Errorf("GET / = %q", body)
	}
}

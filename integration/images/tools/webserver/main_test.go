package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-name", "nginx", "-listen", ":8080", "-pid-file", "/run/x.pid", "-title", "nginx: master process"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.name != "nginx" || cfg.listen != ":8080" || cfg.pidFile != "/run/x.pid" || cfg.title != "nginx: master process" {
		t.Fatalf("unexpected config %+v", cfg)
	}
	if _, err := parseFlags([]string{"stray"}, io.Discard); err == nil {
		t.Fatal("stray argument accepted")
	}
}

func TestArgumentsFromEnvironment(t *testing.T) {
	t.Setenv(argsEnv, `["-name","httpd","-listen",":80"]`)
	args, retitled, err := arguments()
	if err != nil {
		t.Fatal(err)
	}
	if !retitled || strings.Join(args, " ") != "-name httpd -listen :80" {
		t.Fatalf("arguments() = %q, %v", args, retitled)
	}
	if _, still := os.LookupEnv(argsEnv); still {
		t.Fatalf("%s was not removed from the environment", argsEnv)
	}
}

func TestServesIndexWithAccessLog(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte("<h1>hello</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	srv := httptest.NewServer(accessLog(&logBuf, http.FileServer(http.Dir(root))))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "<h1>hello</h1>\n" {
		t.Fatalf("GET / = %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(logBuf.String(), `"GET / HTTP/1.1" 200 15`) {
		t.Fatalf("access log %q lacks the request", logBuf.String())
	}
}

// Command webserver is a small static-file HTTP server that stands in for the nginx and httpd
// images critest uses.
//
//	webserver -name NAME [-listen ADDR] [-root DIR] [-pid-file FILE] [-title TITLE]
//
// It serves DIR on ADDR, logs a start-up line prefixed with NAME to stderr (critest looks for
// "httpd" in the httpd container's log) and one access-log line per request to stdout. With
// -pid-file it writes its PID there once it is listening (critest waits for
// /var/run/nginx.pid). With -title it re-executes itself so that its command line
// (/proc/PID/cmdline) is TITLE, the way nginx retitles its master process (critest greps
// /proc/1/cmdline for "master process"); the original arguments travel in an environment
// variable that is removed again after the re-exec.
//
// SIGTERM, SIGINT and SIGQUIT shut it down cleanly with exit status 0. As it may be PID 1 of a
// container's PID namespace it also reaps exited children on SIGCHLD.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// argsEnv carries the original arguments across the retitling re-exec.
const argsEnv = "LAB_WEBSERVER_ARGS"

type config struct {
	name    string
	listen  string
	root    string
	pidFile string
	title   string
}

func main() {
	args, retitled, err := arguments()
	if err != nil {
		fmt.Fprintf(os.Stderr, "webserver: %v\n", err)
		os.Exit(2)
	}
	cfg, err := parseFlags(args, os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	if cfg.title != "" && !retitled {
		// On success Exec does not return; on failure keep serving under the original title.
		err := retitle(cfg.title, args)
		fmt.Fprintf(os.Stderr, "%s: cannot set process title: %v\n", cfg.name, err)
	}
	if err := serve(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cfg.name, err)
		os.Exit(1)
	}
}

// arguments returns the command-line arguments, taking them from argsEnv after a re-exec.
func arguments() (args []string, retitled bool, err error) {
	encoded, ok := os.LookupEnv(argsEnv)
	if !ok {
		return os.Args[1:], false, nil
	}
	if err := os.Unsetenv(argsEnv); err != nil {
		return nil, false, err
	}
	if err := json.Unmarshal([]byte(encoded), &args); err != nil {
		return nil, false, fmt.Errorf("decoding %s: %w", argsEnv, err)
	}
	return args, true, nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("webserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.name, "name", "webserver", "name that prefixes log lines")
	fs.StringVar(&cfg.listen, "listen", ":80", "TCP address to listen on")
	fs.StringVar(&cfg.root, "root", "/var/www", "directory to serve")
	fs.StringVar(&cfg.pidFile, "pid-file", "", "file to write the PID to once listening")
	fs.StringVar(&cfg.title, "title", "", "process title (command line) to run under")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments %q", fs.Args())
		fmt.Fprintln(stderr, "webserver:", err)
		return cfg, err
	}
	return cfg, nil
}

// retitle re-executes the running binary with TITLE as its only argument.
func retitle(title string, args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	encoded, err := json.Marshal(args)
	if err != nil {
		return err
	}
	env := append(os.Environ(), argsEnv+"="+string(encoded))
	return syscall.Exec(exe, []string{title}, env)
}

func serve(cfg config) error {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	if cfg.pidFile != "" {
		if err := os.WriteFile(cfg.pidFile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
			ln.Close()
			return fmt.Errorf("writing pid file: %w", err)
		}
		defer os.Remove(cfg.pidFile)
	}
	fmt.Fprintf(os.Stderr, "%s: serving %s on %s (pid %d)\n", cfg.name, cfg.root, ln.Addr(), os.Getpid())

	srv := &http.Server{
		Handler:           accessLog(os.Stdout, http.FileServer(http.Dir(cfg.root))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGCHLD)
	for {
		select {
		case err := <-errc:
			return err
		case sig := <-sigs:
			if sig == syscall.SIGCHLD {
				reap()
				continue
			}
			fmt.Fprintf(os.Stderr, "%s: got signal %v, shutting down\n", cfg.name, sig)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err := srv.Shutdown(ctx)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return nil
		}
	}
}

// accessLog writes one common-log-format line per request.
func accessLog(w io.Writer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: rw, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		fmt.Fprintf(w, "%s - - [%s] %q %d %d %q\n", host, time.Now().Format("02/Jan/2006:15:04:05 -0700"),
			r.Method+" "+r.URL.RequestURI()+" "+r.Proto, rec.status, rec.bytes, strings.TrimSpace(r.UserAgent()))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// reap collects exited children without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}

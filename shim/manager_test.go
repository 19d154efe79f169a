//go:build linux

package shim

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/log"
)

// TestRemoveDeadSocket: the socket a bundle names is removed when nothing
// serves it (its shim was killed), and left when something does (an app
// container's bundle names its pod's shim, which may run on).
func TestRemoveDeadSocket(t *testing.T) {
	// socket paths must stay under 108 bytes: a short directory of its own
	dir, err := os.MkdirTemp("/tmp", "rds")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for i, tc := range []struct {
		name, file string
		live, gone bool
	}{
		{"dead, bootstrap.json", "bootstrap.json", false, true},
		{"dead, address", "address", false, true},
		{"live", "bootstrap.json", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := t.TempDir()
			sockDir := filepath.Join(dir, strconv.Itoa(i), "s")
			if err := os.MkdirAll(sockDir, 0o700); err != nil {
				t.Fatal(err)
			}
			sock := filepath.Join(sockDir, strings.Repeat("ab", 32))
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			if !tc.live {
				l.Close() // the socket file stays, nothing listens: a killed shim's
			} else {
				defer l.Close()
			}
			content := "unix://" + sock
			if tc.file == "bootstrap.json" {
				content = `{"version":3,"address":"unix://` + sock + `","protocol":"ttrpc"}`
			}
			if err := os.WriteFile(filepath.Join(bundle, tc.file), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := removeDeadSocket(bundle); err != nil {
				t.Fatal(err)
			}
			_, err = os.Lstat(sock)
			if gone := os.IsNotExist(err); gone != tc.gone {
				t.Errorf("socket gone = %v, want %v", gone, tc.gone)
			}
		})
	}
	// no address at all: nothing to do
	if err := removeDeadSocket(t.TempDir()); err != nil {
		t.Error(err)
	}
	// a dead socket that is not a shim's is never removed, whatever the bundle says
	other := filepath.Join(dir, "other.sock")
	l, err := net.Listen("unix", other)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "address"), []byte("unix://"+other), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := removeDeadSocket(bundle); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("a socket outside a shim socket directory was removed: %v", err)
	}
}

// TestStartLog: the start step's log goes to the bundle's log FIFO (what
// containerd copies into its log); a "log" that is a link or a regular file
// is never written.
func TestStartLog(t *testing.T) {
	bundle := t.TempDir()
	fifo := filepath.Join(bundle, "log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, closeLog := startLog(context.Background(), bundle)
	log.G(ctx).Warn("refused by test")
	closeLog()
	buf := make([]byte, 4096)
	n, _ := r.Read(buf)
	if !strings.Contains(string(buf[:n]), "refused by test") {
		t.Errorf("the log FIFO got %q", buf[:n])
	}

	for _, kind := range []string{"symlink", "file"} {
		b := t.TempDir()
		target := filepath.Join(t.TempDir(), "target")
		if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
		if kind == "symlink" {
			err = os.Symlink(target, filepath.Join(b, "log"))
		} else {
			target = filepath.Join(b, "log")
			err = os.WriteFile(target, []byte("keep"), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		ctx, closeLog := startLog(context.Background(), b)
		log.G(ctx).Warn("must not be written")
		closeLog()
		if got, _ := os.ReadFile(target); string(got) != "keep" {
			t.Errorf("%s: startLog wrote %q", kind, got)
		}
	}
}

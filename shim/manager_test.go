//go:build linux

package shim

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveDeadSocket: the socket a bundle names is removed when nothing
// serves it (its shim was killed), and left when something does (an app
// container's bundle names its pod's shim, which may run on).
func TestRemoveDeadSocket(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		live, gone bool
	}{
		{"dead, bootstrap.json", "bootstrap.json", false, true},
		{"dead, address", "address", false, true},
		{"live", "bootstrap.json", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := t.TempDir()
			sock := filepath.Join(dir, tc.file+map[bool]string{true: "-live", false: "-dead"}[tc.live])
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
}

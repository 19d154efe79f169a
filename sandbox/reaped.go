//go:build linux

package sandbox

import (
	"bytes"
	"fmt"
	"os/exec"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
)

// outputReaped runs cmd in a shim process and returns its standard output.
// The shim daemon (and its delete step) reaps every child as it exits (it is
// a subreaper): exec.Cmd's own wait would lose the race and fail with ECHILD,
// so the exit status comes from the shim library's reaper, as for the runc
// task service's runc calls. Only for the shim daemon and delete step, whose
// reaper runs; timeout kills a command that hangs.
func outputReaped(cmd *exec.Cmd, timeout time.Duration) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	ec, err := reaper.Default.Start(cmd)
	if err != nil {
		return nil, err
	}
	status, err := reaper.Default.WaitTimeout(cmd, ec, timeout)
	if err != nil {
		return nil, err
	}
	if status != 0 {
		return stdout.Bytes(), fmt.Errorf("exit status %d: %s", status, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

package policy

import (
	"fmt"
	"path"
	"regexp"
)

func init() {
	register(Check{
		ID:          "procFdCwd",
		Description: "A working directory under /proc/<pid>/fd, /proc/self/fd or /proc/thread-self/fd, which can leak a host directory into the container (CVE-2024-21626).",
		Evaluate:    checkProcFdCwd,
	})
}

var procFdRE = regexp.MustCompile(`^/proc/(self|thread-self|[0-9]+)(/task/[0-9]+)?/(fd|cwd|root)(/|$)`)

// procFdCwd returns a violation when cwd points into a process's fd table.
func procFdCwd(field, cwd string) []Violation {
	if cwd == "" {
		return nil
	}
	if procFdRE.MatchString(path.Clean("/" + cwd)) {
		return []Violation{{Check: "procFdCwd", Field: field, Value: cwd,
			Reason: fmt.Sprintf("working directory %q points into a process's file descriptors (CVE-2024-21626)", cwd)}}
	}
	return nil
}

func checkProcFdCwd(in *Input) []Violation {
	if in.Spec.Process == nil {
		return nil
	}
	return procFdCwd("process.cwd", in.Spec.Process.Cwd)
}

// Package version reports the shim's version, commit and the containerd
// library it was built against.
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Version and Commit are set at link time:
//
//	-ldflags "-X .../version.Version=v0.1.0 -X .../version.Commit=$(git rev-parse HEAD)"
var (
	Version = "v0.1.0-dev"
	Commit  = ""
)

// containerdModule is the module path of containerd's shim library.
const containerdModule = "github.com/containerd/containerd/v2"

// ContainerdLibrary returns the version of containerd's shim library linked
// into this binary, from the build information.
func ContainerdLibrary() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == containerdModule {
			if d.Replace != nil {
				return d.Replace.Version + " (replaces " + d.Version + ")"
			}
			return d.Version
		}
	}
	return "unknown"
}

// commit returns the link-time commit, else the VCS revision Go recorded.
func commit() string {
	if Commit != "" {
		return Commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// Print writes the version report.
func Print(w io.Writer, name string) {
	fmt.Fprintf(w, "%s:\n", name)
	fmt.Fprintf(w, "  Version:    %s\n", Version)
	fmt.Fprintf(w, "  Commit:     %s\n", commit())
	fmt.Fprintf(w, "  containerd: %s %s\n", containerdModule, ContainerdLibrary())
	fmt.Fprintf(w, "  Go version: %s\n", runtime.Version())
}

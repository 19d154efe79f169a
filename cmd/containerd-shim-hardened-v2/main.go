//go:build linux

// Command containerd-shim-hardened-v2 is the containerd runtime v2 shim for
// the io.containerd.hardened.v2 runtime type.
package main

import (
	"context"
	"os"
	"path/filepath"

	cshim "github.com/containerd/containerd/v2/pkg/shim"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/doctor"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/sandbox"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/shim"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/version"
)

func main() {
	// a runsc class's OCI runtime: this binary under the wrapper's name
	if sandbox.IsRunscWrapper(os.Args[0]) {
		os.Exit(sandbox.RunscMain(os.Args))
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "check":
			os.Exit(shim.RunCheck(os.Args[2:], os.Stdout, os.Stderr))
		case "verify":
			os.Exit(shim.RunVerify(os.Args[2:], os.Stdout, os.Stderr))
		case "doctor":
			os.Exit(doctor.Run(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	if len(os.Args) == 2 {
		switch os.Args[1] {
		case "-v", "--v", "-version", "--version":
			version.Print(os.Stdout, filepath.Base(os.Args[0]))
			return
		}
	}
	// containerd 2.0–2.2 start a shim with the legacy start request
	if handled, code := shim.CompatStart(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); handled {
		os.Exit(code)
	}
	shim.Register()
	cshim.RunShim(context.Background(), shim.NewManager(shim.RuntimeName))
}

//go:build ignore

// gen writes hardened.json, the hardened profile in moby's JSON format
// (go generate ./seccomp). A test fails when the file is out of date.
package main

import (
	"encoding/json"
	"os"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/seccomp"
)

func main() {
	p, err := seccomp.Generate()
	if err != nil {
		panic(err)
	}
	b, err := json.MarshalIndent(p, "", "\t")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile("hardened.json", append(b, '\n'), 0o644); err != nil {
		panic(err)
	}
}

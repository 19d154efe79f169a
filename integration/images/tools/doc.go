// Package tools holds the sources of the small static programs the lab images carry in place of
// upstream binaries: pause (the pod sandbox process), pgrep and ipcs (missing from Debian's
// busybox), webserver (nginx and httpd stand-ins) and nnp (the no-new-privileges probe).
//
// Each program is a standard-library-only main package. The images package embeds this directory
// and builds the programs with "go build" (CGO_ENABLED=0, so they are static) in a throw-away
// module when an image needs them; the packages are also part of this module so that go vet and
// go test cover them.
package tools

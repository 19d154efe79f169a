// Command nnp prints the effective user ID of its own process.
//
// It stands in for registry.k8s.io/e2e-test-images/nonewprivs: the image installs it set-user-ID
// root, the container runs it as an unprivileged user, and the output tells whether the kernel
// honoured the set-user-ID bit ("Effective uid: 0") or no_new_privs suppressed it
// ("Effective uid: 1000").
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("Effective uid: %d\n", os.Geteuid())
}

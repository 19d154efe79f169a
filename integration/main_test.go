//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	containerd "github.com/containerd/containerd/v2/client"
)

const (
	// testNamespace is the containerd namespace of the client and ctr tests.
	testNamespace = "hardened-test"
	// busybox is the image every test container runs (served by the lab registry).
	busybox = "docker.io/library/busybox:latest"
	// runtimeType is the hardened shim's runtime type.
	runtimeType = "io.containerd.hardened.v2"
)

var (
	client *containerd.Client
	// classConfig is a class config file for client and ctr tests.
	classConfig string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	l, err := loadLab()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	theLab = l
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client, err = containerd.New(l.Address, containerd.WithDefaultNamespace(testNamespace))
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: connecting to containerd:", err)
		return 1
	}
	defer client.Close()
	if out, err := l.ctr(ctx, "-n", testNamespace, "images", "pull", "--hosts-dir", l.HostsDir, busybox); err != nil {
		fmt.Fprintln(os.Stderr, "integration: pulling test image:", err, out)
		return 1
	}
	if out, err := l.crictl(ctx, "pull", busybox); err != nil {
		fmt.Fprintln(os.Stderr, "integration: pulling test image through CRI:", err, out)
		return 1
	}
	classConfig = filepath.Join(l.ClassDir, "test-class.toml")
	body := fmt.Sprintf("class_name = \"hardened-test\"\nbinary_name = %q\nroot = %q\ncontainerd_root = %q\nkubelet_root = %q\naudit_log = %q\n",
		filepath.Join(l.Bin, "runc"), l.RuncRoot, l.ContainerdRoot, l.KubeletRoot, l.AuditLog)
	if err := os.WriteFile(classConfig, []byte(body), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	before := l.delegateShims()
	code := m.Run()
	// a delegate shim no test owns any more (each test checks its own containers'; this
	// catches one started for a container the tests never saw, e.g. a failed start)
	for pid, cmd := range l.delegateShims() {
		if _, ok := before[pid]; !ok {
			fmt.Fprintf(os.Stderr, "integration: a delegate shim is left after the tests: pid %d: %s\n", pid, cmd)
			code = 1
		}
	}
	return code
}

// classOptions are the runtime options of the client tests' class.
func classOptions() *runtimeoptions.Options {
	return &runtimeoptions.Options{ConfigPath: classConfig}
}

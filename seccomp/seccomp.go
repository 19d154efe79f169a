// Package seccomp builds the seccomp profiles a runtime class applies: the
// project's "hardened" profile (moby's default profile plus the additions in
// additions.json), containerd's RuntimeDefault, or a profile file.
package seccomp

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	containerdseccomp "github.com/containerd/containerd/v2/contrib/seccomp"
	moby "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Profile names a class may use.
const (
	ProfileHardened       = "hardened"
	ProfileRuntimeDefault = "runtime-default"
)

// maxProfileSize bounds a profile file.
const maxProfileSize = 4 << 20

//go:embed additions.json
var additionsJSON []byte

//go:embed hardened.json
var hardenedJSON []byte

// Additions returns the hardened profile's rules on top of the base profile.
func Additions() ([]*moby.Syscall, error) {
	var add []*moby.Syscall
	if err := json.Unmarshal(additionsJSON, &add); err != nil {
		return nil, fmt.Errorf("seccomp additions: %w", err)
	}
	for i, a := range add {
		if a.Comment == "" || len(a.Names) == 0 {
			return nil, fmt.Errorf("seccomp additions: rule %d needs names and a comment naming what it stops", i)
		}
	}
	return add, nil
}

// Generate builds the hardened profile (in moby's conditional format) from
// moby's default profile: every syscall the additions handle (socket
// included) is taken out of the base rules, then the additions are appended.
// hardened.json is its output.
func Generate() (*moby.Seccomp, error) {
	add, err := Additions()
	if err != nil {
		return nil, err
	}
	p := moby.DefaultProfile()
	owned := map[string]bool{}
	for _, a := range add {
		for _, n := range a.Names {
			owned[n] = true
		}
	}
	var base []*moby.Syscall
	for _, r := range p.Syscalls {
		names := slices.DeleteFunc(slices.Clone(r.Names), func(n string) bool { return owned[n] })
		if len(names) == 0 {
			continue
		}
		r.Names = names
		base = append(base, r)
	}
	p.Syscalls = append(base, add...)
	// Native ABIs only: the 32-bit compat ABIs (x86 and x32 on amd64, arm on
	// arm64) have syscall tables and compat code of their own with their own
	// escapes (CVE-2014-0038, x32 recvmmsg), are rarely needed by container
	// workloads, and every extra architecture multiplies the filter runc
	// compiles for each container.
	for i := range p.ArchMap {
		p.ArchMap[i].SubArches = nil
	}
	return p, nil
}

// Build returns the OCI seccomp profile a class applies to spec: profile is
// "hardened", "runtime-default" or the absolute path of a profile file (in
// Docker's JSON format). Capability-conditional rules are resolved against
// the spec's bounding set. With audit, every denial becomes SCMP_ACT_LOG.
func Build(profile string, spec *specs.Spec, audit bool) (*specs.LinuxSeccomp, error) {
	var (
		out *specs.LinuxSeccomp
		err error
	)
	rs := withCapabilities(spec)
	switch profile {
	case ProfileHardened, "":
		out, err = moby.LoadProfile(string(hardenedJSON), rs)
	case ProfileRuntimeDefault:
		out = containerdseccomp.DefaultProfile(rs)
	default:
		body, rerr := readProfile(profile)
		if rerr != nil {
			return nil, rerr
		}
		out, err = moby.LoadProfile(string(body), rs)
	}
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %q: %w", profile, err)
	}
	if out == nil {
		return nil, fmt.Errorf("seccomp profile %q is empty", profile)
	}
	pruneRedundant(out)
	if audit {
		Audit(out)
	}
	return out, nil
}

// pruneRedundant drops rules that only restate the default action (same
// action, same errno, no argument conditions): the filter behaves the same
// and runc compiles a smaller one. hardened.json keeps them as documentation.
func pruneRedundant(p *specs.LinuxSeccomp) {
	errno := func(e *uint) uint {
		if e == nil {
			return uint(unix.EPERM)
		}
		return *e
	}
	p.Syscalls = slices.DeleteFunc(p.Syscalls, func(r specs.LinuxSyscall) bool {
		return r.Action == p.DefaultAction && len(r.Args) == 0 && errno(r.ErrnoRet) == errno(p.DefaultErrnoRet)
	})
}

// Audit turns every denial of a profile into SCMP_ACT_LOG: the syscall runs
// and the kernel logs it, for rollouts.
func Audit(p *specs.LinuxSeccomp) {
	deny := func(a specs.LinuxSeccompAction) bool {
		switch a {
		case specs.ActErrno, specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap, specs.ActTrace:
			return true
		}
		return false
	}
	if deny(p.DefaultAction) {
		p.DefaultAction, p.DefaultErrnoRet = specs.ActLog, nil
	}
	for i := range p.Syscalls {
		if deny(p.Syscalls[i].Action) {
			p.Syscalls[i].Action, p.Syscalls[i].ErrnoRet = specs.ActLog, nil
		}
	}
}

// withCapabilities returns spec, or a copy with an empty capability set
// where it has none (the profile loaders read the bounding set).
func withCapabilities(spec *specs.Spec) *specs.Spec {
	if spec != nil && spec.Process != nil && spec.Process.Capabilities != nil {
		return spec
	}
	s := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	if spec != nil && spec.Process != nil {
		p := *spec.Process
		p.Capabilities = &specs.LinuxCapabilities{}
		s.Process = &p
	}
	return s
}

var profileCache sync.Map // path -> []byte, profiles are read once per shim

func readProfile(path string) ([]byte, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("seccomp profile %q: want %q, %q or an absolute path", path, ProfileHardened, ProfileRuntimeDefault)
	}
	if b, ok := profileCache.Load(path); ok {
		return b.([]byte), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxProfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", path, err)
	}
	if len(b) > maxProfileSize {
		return nil, fmt.Errorf("seccomp profile %s: larger than %d bytes", path, maxProfileSize)
	}
	profileCache.Store(path, b)
	return b, nil
}

// ValidateProfile checks that a profile setting can be built.
func ValidateProfile(profile string) error {
	_, err := Build(profile, nil, false)
	return err
}

package runtimeclass

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/pelletier/go-toml/v2"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/harden"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
)

// Pinning. The node class file (or, without one, the built-in defaults) is
// the node admin's: it is the floor of the class. Runtime options that arrive
// with a request — ConfigPath, inline ConfigBody or runc options, from
// containerd's CRI or from any client of containerd's socket, which the shim
// cannot tell apart — may only tighten a pinned class, never relax it. A
// node class file with `pinned = false` lets request options replace it (the
// behaviour of earlier versions), for nodes where every containerd client is
// trusted.

// IsPinned reports whether request options may only tighten the class.
func (c *Config) IsPinned() bool { return c.Pinned == nil || *c.Pinned }

// pinRule says how a request may set one key of a pinned class.
type pinRule int

const (
	// pinFree keys may take any valid value: labels and stdio ownership.
	pinFree pinRule = iota
	// pinEqual keys name host paths, binaries or node layout: a request
	// may repeat the pinned value, never change it.
	pinEqual
	// pinTighten keys may only move towards more protection; the check is
	// the key's own (tightens).
	pinTighten
)

// pinRules lists every key of the schema. TestPinRulesCoverSchema fails when
// a key is added to Config without a rule here, so no new key is relaxable
// by accident.
var pinRules = map[string]pinRule{
	"class_name": pinFree, "io_uid": pinFree, "io_gid": pinFree, "TypeUrl": pinFree, "ConfigPath": pinFree,

	"runtime": pinEqual, "runsc.platform": pinEqual, "runsc.flags": pinEqual,
	"kata.shim": pinEqual, "kata.config_path": pinEqual, "kata.user_namespaces": pinEqual, "binary_name": pinEqual, "root": pinEqual, "systemd_cgroup": pinEqual,
	"shim_cgroup": pinEqual, "kubelet_root": pinEqual, "containerd_root": pinEqual,
	"audit_log": pinEqual, "audit_log_max_size": pinEqual, "audit_log_max_files": pinEqual,
	"audit_log_min_free": pinEqual, "seccomp.profile": pinEqual,
	"userns.state_dir": pinEqual, "userns.first_id": pinEqual, "userns.ranges": pinEqual,

	"pinned": pinTighten, "mode": pinTighten, "user_namespace": pinTighten, "no_new_privileges": pinTighten,
	"policy.level": pinTighten, "policy.require_seccomp": pinTighten, "policy.unmasked_proc": pinTighten,
	"policy.secrets_in_memory": pinTighten, "policy.disabled_checks": pinTighten,
	"policy.allowed_host_paths": pinTighten, "policy.allowed_hooks": pinTighten,
	"policy.allowed_seccomp_listeners": pinTighten, "policy.allowed_devices": pinTighten,
	"policy.allowed_log_binaries": pinTighten, "policy.allowed_log_dirs": pinTighten,
	"seccomp.existing": pinTighten, "seccomp.audit": pinTighten,
	"capabilities.preset": pinTighten, "capabilities.allow": pinTighten,
	"rootfs.read_only": pinTighten, "rootfs.read_only_sys": pinTighten, "rootfs.writable_paths": pinTighten,
}

// relaxes is the error of a request option that would relax a pinned class.
func (c *Class) relaxes(source, key string, format string, args ...any) error {
	by := c.NodeFile
	if by == "" || strings.HasPrefix(c.Source, SourceDefaults) {
		by = fmt.Sprintf("the built-in defaults (no node class file %s)", orDefault(c.NodeFile, "exists"))
	}
	return fmt.Errorf("runtime class %q is pinned by %s: %s key %q %s; request options may only tighten a pinned class (a node admin changes it in the node class file, where pinned = false lets requests replace it)",
		c.Name(), by, source, key, fmt.Sprintf(format, args...))
}

// Tighten returns the class that results from overlaying request settings
// (parsed from a ConfigPath file or ConfigBody) on the pinned class c, or an
// error naming the first key that would relax it. body is the request's TOML,
// used to tell which keys it sets.
func (c *Class) Tighten(req *Config, body []byte, source, bundle string) (*Class, error) {
	set, err := setKeys(body)
	if err != nil {
		return nil, fmt.Errorf("runtime class config %s: %w", source, err)
	}
	out := &Class{Config: c.Config, Source: c.Source + " + " + source}
	m := &out.Config
	for _, key := range set {
		rule, ok := pinRules[key]
		if !ok {
			return nil, c.relaxes(source, key, "has no pinning rule")
		}
		switch rule {
		case pinFree:
			switch key {
			case "class_name":
				if req.ClassName != "" {
					m.ClassName = req.ClassName
				}
			case "io_uid":
				m.IoUID = req.IoUID
			case "io_gid":
				m.IoGID = req.IoGID
			}
		case pinEqual:
			if err := c.sameValue(req, key, source, bundle); err != nil {
				return nil, err
			}
		case pinTighten:
			if err := c.tighten(m, req, key, source); err != nil {
				return nil, err
			}
		}
	}
	out.fill(bundle)
	return out, nil
}

// sameValue refuses a request that changes a pinEqual key.
func (c *Class) sameValue(req *Config, key, source, bundle string) error {
	// The request's value with the class's defaults applied, so that a
	// request repeating a default (binary_name = "runc") is not a change.
	r := &Class{Config: *req}
	r.fill(bundle)
	var have, want any
	switch key {
	case "runtime":
		have, want = r.Runtime, c.Runtime
	case "binary_name":
		have, want = r.BinaryName, c.BinaryName
	case "kata.shim":
		have, want = r.Kata.Shim, c.Kata.Shim
	case "root":
		have, want = r.Root, c.Root
	case "systemd_cgroup":
		have, want = req.SystemdCgroup, c.SystemdCgroup
	case "shim_cgroup":
		have, want = req.ShimCgroup, c.ShimCgroup
	case "kubelet_root":
		have, want = orDefault(req.KubeletRoot, policy.DefaultKubeletRoot), orDefault(c.KubeletRoot, policy.DefaultKubeletRoot)
	case "containerd_root":
		have, want = orDefault(req.ContainerdRoot, policy.DefaultContainerdRoot), orDefault(c.ContainerdRoot, policy.DefaultContainerdRoot)
	case "audit_log":
		have, want = r.AuditLog, c.AuditLog
	case "seccomp.profile":
		have, want = orDefault(req.Seccomp.Profile, "hardened"), orDefault(c.Seccomp.Profile, "hardened")
	default:
		have, want = lookup(req, key), lookup(&c.Config, key)
	}
	if fmt.Sprint(have) != fmt.Sprint(want) {
		return c.relaxes(source, key, "= %v differs from the pinned %v", have, want)
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// lookup returns a Config value by its TOML key (the pinEqual keys other
// packages add: compared as written).
func lookup(c *Config, key string) any {
	var m map[string]any
	b, err := toml.Marshal(c)
	if err != nil || toml.Unmarshal(b, &m) != nil {
		return nil
	}
	var cur any = m
	for _, part := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[part]
	}
	return cur
}

// rank orders the values of a key from least to most protective.
var rank = map[string][]string{
	"mode":                 {ModeAudit, ModeEnforce},
	"user_namespace":       {UsernsOff, UsernsIfSupported, UsernsRequired},
	"policy.level":         {string(policy.LevelBaseline), string(policy.LevelRestricted)},
	"policy.unmasked_proc": {string(policy.UnmaskedProcRestore), string(policy.UnmaskedProcRefuse)},
}

// tighten applies one pinTighten key of the request to m, or refuses it.
func (c *Class) tighten(m *Config, req *Config, key, source string) error {
	pinnedP, reqP := c.PolicyOptions(), (&Class{Config: *req}).PolicyOptions()
	boolKey := func(pinned, requested, protective bool, set func()) error {
		if requested != protective && pinned == protective {
			return c.relaxes(source, key, "= %v would relax the pinned %v", requested, pinned)
		}
		set()
		return nil
	}
	switch key {
	case "mode", "policy.level", "policy.unmasked_proc", "user_namespace":
		var pinned, requested string
		switch key {
		case "mode":
			pinned, requested = string(c.PolicyMode()), req.Mode
		case "user_namespace":
			pinned, requested = c.UsernsMode(), (&Class{Config: *req}).UsernsMode()
		case "policy.level":
			pinned, requested = string(pinnedP.Level), string(reqP.Level)
		default:
			pinned, requested = string(pinnedP.UnmaskedProc), string(reqP.UnmaskedProc)
		}
		if slices.Index(rank[key], requested) < slices.Index(rank[key], pinned) {
			return c.relaxes(source, key, "= %q would relax the pinned %q", requested, pinned)
		}
		switch key {
		case "mode":
			m.Mode = requested
		case "user_namespace":
			m.UserNamespace = requested
		case "policy.level":
			m.Policy.Level = requested
		default:
			m.Policy.UnmaskedProc = requested
		}
	case "pinned":
		return boolKey(c.IsPinned(), req.IsPinned(), true, func() {})
	case "no_new_privileges":
		return boolKey(boolOr(c.NoNewPrivileges, true), boolOr(req.NoNewPrivileges, true), true, func() { m.NoNewPrivileges = req.NoNewPrivileges })
	case "policy.require_seccomp":
		return boolKey(c.Policy.RequireSeccomp, req.Policy.RequireSeccomp, true, func() { m.Policy.RequireSeccomp = req.Policy.RequireSeccomp })
	case "policy.secrets_in_memory":
		return boolKey(pinnedP.SecretsInMemory, reqP.SecretsInMemory, true, func() { m.Policy.SecretsInMemory = req.Policy.SecretsInMemory })
	case "seccomp.audit":
		return boolKey(c.Seccomp.Audit, req.Seccomp.Audit, false, func() { m.Seccomp.Audit = req.Seccomp.Audit })
	case "rootfs.read_only":
		return boolKey(boolOr(c.Rootfs.ReadOnly, true), boolOr(req.Rootfs.ReadOnly, true), true, func() { m.Rootfs.ReadOnly = req.Rootfs.ReadOnly })
	case "rootfs.read_only_sys":
		return boolKey(boolOr(c.Rootfs.ReadOnlySys, true), boolOr(req.Rootfs.ReadOnlySys, true), true, func() { m.Rootfs.ReadOnlySys = req.Rootfs.ReadOnlySys })
	case "policy.disabled_checks", "policy.allowed_hooks", "policy.allowed_seccomp_listeners",
		"policy.allowed_devices", "policy.allowed_log_binaries":
		pinned, requested, set := c.listKey(m, req, key)
		for _, v := range requested {
			if !slices.Contains(pinned, v) {
				return c.relaxes(source, key, "adds %q, which the pinned class does not allow", v)
			}
		}
		set()
	case "policy.allowed_log_dirs":
		for _, d := range req.Policy.AllowedLogDirs {
			if !slices.ContainsFunc(c.Policy.AllowedLogDirs, func(p string) bool { return within(d, p) }) {
				return c.relaxes(source, key, "adds %q, outside the pinned class's directories", d)
			}
		}
		m.Policy.AllowedLogDirs = req.Policy.AllowedLogDirs
	case "policy.allowed_host_paths":
		for _, a := range req.Policy.AllowedHostPaths {
			if !slices.ContainsFunc(c.Policy.AllowedHostPaths, func(p policy.AllowedHostPath) bool {
				return within(a.PathPrefix, p.PathPrefix) && (a.ReadOnly || !p.ReadOnly)
			}) {
				return c.relaxes(source, key, "allows %q (read_only = %v), which no pinned entry covers", a.PathPrefix, a.ReadOnly)
			}
		}
		m.Policy.AllowedHostPaths = req.Policy.AllowedHostPaths
	case "seccomp.existing":
		// keep < replace ~ strengthen < reject: replace and strengthen both
		// give at least the class profile's protection.
		level := map[string]int{"": 0, harden.ExistingKeep: 0, harden.ExistingReplace: 1, harden.ExistingStrengthen: 1, harden.ExistingReject: 2}
		pinned := c.Seccomp.Existing
		if pinned == "" {
			pinned = harden.DefaultOptions().SeccompExisting
		}
		if level[req.Seccomp.Existing] < level[pinned] {
			return c.relaxes(source, key, "= %q would relax the pinned %q", req.Seccomp.Existing, pinned)
		}
		m.Seccomp.Existing = req.Seccomp.Existing
	case "capabilities.preset", "capabilities.allow":
		pinned, err := c.HardenOptions()
		if err != nil {
			return err
		}
		r := &Class{Config: *m}
		if key == "capabilities.preset" {
			r.Capabilities.Preset = req.Capabilities.Preset
		} else {
			r.Capabilities.Allow = req.Capabilities.Allow
		}
		requested, err := r.HardenOptions()
		if err != nil {
			return err
		}
		for _, cap := range requested.Capabilities {
			if !slices.Contains(pinned.Capabilities, cap) {
				return c.relaxes(source, key, "allows %s, which the pinned class does not", cap)
			}
		}
		m.Capabilities = r.Capabilities
	case "rootfs.writable_paths":
		pinned, err := c.HardenOptions()
		if err != nil {
			return err
		}
		requested, err := (&Class{Config: *req}).HardenOptions()
		if err != nil {
			return err
		}
		for _, w := range requested.WritablePaths {
			i := slices.IndexFunc(pinned.WritablePaths, func(p harden.WritablePath) bool { return p.Path == w.Path })
			if i < 0 || w.SizeBytes > pinned.WritablePaths[i].SizeBytes {
				return c.relaxes(source, key, "makes %q writable (%d bytes), beyond the pinned class's writable paths", w.Path, w.SizeBytes)
			}
		}
		m.Rootfs.WritablePaths = req.Rootfs.WritablePaths
	default:
		return c.relaxes(source, key, "has no pinning rule")
	}
	return nil
}

// listKey returns the pinned and requested values of a list key and a
// function that sets the request's list on m.
func (c *Class) listKey(m *Config, req *Config, key string) (pinned, requested []string, set func()) {
	switch key {
	case "policy.disabled_checks":
		return c.Policy.DisabledChecks, req.Policy.DisabledChecks, func() { m.Policy.DisabledChecks = req.Policy.DisabledChecks }
	case "policy.allowed_hooks":
		return c.Policy.AllowedHooks, req.Policy.AllowedHooks, func() { m.Policy.AllowedHooks = req.Policy.AllowedHooks }
	case "policy.allowed_seccomp_listeners":
		return c.Policy.AllowedSeccompListeners, req.Policy.AllowedSeccompListeners, func() { m.Policy.AllowedSeccompListeners = req.Policy.AllowedSeccompListeners }
	case "policy.allowed_devices":
		return c.Policy.AllowedDevices, req.Policy.AllowedDevices, func() { m.Policy.AllowedDevices = req.Policy.AllowedDevices }
	default:
		return c.Policy.AllowedLogBinaries, req.Policy.AllowedLogBinaries, func() { m.Policy.AllowedLogBinaries = req.Policy.AllowedLogBinaries }
	}
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// within reports whether path is dir or below it, by path components.
func within(path, dir string) bool {
	path, dir = filepath.Clean(path), filepath.Clean(dir)
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// setKeys lists the keys a TOML body sets, as dotted paths down to the
// schema's keys (a table of tables, e.g. [[policy.allowed_host_paths]], is
// one key).
func setKeys(body []byte) ([]string, error) {
	var m map[string]any
	if err := toml.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	var keys []string
	for k, v := range m {
		sub, ok := v.(map[string]any)
		if !ok || k == "TypeUrl" {
			keys = append(keys, k)
			continue
		}
		for sk := range sub {
			keys = append(keys, k+"."+sk)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// TightenRunc checks runc options (as `ctr --runc-*`, a runc-style handler
// or containerd's CRI for user-namespaced pods send them) against a pinned
// class: the stdio owner may be set, the runtime binary, its state root and
// the cgroup settings only repeated.
func (c *Class) TightenRunc(rc *runcoptions.Options) error {
	const source = "runc options"
	for _, f := range []struct {
		key       string
		have, pin string
	}{
		{"BinaryName", rc.GetBinaryName(), c.BinaryName},
		{"Root", rc.GetRoot(), c.Root},
		{"ShimCgroup", rc.GetShimCgroup(), c.ShimCgroup},
	} {
		if f.have != "" && f.have != f.pin {
			return c.relaxes(source, f.key, "= %q differs from the pinned %q", f.have, f.pin)
		}
	}
	if rc.GetSystemdCgroup() && !c.SystemdCgroup {
		return c.relaxes(source, "SystemdCgroup", "= true differs from the pinned false")
	}
	for _, o := range []struct {
		key string
		set bool
	}{{"NoPivotRoot", rc.GetNoPivotRoot()}, {"NoNewKeyring", rc.GetNoNewKeyring()},
		{"CriuImagePath", rc.GetCriuImagePath() != ""}, {"CriuWorkPath", rc.GetCriuWorkPath() != ""}, {"TaskApiAddress", rc.GetTaskApiAddress() != ""}} {
		if o.set {
			return c.relaxes(source, o.key, "is set; the hardened shim does not accept it")
		}
	}
	return nil
}

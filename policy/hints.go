package policy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// This file turns a violation into a fix hint in the workload owner's terms:
// the pod field to change (securityContext.privileged, hostNetwork,
// volumes[].hostPath, capabilities.add…), the class key a node admin could
// extend where one exists (policy.allowed_host_paths, allowed_devices,
// allowed_hooks…), and, for what only a raw spec can carry (hooks, remount
// entries, stdio, relative roots), what the client must not send.
//
// Hints are looked up by check ID and field shape (the field with every
// bracketed key or index reduced to "[]": mounts["/data"].source is
// mounts[].source) and computed from the violation's field and value and
// what the evaluation saw. Evaluate, EvaluateExec, EvaluateUpdate and
// EvaluateIO fill in the hint of every violation that has none, so check
// files need not; a check may still set its own.

// hintContext is what a hint may look at besides the violation.
type hintContext struct {
	// in is the evaluation's input (spec checks); nil for exec, update and
	// stdio checks.
	in *Input
	// opts are the class's policy options, when known.
	opts *Options
	// container is the container's process (exec checks).
	container *specs.Process
	// stateDir is containerd's state directory (stdio checks).
	stateDir string
}

func (c *hintContext) spec() *specs.Spec {
	if c == nil || c.in == nil {
		return nil
	}
	return c.in.Spec
}

func (c *hintContext) options() *Options {
	switch {
	case c == nil:
		return DefaultOptions()
	case c.opts != nil:
		return c.opts
	case c.in != nil && c.in.Options != nil:
		return c.in.Options
	}
	return DefaultOptions()
}

func (c *hintContext) host() Host {
	if c != nil && c.in != nil && c.in.Host != nil {
		return c.in.Host
	}
	return nil
}

type hintFunc func(v Violation, c *hintContext) string

// hintTable maps "<check>|<field shape>" to the hint of such a violation.
var hintTable = map[string]hintFunc{}

func hint(check string, shapes []string, f hintFunc) {
	for _, s := range shapes {
		hintTable[check+"|"+s] = f
	}
}

func fixed(s string) hintFunc { return func(Violation, *hintContext) string { return s } }

// capabilityFields are the five capability sets' fields.
var capabilityFields = []string{"process.capabilities.bounding", "process.capabilities.effective",
	"process.capabilities.permitted", "process.capabilities.inheritable", "process.capabilities.ambient"}

func init() {
	// privileged
	hint("privileged", []string{"process.capabilities"}, fixed(
		"send process.capabilities with explicit sets, as containerd's CRI and ctr always do (a raw spec without them runs with the node root's capabilities)"))
	hint("privileged", capabilityFields, fixed(
		"set securityContext.privileged to false (or remove it) and add only the capabilities the app needs with securityContext.capabilities.add"))
	hint("privileged", []string{"mounts[].options"}, hintWritableKernelFS)
	hint("privileged", []string{"linux.namespaces"}, func(v Violation, _ *hintContext) string {
		kind := quotedKind(v.Value)
		if kind == "uts" {
			return `add a "uts" namespace to linux.namespaces (containerd's CRI creates one unless hostNetwork is set; only a raw spec omits it)`
		}
		return fmt.Sprintf("add a %q namespace to linux.namespaces (containerd always creates one; only a raw spec omits it)", kind)
	})
	hint("privileged", []string{"linux.devices[]"}, hintDevices)
	hint("privileged", []string{"linux.resources.devices[]"}, hintDeviceRule)
	hint("privileged", []string{"linux.netDevices"}, fixed(
		"remove linux.netDevices (CRI never sets it; a raw client or an NRI plugin added it): the pod gets its network from its CNI network namespace"))

	// capabilities
	hint("capabilities", capabilityFields, hintCapabilities)

	// hostActions: hooks, seccomp listeners, stdio
	var hookFields []string
	for _, set := range []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"} {
		hookFields = append(hookFields, "hooks."+set+"[].path")
	}
	hint("hostActions", hookFields, func(v Violation, _ *hintContext) string {
		const what = "remove the hook (Kubernetes has no pod field for OCI hooks: an NRI plugin, a hook injector or a raw client added it)"
		if !filepath.IsAbs(v.Value) {
			return what + "; an allowlisted hook is named by its absolute path"
		}
		return fmt.Sprintf("%s, or a node admin adds %q to the class's policy.allowed_hooks", what, truncate(v.Value, 256))
	})
	hint("hostActions", []string{"hooks"}, fixed(
		"remove the hooks (Kubernetes has no pod field for OCI hooks: an NRI plugin, a hook injector or a raw client added them)"))
	hint("hostActions", []string{"linux.seccomp.listenerPath"}, func(v Violation, _ *hintContext) string {
		return fmt.Sprintf("remove listenerPath from the seccomp profile (securityContext.seccompProfile Localhost file or raw spec), or a node admin adds %q to the class's policy.allowed_seccomp_listeners", truncate(v.Value, 256))
	})
	hint(IOCheckID, []string{"stdin", "stdout", "stderr"}, hintStdio)

	// hostNamespaces
	hint("hostNamespaces", []string{"linux.namespaces"}, func(v Violation, _ *hintContext) string {
		kind := quotedKind(v.Value)
		if f := hostNamespacePodField(kind); f != "" {
			return fmt.Sprintf("set %s to false (or remove it) in the pod spec; a raw spec must list a %q namespace in linux.namespaces", f, kind)
		}
		return fmt.Sprintf("list a %q namespace in linux.namespaces", kind)
	})
	hint("hostNamespaces", []string{"linux.namespaces[].path"}, hintNamespacePath)
	hint("hostNamespaces", []string{"mounts[].source"}, fixed(
		"set hostIPC to false and remove the hostPath volume of /dev/shm; for shared memory mount an emptyDir with medium: Memory at /dev/shm"))

	// hostPathVolumes
	hint("hostPathVolumes", []string{"root.path"}, fixed(
		`let containerd set root.path ("rootfs" in the bundle): a client must not point the root file system at a host directory (e.g. ctr --rootfs)`))
	hint("hostPathVolumes", []string{"mounts[].destination"}, fixed(
		"remove the extra kernel file system mount (not a pod field: a raw client or an NRI plugin added it); the runtime mounts proc, sysfs and cgroup where it masks them"))
	hint("hostPathVolumes", []string{"mounts[].type"}, func(v Violation, _ *hintContext) string {
		return fmt.Sprintf("do not mount a %q file system from the node: use a volume instead (emptyDir, configMap, secret, projected, or a PVC through CSI)", truncate(v.Value, 64))
	})
	hint("hostPathVolumes", []string{"mounts[].source"}, hintHostPath)

	// mountTree
	hint("mountTree", []string{"linux.rootfsPropagation"}, fixed(
		`set volumeMounts[].mountPropagation to HostToContainer or None instead of Bidirectional; a raw spec leaves linux.rootfsPropagation unset or "rslave"`))
	hint("mountTree", []string{"mounts[].destination"}, fixed(
		`mount it below "/", never at "/" (not a pod field: a raw client or an NRI plugin added the entry)`))
	hint("mountTree", []string{"mounts[].options"}, hintMountOptions)
	hint("mountTree", []string{"mounts[].uidMappings", "mounts[].gidMappings"}, fixed(hintIDMap))

	// the rest of the spec checks
	hint("procFdCwd", []string{"process.cwd"}, fixed(hintCwd))
	hint("procMount", []string{"linux.maskedPaths"}, fixed(
		`remove securityContext.procMount: Unmasked (use Default), or a node admin sets policy.unmasked_proc = "restore" to restore the masks instead`))
	hint("seLinuxOptions", []string{"process.selinuxLabel", "linux.mountLabel"}, func(v Violation, _ *hintContext) string {
		if len(strings.SplitN(v.Value, ":", 4)) < 3 {
			return "use a user:role:type[:level] label (securityContext.seLinuxOptions)"
		}
		return "set securityContext.seLinuxOptions.type to container_t, container_init_t, container_kvm_t or container_engine_t, or leave it unset"
	})
	hint("seccompProfile", []string{"linux.seccomp"}, func(v Violation, _ *hintContext) string {
		if v.Value == "set" {
			return `remove securityContext.seccompProfile: the class applies its own profile (a node admin may set seccomp.existing = "strengthen" to keep a pod's profile and strengthen it)`
		}
		return "set securityContext.seccompProfile.type to RuntimeDefault (or Localhost with a profile); a raw spec needs linux.seccomp"
	})
	hint("seccompProfile", []string{"linux.seccomp.defaultAction"}, fixed(
		"set securityContext.seccompProfile.type to RuntimeDefault, or use a Localhost profile whose defaultAction denies (SCMP_ACT_ERRNO)"))
	hint("seccompProfile", []string{"linux.seccomp.syscalls"}, func(v Violation, _ *hintContext) string {
		return fmt.Sprintf("set securityContext.seccompProfile.type to RuntimeDefault, or use a Localhost profile that blocks %s", truncate(v.Value, 256))
	})
	hint("seccompProfile", []string{"linux.seccomp.flags"}, fixed(
		"remove SECCOMP_FILTER_FLAG_SPEC_ALLOW from the flags of the Localhost seccomp profile"))
	hint("secretsInMemory", []string{"mounts[].source"}, fixed(
		"nothing in the pod changes this: the kubelet puts secret and projected volumes on tmpfs unless it cannot (see its log on the node); a node admin may set policy.secrets_in_memory = false"))
	hint("sysctls", []string{"linux.sysctl[]"}, func(v Violation, _ *hintContext) string {
		return fmt.Sprintf("remove %q from securityContext.sysctls; only the safe set is allowed: %s", truncate(fieldKey(v.Field), 128), strings.Join(safeSysctlNames(), ", "))
	})
	hint("runtimeAnnotations", []string{"annotations[]"}, fixed(
		"remove the annotation from the pod (and from containerd's pod_annotations passthrough); a node admin sets runsc flags in the class's [runsc] flags"))
	hint("appArmorProfile", []string{"process.apparmorProfile"}, fixed(
		"set securityContext.appArmorProfile.type to RuntimeDefault (or Localhost), not Unconfined"))

	// exec, update and shim-level checks
	hint(ExecCheckID, []string{"process"}, fixed("send the exec's process spec"))
	hint(ExecCheckID, capabilityFields, func(v Violation, _ *hintContext) string {
		return fmt.Sprintf("exec with the container's capabilities (CRI's exec copies them); to use %s the container itself needs them in securityContext.capabilities.add", capNames(v.Value))
	})
	hint(ExecCheckID, []string{"process.noNewPrivileges"}, fixed(
		"keep noNewPrivileges in the exec: the container's securityContext.allowPrivilegeEscalation: false applies to its execs too"))
	hint(ExecCheckID, []string{"process.user.uid"}, func(v Violation, c *hintContext) string {
		return fmt.Sprintf("exec as the container's user (uid %d, securityContext.runAsUser), not as root", c.containerUser().UID)
	})
	hint(ExecCheckID, []string{"process.user.gid"}, func(v Violation, c *hintContext) string {
		return fmt.Sprintf("exec with the container's group (gid %d, securityContext.runAsGroup), not group 0", c.containerUser().GID)
	})
	hint(ExecCheckID, []string{"process.user.additionalGids"}, fixed(
		"exec with the container's supplementary groups only (securityContext.supplementalGroups sets them for the container and its execs)"))
	hint(ExecCheckID, []string{"process.apparmorProfile"}, fixed(
		"leave the exec's AppArmor profile empty: it then runs under the container's (securityContext.appArmorProfile)"))
	hint(ExecCheckID, []string{"process.selinuxLabel"}, fixed(
		"leave the exec's SELinux label empty: it then runs under the container's (securityContext.seLinuxOptions)"))
	hint(ExecCheckID, []string{"process.cwd"}, fixed(hintCwd))
	hint(UpdateCheckID, []string{"resources.devices[]"}, fixed(
		"update only resources the container already has: device access comes with the container's spec at creation (a device plugin or the class's policy.allowed_devices), never through an update"))
	// processLimits (container and exec), cgroupsPath, unified keys
	var limitFields []string
	for _, pre := range []string{"process"} {
		for _, f := range []string{"rlimits[]", "rlimits[].type", "scheduler.policy", "scheduler.nice", "scheduler.priority", "ioPriority.class", "oomScoreAdj"} {
			limitFields = append(limitFields, pre+"."+f)
		}
	}
	hint("processLimits", limitFields, hintProcessLimits)
	hint("processLimits", []string{"linux.intelRdt.closID"}, fixed(
		"leave linux.intelRdt to containerd's RDT classes (a closID alone joins a group the node admin configured); do not send schemata for a group the container does not own (not a pod field: a raw client or an NRI plugin set it)"))
	hint("processLimits", []string{"linux.personality"}, fixed(
		"remove linux.personality or set its domain to LINUX without flags (not a pod field: a raw client or an NRI plugin set it)"))
	hint(ExecCheckID, limitFields, hintProcessLimits)
	hint("cgroupsPath", []string{"linux.cgroupsPath"}, fixed(
		"let containerd's CRI set linux.cgroupsPath (the pod's cgroup under kubepods) or leave it empty; a container must not be placed in a node cgroup or another container's (not a pod field: a raw client or an NRI plugin set it)"))
	hint("cgroupsPath", []string{"linux.resources.unified[]"}, fixed(
		"set only cgroup controller limits in linux.resources.unified (cpu., memory., io., pids. …): resources.limits in the pod spec, never cgroup core files such as cgroup.procs or cgroup.subtree_control"))
	hint(UpdateCheckID, []string{"resources.unified[]"}, fixed(
		"update only cgroup controller limits (resources.limits in the pod spec), never cgroup core files such as cgroup.procs or cgroup.subtree_control"))
	hint("hostPathVolumes", []string{"rootfs[]"}, fixed(
		"let containerd's snapshotter provide the root file system (an image's snapshot); a client must not mount host directories as or into it (e.g. ctr run --rootfs)"))
	hint(IOCheckID, []string{"checkpoint"}, fixed(
		"run the workload under a class without the hardened runtime to checkpoint or restore it (kubelet's checkpoint API and ctr checkpoint/restore are not supported)"))
	hint(UsernsCheckID, []string{"linux.namespaces[]"}, fixed(
		"run the pod where the node can give it a user namespace (runc ≥ 1.2 and Linux ≥ 5.12 with idmapped mounts on containerd's file system), or ask a node admin for a class with user_namespace = \"if-supported\"; an app container must belong to a pod sandbox this class serves"))
	hint(UsernsCheckID, []string{"mounts[].source"}, fixed(
		"mount the volume read-only (readOnly: true), or put it on a file system the kernel can idmap (emptyDir, secret, configMap and hostPath volumes on tmpfs, ext4, xfs or btrfs can), or ask a node admin for a class with user_namespace = \"off\""))
	hint(UsernsCheckID, []string{"linux.uidMappings"}, fixed(
		"map container IDs to an unprivileged host range no other pod uses (kubelet's hostUsers: false does), never to host ID 0"))
	hint("runtimeClass", []string{"annotations[]"}, fixed(
		"run every container of a pod under the pod's runtime class (spec.runtimeClassName is pod-wide): a container cannot join a pod served by another runtime or class"))
}

const (
	hintCwd   = "set workingDir (or the image's WORKDIR) to a directory of the container, not under /proc/<pid>/fd, /cwd or /root (CVE-2024-21626)"
	hintIDMap = "remove the mount's ID mapping, or map it exactly like the container's user namespace (what CRI sends for hostUsers: false)"
)

// onMissingHint is called when a violation's check and field shape have no
// entry in hintTable (tests fail on it).
var onMissingHint = func(check, shape string) {}

// hintFor returns the hint of v: its table entry's, or a general one.
func hintFor(v Violation, c *hintContext) string {
	shape := fieldShape(v.Field)
	if f, ok := hintTable[v.Check+"|"+shape]; ok {
		if h := f(v, c); h != "" {
			return oneLine(h)
		}
	}
	onMissingHint(v.Check, shape)
	return oneLine(fmt.Sprintf("change %s as the reason says; a node admin may turn the check off with policy.disabled_checks = [%q]", truncate(v.Field, 256), v.Check))
}

// withHints fills in the hint of every violation that has none.
func withHints(vs []Violation, c *hintContext) []Violation {
	for i := range vs {
		if vs[i].Hint == "" {
			vs[i].Hint = hintFor(vs[i], c)
		}
	}
	return vs
}

// FillHints fills in the hint of every violation that has none, from the
// violation alone (for violations made outside this package).
func FillHints(vs []Violation) []Violation { return withHints(vs, nil) }

// fieldShape reduces a field to its shape: every bracketed key or index
// becomes "[]" (mounts["/data"].source is mounts[].source).
func fieldShape(f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '[' {
			b.WriteByte(f[i])
			continue
		}
		j := i + 1
		if j < len(f) && f[j] == '"' {
			for j++; j < len(f) && f[j] != '"'; j++ {
				if f[j] == '\\' {
					j++
				}
			}
			j++
		}
		for j < len(f) && f[j] != ']' {
			j++
		}
		b.WriteString("[]")
		i = j
	}
	return b.String()
}

// fieldKey returns the first bracketed key of a field, unquoted:
// `linux.sysctl["kernel.msgmax"]` gives kernel.msgmax, `x[3]` gives 3.
func fieldKey(f string) string {
	i := strings.IndexByte(f, '[')
	if i < 0 {
		return ""
	}
	rest := f[i+1:]
	if strings.HasPrefix(rest, `"`) {
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			if s, err := strconv.Unquote(q); err == nil {
				return s
			}
		}
		return ""
	}
	if j := strings.IndexByte(rest, ']'); j >= 0 {
		return rest[:j]
	}
	return ""
}

var quotedKindRE = regexp.MustCompile(`"([a-z]+)"`)

// quotedKind returns the namespace kind of a value such as `no "mount" namespace`.
func quotedKind(value string) string {
	if m := quotedKindRE.FindStringSubmatch(value); m != nil {
		return m[1]
	}
	return value
}

func hostNamespacePodField(kind string) string {
	for _, k := range hostNamespaceKinds {
		if k.kind == kind {
			return k.podField
		}
	}
	return ""
}

// oneLine keeps a hint on one line and bounded.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	return truncate(s, 1024)
}

func (c *hintContext) containerUser() specs.User {
	if c == nil || c.container == nil {
		return specs.User{}
	}
	return c.container.User
}

// capNames turns "[CAP_SYS_ADMIN CAP_NET_ADMIN]" into "SYS_ADMIN, NET_ADMIN"
// (Kubernetes names capabilities without the prefix), at most 8.
func capNames(value string) string {
	var names []string
	for _, c := range strings.Fields(strings.Trim(value, "[]")) {
		names = append(names, strings.TrimPrefix(c, "CAP_"))
	}
	if len(names) > 8 {
		names = append(names[:8], fmt.Sprintf("and %d more", len(names)-8))
	}
	return strings.Join(names, ", ")
}

func hintCapabilities(v Violation, c *hintContext) string {
	extra := strings.Fields(strings.Trim(v.Value, "[]"))
	if c.options().Level != LevelRestricted {
		return fmt.Sprintf("remove %s from securityContext.capabilities.add (level baseline allows %s)", capNames(v.Value), capNames(fmt.Sprint(baselineCapabilities.beyond(capSet{}))))
	}
	inBaseline := true
	for _, e := range extra {
		if !baselineCapabilities[normCap(e)] {
			inBaseline = false
		}
	}
	h := "set securityContext.capabilities.drop: [ALL] and add at most NET_BIND_SERVICE (runtime class level restricted)"
	if inBaseline {
		h += `; a node admin could run the pod under a class with policy.level = "baseline"`
	}
	return h
}

// hintWritableKernelFS is the hint of a read-write /sys or cgroup mount.
func hintWritableKernelFS(v Violation, _ *hintContext) string {
	if strings.Contains(v.Reason, `"remount"`) {
		return fmt.Sprintf(`remove the "remount" entry %s (not a pod field: a raw client or an NRI plugin added it)`, truncate(v.Field, 256))
	}
	return fmt.Sprintf(`set securityContext.privileged to false (or remove it); a raw spec mounts %q read-only ("ro")`, truncate(fieldKey(v.Field), 256))
}

// hintDevices is the hint of host device nodes outside the default set.
func hintDevices(v Violation, c *hintContext) string {
	h := "remove the device (set securityContext.privileged to false; mount no device file as a hostPath volume)"
	if s := c.spec(); s != nil && s.Linux != nil {
		path := fieldKey(v.Field)
		for _, d := range s.Linux.Devices {
			if d.Path != path {
				continue
			}
			typ := d.Type
			if typ == "u" {
				typ = "c"
			}
			return fmt.Sprintf("%s; for a device a device plugin hands out, a node admin adds %q to the class's policy.allowed_devices", h, deviceID{typ, d.Major, d.Minor}.String())
		}
	}
	return h + "; for a device a device plugin hands out, a node admin adds it to the class's policy.allowed_devices"
}

// hintDeviceRule is the hint of a device cgroup rule granting host devices.
func hintDeviceRule(v Violation, c *hintContext) string {
	const h = "set securityContext.privileged to false (or remove it)"
	s := c.spec()
	i, err := strconv.Atoi(fieldKey(v.Field))
	if s == nil || s.Linux == nil || s.Linux.Resources == nil || err != nil || i < 0 || i >= len(s.Linux.Resources.Devices) {
		return h
	}
	r := s.Linux.Resources.Devices[i]
	if (r.Type != "c" && r.Type != "b") || r.Major == nil || *r.Major < 0 {
		return h + "; no class allowlist grants every device, or every device of a type"
	}
	id := deviceID{typ: r.Type, major: *r.Major, minor: -1}
	if r.Minor != nil && *r.Minor >= 0 {
		id.minor = *r.Minor
	}
	return fmt.Sprintf("%s; for a device a device plugin hands out, a node admin adds %q to the class's policy.allowed_devices", h, id.String())
}

// hintStdio is the hint of stdio the shim would act on as root.
func hintStdio(v Violation, c *hintContext) string {
	const notPod = " (not a pod field: a containerd client sent it)"
	scheme, rest, ok := strings.Cut(v.Value, "://")
	if !ok {
		scheme = ""
	}
	switch scheme {
	case "binary", "binary-v2":
		bin := rest
		if i := strings.IndexByte(bin, '?'); i >= 0 {
			bin = bin[:i]
		}
		return fmt.Sprintf("use FIFOs as CRI and ctr do%s, or a node admin adds %q to the class's policy.allowed_log_binaries", notPod, truncate(bin, 256))
	case "file":
		return fmt.Sprintf("use FIFOs as CRI and ctr do%s, or a node admin adds the directory %q to the class's policy.allowed_log_dirs", notPod, truncate(filepath.Dir(rest), 256))
	case "", "fifo":
		state := "containerd's state directory"
		if c != nil && c.stateDir != "" {
			state = fmt.Sprintf("containerd's state directory %q", c.stateDir)
		}
		return fmt.Sprintf("name a FIFO under %s or %q, as CRI and ctr do%s, or a node admin adds its directory to the class's policy.allowed_log_dirs", state, DefaultFIFODir, notPod)
	}
	return "use a FIFO path (or binary:// or file:// where the class allowlists them)" + notPod
}

// hintNamespacePath is the hint of a namespace joined by path.
func hintNamespacePath(v Violation, c *hintContext) string {
	kind := fieldKey(v.Field)
	switch {
	case strings.Contains(v.Reason, "the host's"):
		if f := hostNamespacePodField(kind); f != "" {
			return fmt.Sprintf("set %s to false (or remove it) in the pod spec; a raw spec must not join the host's %s namespace by path", f, kind)
		}
		return fmt.Sprintf("do not join the host's %s namespace by path (not a pod field: a raw client or an NRI plugin set it)", kind)
	case strings.HasPrefix(v.Reason, "cannot"):
		return "join only a namespace that exists on the node when the container is created: its pod sandbox's, while the pod runs"
	case c != nil && c.in != nil && c.in.IsSandbox():
		switch kind {
		case "network":
			return "let containerd's CRI create the pod's network namespace (a new CNI one); a pod sandbox must not join an existing one"
		case "user":
			return "let containerd's CRI pin the pod's user namespace (hostUsers: false); a pod sandbox must not join another"
		}
		return fmt.Sprintf("remove linux.namespaces[%q].path: a pod sandbox gets a new %s namespace", kind, kind)
	}
	return fmt.Sprintf("join only the namespaces of the pod sandbox the container runs in (/proc/<pause PID>/ns/%s, as containerd's CRI sends); remove any other linux.namespaces[%q].path", nsFile[kind], kind)
}

// hintHostPath is the hint of a bind mount of a host path.
func hintHostPath(v Violation, c *hintContext) string {
	src := v.Value
	if !filepath.IsAbs(src) {
		return "use an absolute mount source (the kubelet always sends one; a raw client sent a relative one)"
	}
	if within(filepath.Clean(src), "/proc") || strings.Contains(v.Reason, "under /proc") {
		return "remove the hostPath volume: nothing under /proc may be mounted"
	}
	o := c.options()
	var h Host = NodeHost{}
	if ch := c.host(); ch != nil {
		h = ch
	}
	real := resolveOrClean(h, src)
	if rel, ok := relUnder(real, filepath.Join(resolveOrClean(h, o.KubeletRoot), "pods")); ok {
		parts := strings.Split(rel, "/")
		own := c != nil && c.in != nil && c.in.OwnPodUID() != "" && parts[0] == c.in.OwnPodUID()
		switch {
		case !own:
			return "mount only this pod's own volumes: another pod's kubelet directory is never mountable (share data through a PVC or CSI volume)"
		case len(parts) >= 2 && parts[1] == "volume-subpaths":
			return "use subPath only on the pod's emptyDir, configMap, secret, projected, downwardAPI or CSI/PVC volumes, not on a hostPath volume"
		case len(parts) >= 3 && parts[1] == "volumes" && !podVolumePlugins[parts[2]]:
			return fmt.Sprintf("replace the %s volume with an emptyDir, configMap, secret, projected, downwardAPI or CSI/PVC volume", strings.TrimPrefix(parts[2], "kubernetes.io~"))
		}
		return "mount only the pod's volumes (volumes[] of an allowed type) and the files the kubelet makes for it (etc-hosts, termination log), each as the kubelet passes it"
	}
	if within(real, filepath.Join(resolveOrClean(h, o.ContainerdRoot), "io.containerd.grpc.v1.cri")) ||
		(c != nil && c.in != nil && c.in.StateDir != "" && within(real, filepath.Join(resolveOrClean(h, c.in.StateDir), "io.containerd.grpc.v1.cri"))) {
		return "mount only this pod sandbox's own containerd files (hosts, hostname, resolv.conf, shm), as containerd's CRI passes them (not a pod field: a raw client or an NRI plugin named another sandbox's)"
	}
	for _, a := range o.AllowedHostPaths {
		if a.ReadOnly && within(real, resolveOrClean(h, a.PathPrefix)) {
			return fmt.Sprintf("set readOnly: true on the volumeMount: the class allows %q read-only only", a.PathPrefix)
		}
	}
	return fmt.Sprintf("replace volumes[].hostPath %q with an emptyDir, configMap, secret or PVC volume, or a node admin adds a path_prefix covering it to the class's policy.allowed_host_paths (read_only = true if the pod only reads it)", truncate(src, 256))
}

// hintMountOptions is the hint of a mount option that changes the tree.
func hintMountOptions(v Violation, _ *hintContext) string {
	const raw = " (not a pod field: a raw client or an NRI plugin added it)"
	switch v.Value {
	case "remount", "rw":
		return `remove the "remount" entry` + raw
	case "rrw":
		return `remove "rrw" from the mount's options` + raw
	case "shared", "rshared":
		return "set volumeMounts[].mountPropagation to HostToContainer or None instead of Bidirectional"
	case "idmap", "ridmap":
		return hintIDMap
	}
	return "remove the option" + raw
}

// safeSysctlNames lists Pod Security's safe sysctls, sorted.
func safeSysctlNames() []string {
	names := make([]string, 0, len(safeSysctls))
	for k := range safeSysctls {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// hintProcessLimits is the hint of a process limit beyond the class's rule.
func hintProcessLimits(v Violation, _ *hintContext) string {
	const notPod = " (not a pod field: a raw client, an NRI plugin or the image's runtime config set it)"
	f := fieldShape(v.Field)
	switch {
	case strings.HasSuffix(f, ".rlimits[]"), strings.HasSuffix(f, ".rlimits[].type"):
		return "remove the rlimit or lower it to the node's default; containerd's CRI sends only RLIMIT_NOFILE at the node's limit" + notPod
	case strings.HasSuffix(f, ".scheduler.policy"), strings.HasSuffix(f, ".scheduler.priority"):
		return "use SCHED_OTHER, SCHED_BATCH or SCHED_IDLE with priority 0" + notPod
	case strings.HasSuffix(f, ".scheduler.nice"):
		return "use a nice value of 0 or above" + notPod
	case strings.HasSuffix(f, ".ioPriority.class"):
		return "use the best-effort or idle I/O class (IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE)" + notPod
	case strings.HasSuffix(f, ".oomScoreAdj"):
		if v.Check == ExecCheckID && strings.Contains(v.Reason, "container's") {
			return "leave the exec's oomScoreAdj unset or at the container's value (the kubelet sets it from the pod's QoS class)"
		}
		return fmt.Sprintf("leave oomScoreAdj to the kubelet (it sets %d or more from the pod's QoS class)", MinOOMScoreAdj)
	}
	return "remove the field" + notPod
}

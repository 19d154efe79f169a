//go:build linux

package shim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hardened-runtime/containerd-shim-hardened-v2/harden"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/policy"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/runtimeclass"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/sandbox"
	"github.com/hardened-runtime/containerd-shim-hardened-v2/userns"
)

// maxOwnMapping is the most IDs one mapping of a container's own user
// namespace may cover (256 of kubelet's 65536-ID ranges).
const maxOwnMapping = 1 << 24

// UsernsCheckID is the check ID of user namespace refusals.
const UsernsCheckID = policy.UsernsCheckID

// usernsState is the user namespace a container runs in.
type usernsState struct {
	ns harden.UserNamespace
	// group owns the range the container's user namespace uses (its
	// pod sandbox, or the container itself when it has no pod); zero when
	// the allocator holds none. The range is freed when the last container
	// of the group is deleted, never while one still runs in it.
	group userns.Owner
	// holds: the container is the group's owner (its failed Create frees
	// the range).
	holds bool
	// injected: the shim put the container in it (not its client), so the
	// shim idmaps its root file system and sets its stdio owner.
	injected bool
	// nsDev and nsIno identify a pod sandbox's user namespace once its
	// init process runs in it: an app container joins /proc/<pid>/ns/user
	// only while that is still it (a recycled PID names another's).
	nsDev, nsIno uint64
	// sysfs is the staging mount of the container's sysfs (see
	// harden.UserNamespace.Sysfs), "" when none; unstaged once runc has
	// created the container.
	sysfs string
}

// unstage removes the container's staging mounts: runc has mounted them in
// the container by then, or the container will not run.
func (u *usernsState) unstage() {
	if u == nil || u.sysfs == "" {
		return
	}
	unix.Unmount(u.sysfs, unix.MNT_DETACH)
	os.Remove(u.sysfs)
	os.Remove(filepath.Dir(u.sysfs))
	u.sysfs = ""
}

// hostID returns the host ID container ID id maps to, or false.
func hostID(ms []specs.LinuxIDMapping, id uint32) (uint32, bool) {
	for _, m := range ms {
		if id >= m.ContainerID && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return m.HostID + (id - m.ContainerID), true
		}
	}
	return 0, false
}

// mapsHostRoot reports whether a mapping covers host ID 0.
func mapsHostRoot(ms []specs.LinuxIDMapping) bool {
	for _, m := range ms {
		if m.HostID == 0 || (m.Size > 0 && uint64(m.HostID)+uint64(m.Size) > 1<<32) {
			return true
		}
	}
	return false
}

// hostRootViolation is the refusal of a spec's own user namespace whose UID
// or GID mappings cover host ID 0, and whether there is one.
func hostRootViolation(spec *specs.Spec) (policy.Violation, bool) {
	uids, gids := spec.Linux.UIDMappings, spec.Linux.GIDMappings
	return policy.Violation{Check: UsernsCheckID, Field: "linux.uidMappings", Value: fmt.Sprint(uids),
		Reason: "the container's user namespace maps host ID 0: container root (or another container ID) would be host root; map container IDs to an unprivileged host range"}, mapsHostRoot(uids) || mapsHostRoot(gids)
}

// idMappings are a spec's UID and GID mappings, each with its field.
func idMappings(spec *specs.Spec) []struct {
	field string
	ms    []specs.LinuxIDMapping
} {
	return []struct {
		field string
		ms    []specs.LinuxIDMapping
	}{{"linux.uidMappings", spec.Linux.UIDMappings}, {"linux.gidMappings", spec.Linux.GIDMappings}}
}

func hasUserNS(s *specs.Spec) (specs.LinuxNamespace, bool) {
	if s.Linux == nil {
		return specs.LinuxNamespace{}, false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			return ns, true
		}
	}
	return specs.LinuxNamespace{}, false
}

// userNamespace puts an allowed container in its pod's user namespace
// (class key user_namespace): a pod sandbox, or a container of no pod, gets a
// new one over a range of its own from the node-wide allocator; an app
// container joins its sandbox's. A container that brings its own (kubelet's
// hostUsers: false pods) keeps it after a check that it does not map host
// root and, for a sandbox, that its range overlaps no live pod's. The
// changes join the decision's record; a refusal turns the decision into one.
// The returned state is nil when the container runs without.
func (s *service) userNamespace(ctx context.Context, class *runtimeclass.Class, d *decision, r *taskAPI.CreateTaskRequest, spec *specs.Spec) (*usernsState, error) {
	mode := class.UsernsMode()
	if d.refused || mode == runtimeclass.UsernsOff {
		return nil, nil
	}
	audit := class.PolicyMode() != policy.ModeEnforce
	in := &policy.Input{Spec: spec, ID: r.ID}
	ns, _ := namespaces.Namespace(ctx)
	owner := userns.Owner{Key: userns.Key(ns, r.ID), Bundle: r.Bundle, Pod: in.PodUID(), Shim: os.Getpid(), ShimStart: shimStart()}
	refuse := func(field, value, reason string) (*usernsState, error) {
		d.refuseWith(ctx, class, spec, []policy.Violation{{Check: UsernsCheckID, Field: field, Value: value, Reason: reason}})
		return nil, nil
	}
	note := func(field string, from, to any) {
		d.record.Changes = append(d.record.Changes, harden.Change{Field: field, From: from, To: to})
	}

	if own, ok := hasUserNS(spec); ok {
		return s.ownUserNamespace(ctx, class, own, spec, in, owner, refuse, audit)
	}

	var st *usernsState
	if audit && in.IsAppContainer() {
		// the sandbox of an audited pod runs without one: what enforce
		// mode would do
		note(`linux.namespaces["user"]`, nil, "join the pod sandbox's")
		return nil, nil
	}
	if in.IsAppContainer() {
		// An app container joins its pod sandbox's user namespace.
		s.mu.Lock()
		sb, ok := s.containers[in.SandboxID()]
		s.mu.Unlock()
		if !ok || sb.userns == nil || sb.sandboxPID <= 0 {
			if mode == runtimeclass.UsernsRequired {
				return refuse(`linux.namespaces["user"]`, "absent",
					"the container's pod sandbox runs without a user namespace of its own (it is not served by this shim, or was created without one); user_namespace = \"required\"")
			}
			note(`linux.namespaces["user"]`, nil, "none: the pod sandbox has none")
			return nil, nil
		}
		if dev, ino, err := nsOf(sb.sandboxPID); err != nil || dev != sb.userns.nsDev || ino != sb.userns.nsIno {
			return refuse(`linux.namespaces["user"]`, "absent",
				fmt.Sprintf("the pod sandbox's user namespace is gone (its process %d no longer runs in it)", sb.sandboxPID))
		}
		st = &usernsState{ns: sb.userns.ns, injected: sb.userns.injected, group: sb.userns.group}
		if !st.injected {
			// kubelet's pod: its containers come with their own (above)
			return refuse(`linux.namespaces["user"]`, "absent",
				"the container's pod sandbox runs in a user namespace of its client's; the container must join it")
		}
		st.ns.Path = fmt.Sprintf("/proc/%d/ns/user", sb.sandboxPID)
	} else {
		if err := usernsSupport(class); err != nil {
			if mode == runtimeclass.UsernsRequired {
				v := unsupportedUserns(err)
				return refuse(v.Field, v.Value, v.Reason)
			}
			note(`linux.namespaces["user"]`, nil, fmt.Sprintf("none: not supported on this node (%v)", err))
			return nil, nil
		}
		if audit {
			note(`linux.namespaces["user"]`, nil, "new, with a range of 65536 IDs of its own")
			return nil, nil
		}
		a, err := class.Allocator()
		if err != nil {
			return nil, err
		}
		rng, err := a.Allocate(owner)
		if errors.Is(err, userns.ErrExhausted) {
			return refuse(`linux.namespaces["user"]`, "absent", err.Error())
		} else if err != nil {
			return nil, err
		}
		m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: rng.Base, Size: rng.Size}}
		st = &usernsState{ns: harden.UserNamespace{UIDMappings: m, GIDMappings: m}, group: owner, holds: true, injected: true}
		log.G(ctx).WithField("range", rng.String()).Debug("user namespace range allocated")
	}
	if audit {
		note(`linux.namespaces["user"]`, nil, orJoin(st.ns.Path))
		return nil, nil
	}
	// Every bind mount but the pod's own storage is idmapped: a read-only
	// one whose file system cannot be is mounted as it is (nothing can be
	// written through it); a writable one is refused, naming it, before
	// anything runs.
	private := privateMounts(d, spec)
	unmappable := map[string]bool{}
	// mounts are named by destination: a destination two mounts share is
	// never left unmapped (one of them may need the mapping)
	shared := sharedDestinations(spec)
	if a, err := class.Allocator(); err == nil {
		for _, m := range spec.Mounts {
			if !harden.IsBindMount(m) || m.UIDMappings != nil || private[m.Destination] != "" {
				continue
			}
			err := sandbox.IDMappable(m.Source, a.Dir)
			switch {
			case err == nil || errors.Is(err, os.ErrNotExist):
			case policy.ReadOnlyMount(m) && !shared[m.Destination]:
				unmappable[m.Destination] = true
			default:
				s.releaseUserns(ctx, class, st)
				src := sourceAsSent(d, m)
				return refuse(fmt.Sprintf("mounts[%q].source", m.Destination), src,
					fmt.Sprintf("mount %q from %q is writable and its file system cannot be idmapped into the pod's user namespace (%v)", m.Destination, src, err))
			}
		}
	}
	netns := ""
	for _, n := range spec.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			netns = n.Path
		}
	}
	u := st.ns
	u.Unmappable = unmappable
	var err error
	if u.Private, err = givePrivateMounts(private, u, &d.record.Changes); err != nil {
		s.releaseUserns(ctx, class, st)
		return nil, err
	}
	// runsc's /sys is the sandbox kernel's own: it mounts no host sysfs
	if netns != "" && hasSysfs(spec) && class.Runtime != runtimeclass.BackendRunsc {
		dir := filepath.Join(r.Bundle, harden.PinnedDir)
		target := filepath.Join(dir, "sysfs")
		err := os.MkdirAll(dir, 0o700)
		if err == nil {
			err = os.Mkdir(target, 0o700)
		}
		if err == nil {
			if err = sandbox.MountSysfs(netns, target); err != nil {
				os.Remove(target)
			}
		}
		if err != nil {
			s.releaseUserns(ctx, class, st)
			return nil, err
		}
		st.sysfs, u.Sysfs = target, target
	}
	changes, netSysctls := harden.ApplyUserNamespace(spec, u)
	d.record.Changes = append(d.record.Changes, changes...)
	if len(netSysctls) > 0 {
		if err := sandbox.ApplyNetSysctls(netns, netSysctls); err != nil {
			st.unstage()
			s.releaseUserns(ctx, class, st)
			return nil, err
		}
	}
	return st, nil
}

// usernsStartCheck refuses at Start, before any process of the container
// exists, a pod sandbox (or a container of no pod) that would get a user
// namespace of its own on a node that cannot give it one, under
// user_namespace = "required".
func usernsStartCheck(class *runtimeclass.Class, spec *specs.Spec) []policy.Violation {
	if class.UsernsMode() != runtimeclass.UsernsRequired || class.PolicyMode() != policy.ModeEnforce {
		return nil
	}
	in := &policy.Input{Spec: spec}
	if _, own := hasUserNS(spec); own || in.IsAppContainer() {
		return nil
	}
	if err := usernsSupport(class); err != nil {
		return []policy.Violation{unsupportedUserns(err)}
	}
	return nil
}

func unsupportedUserns(err error) policy.Violation {
	return policy.Violation{Check: UsernsCheckID, Field: `linux.namespaces["user"]`, Value: "absent",
		Reason: fmt.Sprintf("this node cannot run the container in a user namespace of its own: %v; user_namespace = \"required\" (a node admin may set \"if-supported\")", err)}
}

// usernsSupport reports whether the node can run the class's containers in
// user namespaces of their own (nil) or why not.
func usernsSupport(class *runtimeclass.Class) error {
	a, err := class.Allocator()
	if err != nil {
		return err
	}
	return sandbox.UserNamespaces(class, class.PolicyOptions().ContainerdRoot, a.Dir)
}

// privateMounts returns the resolved sources of the pod's own writable
// storage the checks found (policy.PodPrivateMounts: emptyDirs, the
// termination log, /dev/shm), by destination.
func privateMounts(d *decision, spec *specs.Spec) map[string]string {
	out := map[string]string{}
	if d.in == nil {
		return out
	}
	shared := sharedDestinations(spec)
	for _, pm := range policy.PodPrivateMounts(d.in) {
		// by destination, so only where one mount has it (a second mount
		// there is judged, and idmapped, on its own)
		if pm.Real != "" && !shared[pm.Destination] &&
			slices.ContainsFunc(spec.Mounts, func(m specs.Mount) bool { return m.Destination == pm.Destination && m.Source == pm.Source }) {
			out[pm.Destination] = pm.Real
		}
	}
	return out
}

// sharedDestinations returns the destinations more than one mount has.
func sharedDestinations(spec *specs.Spec) map[string]bool {
	seen, shared := map[string]bool{}, map[string]bool{}
	for _, m := range spec.Mounts {
		shared[m.Destination] = seen[m.Destination]
		seen[m.Destination] = true
	}
	return shared
}

// givePrivateMounts gives the pod's own writable storage to the pod's IDs:
// the top directory or file, when it is owned by container-range IDs (below
// 65536: kubelet's root, an fsGroup), is shifted to the IDs they map to.
// Its contents are the pod's: what a container of the pod writes there is
// already owned by the pod's mapped IDs. It returns the destinations given,
// which are then not idmapped.
func givePrivateMounts(private map[string]string, u harden.UserNamespace, changes *[]harden.Change) (map[string]bool, error) {
	given := map[string]bool{}
	dests := slices.Sorted(maps.Keys(private))
	for _, dest := range dests {
		real := private[dest]
		var uid, gid uint32
		from, err := chownNoFollow(real, func(st *unix.Stat_t) (int, int, bool) {
			var uok, gok bool
			uid, uok = hostID(u.UIDMappings, st.Uid)
			gid, gok = hostID(u.GIDMappings, st.Gid)
			return int(uid), int(gid), st.Uid < userns.Size && st.Gid < userns.Size && uok && gok
		})
		if err != nil {
			return nil, fmt.Errorf("mount %q: giving it to the pod's user namespace: %w", dest, err)
		}
		if from != "" {
			*changes = append(*changes, harden.Change{Field: fmt.Sprintf("mounts[%q].source owner", dest),
				From: from, To: fmt.Sprintf("%d:%d (the pod's own storage: not idmapped)", uid, gid)})
		}
		given[dest] = true
	}
	return given, nil
}

// sourceAsSent is a mount's source as the request named it (before the shim
// pinned it).
func sourceAsSent(d *decision, m specs.Mount) string {
	field := fmt.Sprintf("mounts[%q].source", m.Destination)
	for _, c := range d.record.Changes {
		if from, ok := c.From.(string); ok && c.Field == field && c.To == m.Source {
			return from
		}
	}
	return m.Source
}

var shimStartOnce = sync.OnceValue(func() uint64 { return userns.ProcessStart(os.Getpid()) })

// shimStart is this shim process's start time (the allocator's liveness
// check of the pods it serves).
func shimStart() uint64 { return shimStartOnce() }

// nsOf returns the device and inode of a process's user namespace.
func nsOf(pid int) (uint64, uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/user", pid), &st); err != nil {
		return 0, 0, err
	}
	return st.Dev, st.Ino, nil
}

// noteSandbox records the user namespace a pod sandbox's init process runs
// in, once runc has created it.
func (u *usernsState) noteSandbox(pid int) error {
	if u == nil {
		return nil
	}
	dev, ino, err := nsOf(pid)
	if err != nil {
		return fmt.Errorf("the pod sandbox's user namespace: %w", err)
	}
	u.nsDev, u.nsIno = dev, ino
	return nil
}

func hasSysfs(s *specs.Spec) bool {
	for _, m := range s.Mounts {
		if m.Type == "sysfs" {
			return true
		}
	}
	return false
}

// ownUserNamespace judges a user namespace the container brings (kubelet's
// hostUsers: false pods, or a raw spec): it must come with its mappings
// (runc takes a joined namespace's own otherwise, whatever they map), leave
// out host ID 0, and, for a pod sandbox or a container of no pod, stay out
// of the shim's window and overlap no live pod's IDs (recorded until the
// pod is gone); an app container must join its pod sandbox's, with the
// same mappings.
func (s *service) ownUserNamespace(ctx context.Context, class *runtimeclass.Class, own specs.LinuxNamespace, spec *specs.Spec, in *policy.Input, owner userns.Owner,
	refuse func(field, value, reason string) (*usernsState, error), audit bool) (*usernsState, error) {
	uids, gids := spec.Linux.UIDMappings, spec.Linux.GIDMappings
	if len(uids) == 0 || len(gids) == 0 {
		return refuse("linux.uidMappings", "absent",
			"the container's user namespace comes without its UID or GID mappings (runc would take those of the namespace it joins, whatever they map); send them with it, as containerd's CRI does")
	}
	if v, maps := hostRootViolation(spec); maps {
		return refuse(v.Field, v.Value, v.Reason)
	}
	ns := harden.UserNamespace{UIDMappings: uids, GIDMappings: gids, Path: own.Path}
	if in.IsAppContainer() {
		if own.Path == "" {
			return refuse(`linux.namespaces["user"].path`, "",
				"an app container of a pod must join its pod sandbox's user namespace, not make one of its own")
		}
		s.mu.Lock()
		sb, ok := s.containers[in.SandboxID()]
		s.mu.Unlock()
		if ok && sb.userns != nil && (!slices.Equal(sb.userns.ns.UIDMappings, uids) || !slices.Equal(sb.userns.ns.GIDMappings, gids)) {
			return refuse("linux.uidMappings", fmt.Sprint(uids), fmt.Sprintf("the container's mappings differ from its pod sandbox's (%v)", sb.userns.ns.UIDMappings))
		}
		if audit {
			return nil, nil
		}
		st := &usernsState{ns: ns}
		if ok && sb.userns != nil {
			st.group = sb.userns.group
		}
		return st, nil
	}
	a, err := class.Allocator()
	if err != nil {
		return nil, err
	}
	// kubelet draws hostUsers: false ranges at random from 65536 up to 2^32
	// (unless its user has subordinate IDs): they may fall in this class's
	// window, where they are recorded and allocation steers clear of them.
	// A pod's mapping may not be larger than maxOwnMapping IDs: it would
	// hold ranges other pods need.
	for _, f := range idMappings(spec) {
		for _, m := range f.ms {
			if m.Size > maxOwnMapping {
				return refuse(f.field, fmt.Sprint(f.ms), fmt.Sprintf("maps %d IDs; a pod's user namespace may map at most %d (kubelet maps 65536)", m.Size, maxOwnMapping))
			}
		}
	}
	if audit {
		return nil, nil
	}
	// UIDs and GIDs alike: a pod sharing another's group IDs shares its
	// group-accessible files.
	for _, f := range idMappings(spec) {
		for _, m := range f.ms {
			if err := a.Record(owner, userns.Range{Base: m.HostID, Size: m.Size}); err != nil {
				if rerr := a.Release(owner); rerr != nil {
					log.G(ctx).WithError(rerr).Error("releasing a refused pod's user namespace IDs")
				}
				return refuse(f.field, fmt.Sprint(f.ms), err.Error())
			}
		}
	}
	return &usernsState{ns: ns, group: owner, holds: true}, nil
}

func orJoin(path string) string {
	if path == "" {
		return "new"
	}
	return "join " + path
}

// releaseDeleted frees the range of a deleted container's group once no
// container of the group is left.
func (s *service) releaseDeleted(ctx context.Context, class *runtimeclass.Class, st *usernsState) {
	if st == nil || st.group.Key == "" {
		return
	}
	s.mu.Lock()
	for _, c := range s.containers {
		if c.userns != nil && c.userns.group == st.group {
			s.mu.Unlock()
			return
		}
	}
	s.mu.Unlock()
	s.releaseUserns(ctx, class, &usernsState{group: st.group, holds: true})
}

// releaseUserns frees the range a container held.
func (s *service) releaseUserns(ctx context.Context, class *runtimeclass.Class, st *usernsState) {
	if st == nil || !st.holds || st.group.Key == "" {
		return
	}
	a, err := class.Allocator()
	if err == nil {
		err = a.Release(st.group)
	}
	if err != nil {
		log.G(ctx).WithError(err).WithField("pod", st.group.Key).Error("releasing the user namespace range")
	}
}

// idmapRootfs makes containerd's mount code idmap the root file system's
// overlay lower layers (or bind source) with the container's mapping, so
// that image files owned by root are root's inside; copy-ups land on the
// host as the mapped IDs. A client's own uidmap=/gidmap= options are
// replaced.
func idmapRootfs(r *taskAPI.CreateTaskRequest, u harden.UserNamespace) {
	uid, gid := harden.IDMapping(u.UIDMappings), harden.IDMapping(u.GIDMappings)
	for _, m := range r.Rootfs {
		if m.GetType() != "overlay" && m.GetType() != "bind" && !strings.Contains(","+strings.Join(m.GetOptions(), ",")+",", ",bind,") {
			continue
		}
		var opts []string
		for _, o := range m.Options {
			if !strings.HasPrefix(o, "uidmap=") && !strings.HasPrefix(o, "gidmap=") {
				opts = append(opts, o)
			}
		}
		m.Options = append(opts, "uidmap="+uid, "gidmap="+gid)
	}
}

// prepareBundle lets the container's root reach its bundle and write its
// root file system, as containerd does for the user namespaces its clients
// ask for: the bundle directory is group-owned by the mapped root GID with
// mode 0710 (runc resolves the rootfs path as that user), and an overlay's
// upper directory owned by host root (a new snapshot of an image made
// without ID mapping labels) is given to the mapped root, so that the
// container's root (and, with [rootfs] read_only = false, its writes) land
// as mapped IDs. Only the directories themselves change, never their
// contents.
func prepareBundle(r *taskAPI.CreateTaskRequest, u harden.UserNamespace, containerdRoot string) ([]harden.Change, error) {
	uid, ok1 := hostID(u.UIDMappings, 0)
	gid, ok2 := hostID(u.GIDMappings, 0)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("the user namespace maps no container root: %v %v", u.UIDMappings, u.GIDMappings)
	}
	if err := os.Chown(r.Bundle, -1, int(gid)); err != nil {
		return nil, fmt.Errorf("bundle for the user namespace: %w", err)
	}
	if err := os.Chmod(r.Bundle, 0o710); err != nil {
		return nil, fmt.Errorf("bundle for the user namespace: %w", err)
	}
	var changes []harden.Change
	for i, m := range r.Rootfs {
		if m.GetType() != "overlay" {
			continue
		}
		upper, work := "", ""
		for _, o := range m.GetOptions() {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				upper = v
			} else if v, ok := strings.CutPrefix(o, "workdir="); ok {
				work = v
			}
		}
		// Only a snapshot's own upper directory, <snapshotter>/snapshots/<n>/fs
		// beside its work directory <n>/work, as the snapshotter made it.
		if upper == "" || !ownUpperDir(upper, work, containerdRoot) {
			continue
		}
		from, err := chownNoFollow(upper, func(st *unix.Stat_t) (int, int, bool) {
			return int(uid), int(gid), st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Uid == 0 && st.Gid == 0
		})
		if err != nil {
			return nil, fmt.Errorf("root file system upper directory: %w", err)
		}
		if from != "" {
			changes = append(changes, harden.Change{Field: fmt.Sprintf("rootfs[%d] upper directory owner", i), From: from, To: fmt.Sprintf("%d:%d", uid, gid)})
		}
	}
	return changes, nil
}

// ownUpperDir reports whether upper is <containerd root>/io.containerd.
// snapshotter.v1.<name>/snapshots/<n>/fs and work <n>/work beside it.
func ownUpperDir(upper, work, containerdRoot string) bool {
	if filepath.Clean(upper) != upper || filepath.Base(upper) != "fs" || filepath.Clean(work) != work || work != filepath.Join(filepath.Dir(upper), "work") {
		return false
	}
	snapshots := filepath.Dir(filepath.Dir(upper))
	snapshotter := filepath.Dir(snapshots)
	return filepath.Base(snapshots) == "snapshots" && filepath.Dir(snapshotter) == filepath.Clean(containerdRoot) &&
		strings.HasPrefix(filepath.Base(snapshotter), "io.containerd.snapshotter.v1.")
}

// chownNoFollow opens path without following any symlink on the way
// (openat2 RESOLVE_NO_SYMLINKS: the object is the path as written) and,
// when decide says so, changes its owner. It returns the old owner
// ("uid:gid") when it changed it.
func chownNoFollow(path string, decide func(*unix.Stat_t) (uid, gid int, ok bool)) (string, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	uid, gid, ok := decide(&st)
	if !ok {
		return "", nil
	}
	if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid), nil
}

// usernsRuncOptions sets the stdio owner to the host IDs of the container's
// user (containerd's CRI does the same for the user namespaces it creates):
// the container's process must be able to use the pipes the shim makes.
func usernsRuncOptions(opts *anypb.Any, u harden.UserNamespace, p *specs.Process) (*anypb.Any, error) {
	var ro runcoptions.Options
	if err := opts.UnmarshalTo(&ro); err != nil {
		return nil, err
	}
	var uid, gid uint32
	if p != nil {
		uid, gid = p.User.UID, p.User.GID
	}
	if h, ok := hostID(u.UIDMappings, uid); ok {
		ro.IoUid = h
	}
	if h, ok := hostID(u.GIDMappings, gid); ok {
		ro.IoGid = h
	}
	return anypb.New(&ro)
}

// previewUserns adds to a `check` decision what Create would do about the
// container's user namespace, without allocating: the changes, with the
// range described rather than drawn. Offline, the node's support is not
// probed (the check reports it unverified).
func previewUserns(ctx context.Context, class *runtimeclass.Class, d *decision, spec *specs.Spec, offline bool) []string {
	if d.refused || class.UsernsMode() == runtimeclass.UsernsOff {
		return nil
	}
	in := &policy.Input{Spec: spec}
	refuse := func(v policy.Violation) { d.refuseWith(ctx, class, spec, []policy.Violation{v}) }
	if _, ok := hasUserNS(spec); ok {
		if v, maps := hostRootViolation(spec); maps {
			refuse(v)
		}
		return nil
	}
	var notes []string
	u := harden.UserNamespace{}
	var desc string
	if in.IsAppContainer() {
		u.Path = "/proc/<pod sandbox pid>/ns/user"
		desc = "the pod sandbox's"
	} else {
		if offline {
			notes = append(notes, "user namespace support (runc idmapped mounts, kernel idmapped mounts on containerd's file system) is the node's: not probed offline")
		} else if err := usernsSupport(class); err != nil {
			if class.UsernsMode() == runtimeclass.UsernsRequired {
				refuse(unsupportedUserns(err))
				return nil
			}
			d.record.Changes = append(d.record.Changes, harden.Change{Field: `linux.namespaces["user"]`, To: fmt.Sprintf("none: not supported on this node (%v)", err)})
			return nil
		}
		a, err := class.Allocator()
		if err != nil {
			return nil
		}
		last := uint64(a.FirstID) + uint64(a.Ranges)*uint64(userns.Size) - 1
		desc = fmt.Sprintf("container IDs 0-%d → a free range of %d host IDs in %d-%d, drawn at Create", userns.Size-1, userns.Size, a.FirstID, last)
	}
	probe := *spec
	if err := roundTrip(spec, &probe); err != nil {
		return notes
	}
	// as Create does: the pod's own storage is given to its IDs, a sysfs of
	// a joined network namespace is the shim's
	private := privateMounts(d, spec)
	u.Private = map[string]bool{}
	for _, dest := range slices.Sorted(maps.Keys(private)) {
		u.Private[dest] = true
		d.record.Changes = append(d.record.Changes, harden.Change{Field: fmt.Sprintf("mounts[%q].source owner", dest),
			To: "the pod's mapped IDs, when owned by container-range IDs (the pod's own storage: not idmapped)"})
	}
	if hasSysfs(spec) && slices.ContainsFunc(spec.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace && n.Path != "" }) {
		u.Sysfs = "<bundle>/pinned/sysfs"
	}
	changes, _ := harden.ApplyUserNamespace(&probe, u)
	for i, c := range changes {
		if c.Field == "linux.uidMappings" || c.Field == "linux.gidMappings" {
			changes[i].To = desc
		}
	}
	d.record.Changes = append(d.record.Changes, changes...)
	return notes
}

package policy

import (
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func TestEvaluateRootfs(t *testing.T) {
	const root = "/var/lib/containerd"
	snap := root + "/io.containerd.snapshotter.v1.overlayfs/snapshots"
	for _, tc := range []struct {
		name   string
		mounts []RootfsMount
		reason string // "" for allowed
	}{
		{"none (ctr --rootfs, root.path judged elsewhere)", nil, ""},
		{"overlay of snapshots", []RootfsMount{{Type: "overlay", Source: "overlay", Options: []string{
			"index=off", "workdir=" + snap + "/3/work", "upperdir=" + snap + "/3/fs", "lowerdir=" + snap + "/2/fs:" + snap + "/1/fs"}}}, ""},
		{"overlay with idmap options", []RootfsMount{{Type: "overlay", Source: "overlay", Options: []string{
			"lowerdir=" + snap + "/1/fs", "uidmap=0:100000:65536", "gidmap=0:100000:65536"}}}, ""},
		{"bind of a single layer", []RootfsMount{{Type: "bind", Source: snap + "/1/fs", Options: []string{"ro", "rbind"}}}, ""},
		{"the node's /", []RootfsMount{{Type: "bind", Source: "/", Options: []string{"rbind", "ro"}}}, `host path "/"`},
		{"a host directory at a target", []RootfsMount{
			{Type: "bind", Source: snap + "/1/fs", Options: []string{"rbind"}},
			{Type: "bind", Source: "/tmp/x", Target: "home", Options: []string{"rbind", "rw"}}}, `targets "home"`},
		{"procfs", []RootfsMount{{Type: "proc", Source: "proc"}}, `"proc" mount`},
		{"overlay with a host lower dir", []RootfsMount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + snap + "/1/fs:/etc"}}}, `host path "/etc"`},
		{"overlay with .. out of the snapshots", []RootfsMount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + snap + "/../../../../etc"}}}, `".." component`},
		// snap/fs/link/.. is not snap/fs: the kernel follows link first
		{"upper dir through a symlink and ..", []RootfsMount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + snap + "/fs", "upperdir=" + snap + "/fs/link/..", "workdir=" + snap + "/work"}}}, `".." component`},
		{"containerd's root itself", []RootfsMount{{Type: "bind", Source: root, Options: []string{"rbind"}}}, "not from a snapshot"},
		{"another part of containerd's root", []RootfsMount{{Type: "bind", Source: root + "/io.containerd.content.v1.content/blobs", Options: []string{"rbind"}}}, "not from a snapshotter"},
		{"overlay with an unknown path option", []RootfsMount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + snap + "/1/fs", "redirect_dir=/etc"}}}, "redirect_dir"},
		{"symlink in a snapshot to /", []RootfsMount{{Type: "bind", Source: snap + "/9/fs/link", Options: []string{"rbind"}}}, `host path "/"`},
		// snapshot 7 is a running container's (its overlay is mounted)
		{"another container's upper directory", []RootfsMount{{Type: "overlay", Source: "overlay", Options: []string{
			"workdir=" + snap + "/7/work", "upperdir=" + snap + "/7/fs", "lowerdir=" + snap + "/1/fs"}}}, "the writable layer of the root file system mounted at"},
		{"another container's upper directory as a lower layer", []RootfsMount{{Type: "overlay", Source: "overlay", Options: []string{
			"workdir=" + snap + "/3/work", "upperdir=" + snap + "/3/fs", "lowerdir=" + snap + "/7/fs:" + snap + "/1/fs"}}}, `reads "` + snap + `/7/fs"`},
		{"a bind of another container's upper directory", []RootfsMount{{Type: "bind", Source: snap + "/7/fs", Options: []string{"rbind"}}}, "the writable layer"},
		{"a lower layer of another container as the upper directory", []RootfsMount{{Type: "overlay", Source: "overlay", Options: []string{
			"workdir=" + snap + "/3/work", "upperdir=" + snap + "/6/fs", "lowerdir=" + snap + "/2/fs"}}}, "a layer of the root file system mounted at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost()
			h.links[snap+"/9/fs/link"] = "/"
			h.mounts = append(h.mounts, &mountinfo.Info{Mountpoint: "/run/containerd/io.containerd.runtime.v2.task/k8s.io/running/rootfs", FSType: "overlay",
				VFSOptions: "rw,lowerdir=" + snap + "/6/fs:" + snap + "/1/fs,upperdir=" + snap + "/7/fs,workdir=" + snap + "/7/work"})
			vs := EvaluateRootfs(tc.mounts, root, h)
			if tc.reason == "" {
				if len(vs) != 0 {
					t.Fatalf("violations %v", vs)
				}
				return
			}
			if len(vs) == 0 || vs[0].Check != "hostPathVolumes" || !strings.Contains(vs[0].Reason, tc.reason) || !strings.HasPrefix(vs[0].Field, "rootfs[") {
				t.Fatalf("violations %v, want one with %q", vs, tc.reason)
			}
		})
	}
}

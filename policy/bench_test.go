package policy

import "testing"

// BenchmarkEvaluateTypicalPod evaluates a typical CRI app container: the
// default spec with a service-account token, an emptyDir, a configMap,
// etc-hosts, the termination log and containerd's sandbox files.
func BenchmarkEvaluateTypicalPod(b *testing.B) {
	h := newFakeHost()
	s := criContainer(b, h)
	vol := func(p, n string) string { return podDir(testPodUID) + "/volumes/" + p + "/" + n }
	token := vol("kubernetes.io~projected", "kube-api-access-x")
	h.fsType[token] = TmpfsMagic
	sb := DefaultContainerdRoot + "/io.containerd.grpc.v1.cri/sandboxes/" + testSandboxID
	s.Mounts = append(s.Mounts,
		bindMount("/var/run/secrets/kubernetes.io/serviceaccount", token, "ro"),
		bindMount("/cache", vol("kubernetes.io~empty-dir", "cache")),
		bindMount("/etc/app", vol("kubernetes.io~configmap", "cfg"), "ro"),
		bindMount("/etc/hosts", podDir(testPodUID)+"/etc-hosts"),
		bindMount("/dev/termination-log", podDir(testPodUID)+"/containers/app/0a1b2c3d"),
		bindMount("/etc/hostname", sb+"/hostname"),
		bindMount("/etc/resolv.conf", sb+"/resolv.conf"),
		bindMount("/dev/shm", testState+"/io.containerd.grpc.v1.cri/sandboxes/"+testSandboxID+"/shm"),
	)
	opts := DefaultOptions()
	if vs := evaluate(s, h, opts); len(vs) != 0 {
		b.Fatalf("typical pod refused: %v", vs)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = Evaluate(&Input{Spec: s, ID: "c1", StateDir: testState, SandboxPID: testSandboxPID, SandboxUID: testPodUID, Options: opts, Host: h})
	}
}

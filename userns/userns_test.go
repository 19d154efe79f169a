package userns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func newTest(t *testing.T, ranges uint32) (*Allocator, string) {
	t.Helper()
	dir := t.TempDir()
	a, err := New(filepath.Join(dir, "state"), DefaultFirstID, ranges)
	if err != nil {
		t.Fatal(err)
	}
	return a, dir
}

func bundle(t *testing.T, dir, id string) string {
	t.Helper()
	p := filepath.Join(dir, "bundles", id)
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewRejectsBadWindows(t *testing.T) {
	for _, tc := range []struct {
		dir           string
		first, ranges uint32
	}{
		{"relative", DefaultFirstID, 1},
		{"/x", 1000, 1},               // host root and system IDs
		{"/x", 4294901760 - Size, 10}, // past 2^32
		{"/x", DefaultFirstID, 0},
	} {
		if _, err := New(tc.dir, tc.first, tc.ranges); err == nil {
			t.Errorf("New(%q, %d, %d) accepted", tc.dir, tc.first, tc.ranges)
		}
	}
	a, err := New("", 0, 0)
	if err != nil || a.Dir != DefaultDir || a.FirstID != DefaultFirstID || a.Ranges != DefaultRanges {
		t.Fatalf("defaults: %+v %v", a, err)
	}
}

func TestConcurrentAllocationsAreDisjoint(t *testing.T) {
	a, dir := newTest(t, 64)
	const n = 48
	ranges := make([]Range, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// a separate allocator per goroutine: its own lock file
			// descriptor, as separate shim processes have
			b := *a
			r, err := b.Allocate(Owner{Key: Key("k8s.io", fmt.Sprint("pod", i)), Bundle: bundle(t, dir, fmt.Sprint(i))})
			if err != nil {
				errs <- err
				return
			}
			ranges[i] = r
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range ranges {
		if ranges[i].Size != Size || ranges[i].Base < DefaultFirstID {
			t.Fatalf("range %d: %v", i, ranges[i])
		}
		for j := i + 1; j < n; j++ {
			if ranges[i].Overlaps(ranges[j]) {
				t.Fatalf("ranges %d and %d overlap: %v %v", i, j, ranges[i], ranges[j])
			}
		}
	}
	es, err := a.Entries()
	if err != nil || len(es) != n {
		t.Fatalf("entries %d %v", len(es), err)
	}
}

func TestAllocateIsIdempotentAndReleases(t *testing.T) {
	a, dir := newTest(t, 4)
	o := Owner{Key: Key("k8s.io", "a"), Bundle: bundle(t, dir, "a")}
	r1, err := a.Allocate(o)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := a.Allocate(o)
	if err != nil || r2 != r1 {
		t.Fatalf("second allocation %v %v, want %v", r2, err, r1)
	}
	if err := a.Release(o); err != nil {
		t.Fatal(err)
	}
	if es, _ := a.Entries(); len(es) != 0 {
		t.Fatalf("entries after release: %v", es)
	}
	// ReleaseBundle: what `shim delete` knows
	if _, err := a.Allocate(o); err != nil {
		t.Fatal(err)
	}
	if err := a.ReleaseBundle(o.Bundle + "/"); err != nil {
		t.Fatal(err)
	}
	if es, _ := a.Entries(); len(es) != 0 {
		t.Fatalf("entries after ReleaseBundle: %v", es)
	}
}

func TestExhaustionAndReconcile(t *testing.T) {
	a, dir := newTest(t, 2)
	var bundles []string
	for i := 0; i < 2; i++ {
		b := bundle(t, dir, fmt.Sprint(i))
		bundles = append(bundles, b)
		if _, err := a.Allocate(Owner{Key: Key("ns", fmt.Sprint(i)), Bundle: b}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := a.Allocate(Owner{Key: Key("ns", "third"), Bundle: bundle(t, dir, "third")})
	if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "[userns] ranges") {
		t.Fatalf("third allocation: %v, want ErrExhausted naming the key to raise", err)
	}
	// A pod is gone (its shim was killed and nobody released it): its
	// range is reconciled on the next allocation.
	os.RemoveAll(bundles[0])
	r, err := a.Allocate(Owner{Key: Key("ns", "third"), Bundle: bundle(t, dir, "third")})
	if err != nil || r.Base != DefaultFirstID {
		t.Fatalf("after reconcile: %v %v", r, err)
	}
}

func TestRecordKubeletRange(t *testing.T) {
	a, dir := newTest(t, 4)
	ours, err := a.Allocate(Owner{Key: Key("k8s.io", "ours"), Bundle: bundle(t, dir, "ours")})
	if err != nil {
		t.Fatal(err)
	}
	kub := Owner{Key: Key("k8s.io", "kubelet-pod"), Bundle: bundle(t, dir, "kubelet-pod")}
	if err := a.Record(kub, Range{Base: 65536, Size: Size}); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(kub, Range{Base: 65536, Size: Size}); err != nil {
		t.Fatalf("recording again: %v", err)
	}
	if err := a.Record(Owner{Key: Key("k8s.io", "clash"), Bundle: bundle(t, dir, "clash")}, Range{Base: ours.Base + 10, Size: Size}); err == nil {
		t.Fatal("a range overlapping a live pod's was recorded")
	}
	// A kubelet range inside our window is skipped by later allocations.
	if err := a.Record(Owner{Key: Key("k8s.io", "k2"), Bundle: bundle(t, dir, "k2")}, Range{Base: ours.Base + Size, Size: Size}); err != nil {
		t.Fatal(err)
	}
	r, err := a.Allocate(Owner{Key: Key("k8s.io", "next"), Bundle: bundle(t, dir, "next")})
	if err != nil || r.Base != ours.Base+2*Size {
		t.Fatalf("next %v %v", r, err)
	}
}

func TestCorruptStateIsAnError(t *testing.T) {
	a, _ := newTest(t, 2)
	os.MkdirAll(a.Dir, 0o700)
	os.WriteFile(filepath.Join(a.Dir, "ranges.json"), []byte("{"), 0o600)
	if _, err := a.Allocate(Owner{Key: "x/y", Bundle: "/"}); err == nil {
		t.Fatal("corrupt state accepted")
	}
}

func TestPodGetsItsLastRangeBack(t *testing.T) {
	a, dir := newTest(t, 8)
	sb1 := Owner{Key: "k8s.io/sb1", Bundle: bundle(t, dir, "sb1"), Pod: "pod-a"}
	first, err := a.Allocate(sb1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Allocate(Owner{Key: "k8s.io/sb2", Bundle: bundle(t, dir, "sb2"), Pod: "pod-b"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(sb1); err != nil {
		t.Fatal(err)
	}
	sb3 := Owner{Key: "k8s.io/sb3", Bundle: bundle(t, dir, "sb3"), Pod: "pod-a"}
	again, err := a.Allocate(sb3)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("pod-a's new sandbox got %v, want its last range %v", again, first)
	}
	// a new pod avoids a released pod's last range while others are free
	if err := a.Release(sb3); err != nil {
		t.Fatal(err)
	}
	other, err := a.Allocate(Owner{Key: "k8s.io/sb4", Bundle: bundle(t, dir, "sb4"), Pod: "pod-c"})
	if err != nil || other == first {
		t.Fatalf("pod-c got %v (%v), want a range other than pod-a's last %v", other, err, first)
	}
	// ... and takes it when nothing else is free
	var last Range
	for i := 0; i < 6; i++ { // 8 ranges: pod-b, pod-c and these six
		if last, err = a.Allocate(Owner{Key: fmt.Sprintf("k8s.io/f%d", i), Bundle: bundle(t, dir, fmt.Sprintf("f%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if last != first {
		t.Fatalf("the last free range %v was not pod-a's old %v", last, first)
	}
	if _, err := a.Allocate(Owner{Key: "k8s.io/sb5", Bundle: bundle(t, dir, "sb5"), Pod: "pod-a"}); !errors.Is(err, ErrExhausted) {
		t.Fatalf("allocation in a full window: %v", err)
	}
}

func TestRangeInUseWhileAContainerOfThePodRuns(t *testing.T) {
	a, dir := newTest(t, 4)
	// the shim serving the pod: this test process
	sb := Owner{Key: "k8s.io/sb", Bundle: bundle(t, dir, "sb"), Pod: "p", Shim: os.Getpid(), ShimStart: ProcessStart(os.Getpid())}
	if sb.ShimStart == 0 {
		t.Fatal("no start time of this process")
	}
	r, err := a.Allocate(sb)
	if err != nil {
		t.Fatal(err)
	}
	// the sandbox's task deleted (its bundle gone), an app container runs on
	// in the live shim
	os.RemoveAll(sb.Bundle)
	if err := a.ReleaseBundle(sb.Bundle); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		got, err := a.Allocate(Owner{Key: fmt.Sprintf("k8s.io/o%d", i), Bundle: bundle(t, dir, fmt.Sprintf("o%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		if got.Overlaps(r) {
			t.Fatalf("range %v handed out while the pod's shim runs", got)
		}
	}
	// a pod whose bundle is gone and whose shim is gone (its PID now
	// another process's: a different start time) holds nothing
	if err := a.Release(Owner{Key: "k8s.io/o0", Bundle: filepath.Join(dir, "bundles", "o0")}); err != nil {
		t.Fatal(err)
	}
	gone := Owner{Key: "k8s.io/gone", Bundle: filepath.Join(dir, "bundles", "gone"), Shim: os.Getpid(), ShimStart: sb.ShimStart + 1}
	g, err := a.Allocate(gone)
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.Allocate(Owner{Key: "k8s.io/o9", Bundle: bundle(t, dir, "o9")})
	if err != nil || again != g {
		t.Fatalf("the dead pod's range %v was not reconciled away: %v %v", g, again, err)
	}
}

func TestSameKeyOfAnotherContainerdIsAnotherOwner(t *testing.T) {
	a, dir := newTest(t, 4)
	mine := Owner{Key: "k8s.io/sb", Bundle: bundle(t, dir, "state-a/sb")}
	theirs := Owner{Key: "k8s.io/sb", Bundle: bundle(t, dir, "state-b/sb")}
	r1, err := a.Allocate(mine)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := a.Allocate(theirs)
	if err != nil || r2 == r1 {
		t.Fatalf("a second containerd's sandbox of the same ID got %v (%v), the first's is %v", r2, err, r1)
	}
	if err := a.Release(theirs); err != nil {
		t.Fatal(err)
	}
	es, _ := a.Entries()
	if len(es) != 1 || es[0].Range != r1 {
		t.Fatalf("releasing the other's freed %v", es)
	}
}

// BenchmarkAllocateRelease is the allocator's share of a pod's start and
// removal: one allocation and one release under the node-wide lock, with
// 100 other pods' ranges held.
func BenchmarkAllocateRelease(b *testing.B) {
	dir := b.TempDir()
	if d := os.Getenv("USERNS_BENCH_DIR"); d != "" {
		dir = d // e.g. a directory on the node's disk instead of /tmp
	}
	a, err := New(filepath.Join(dir, "state"), DefaultFirstID, DefaultRanges)
	if err != nil {
		b.Fatal(err)
	}
	bundles := filepath.Join(dir, "bundles")
	for i := 0; i < 100; i++ {
		p := filepath.Join(bundles, fmt.Sprint(i))
		os.MkdirAll(p, 0o700)
		if _, err := a.Allocate(Owner{Key: fmt.Sprintf("k8s.io/held-%d", i), Bundle: p, Pod: fmt.Sprint(i)}); err != nil {
			b.Fatal(err)
		}
	}
	p := filepath.Join(bundles, "bench")
	os.MkdirAll(p, 0o700)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o := Owner{Key: "k8s.io/bench", Bundle: p, Pod: "bench"}
		if _, err := a.Allocate(o); err != nil {
			b.Fatal(err)
		}
		if err := a.Release(o); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAllocationSkipsRangesInUse: a range some process runs in (a pod of
// another runtime class in a user namespace kubelet placed at random) is
// not handed out.
func TestAllocationSkipsRangesInUse(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a process as a window ID")
	}
	a, dir := newTest(t, 4)
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: a.FirstID + 17, Gid: a.FirstID + 17}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	r, err := a.Allocate(Owner{Key: "k8s.io/p", Bundle: bundle(t, dir, "p")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Base == a.FirstID {
		t.Fatalf("got range %v, in which process %d runs as %d", r, cmd.Process.Pid, a.FirstID+17)
	}
}

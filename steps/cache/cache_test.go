package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeyFollowsEveryInput(t *testing.T) {
	base := Key("module=k8s.io/kubernetes@v1.37.2", "arch=amd64", "tags=selinux")
	if base != Key("module=k8s.io/kubernetes@v1.37.2", "arch=amd64", "tags=selinux") {
		t.Fatal("the same inputs gave different keys")
	}
	for _, changed := range [][]string{
		{"module=k8s.io/kubernetes@v1.36.3", "arch=amd64", "tags=selinux"},
		{"module=k8s.io/kubernetes@v1.37.2", "arch=arm64", "tags=selinux"},
		{"module=k8s.io/kubernetes@v1.37.2", "arch=amd64", "tags="},
		{"module=k8s.io/kubernetes@v1.37.2", "arch=amd64tags=selinux"},
	} {
		if Key(changed...) == base {
			t.Errorf("inputs %q give the same key as the original", changed)
		}
	}
}

func TestFillBuildsOnceAndIsReused(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	calls := 0
	fill := func(dir string) error {
		calls++
		return os.WriteFile(filepath.Join(dir, "kubeadm"), []byte("binary"), 0o755)
	}
	for i := 0; i < 2; i++ {
		path, err := c.Fill(context.Background(), "kubernetes", "k1", fill)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(path, "kubeadm")); err != nil || string(b) != "binary" {
			t.Fatalf("entry content %q, %v", b, err)
		}
	}
	if calls != 1 {
		t.Errorf("fill ran %d times, want once", calls)
	}
	if !c.Has("kubernetes", "k1") || c.Has("kubernetes", "k2") {
		t.Error("Has does not tell filled entries from others")
	}
}

func TestFailedFillLeavesNothing(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	_, err := c.Fill(context.Background(), "etcd", "k1", func(dir string) error {
		os.WriteFile(filepath.Join(dir, "half"), []byte("x"), 0o644)
		return errors.New("disk full")
	})
	if err == nil {
		t.Fatal("the fill's error was lost")
	}
	if c.Has("etcd", "k1") {
		t.Error("a failed fill left an entry")
	}
	left, _ := os.ReadDir(filepath.Join(c.Dir, "etcd"))
	if len(left) != 0 {
		t.Errorf("a failed fill left %d files behind", len(left))
	}
}

func TestConcurrentFillsWaitForEachOther(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	var calls atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Fill(context.Background(), "coredns", "k1", func(dir string) error {
				calls.Add(1)
				time.Sleep(100 * time.Millisecond)
				return os.WriteFile(filepath.Join(dir, "coredns"), []byte("x"), 0o755)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("%d concurrent fills built the entry %d times, want once", 4, calls.Load())
	}
}

func TestLockWaitHonoursCancellation(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	unlock, err := c.Lock(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.Lock(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting on a held lock gave %v, want the context's deadline", err)
	}
}

// A fill killed half-way leaves its temporary folder: the next fill of the
// same kind removes it, unless another run is filling that entry.
func TestKilledFillsAreSweptAway(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	kind := filepath.Join(c.Dir, "kubernetes")
	for _, dir := range []string{".old.tmp-1", ".same.tmp-2", ".busy.tmp-3"} {
		if err := os.MkdirAll(filepath.Join(kind, dir, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	unlock, err := c.tryLock(filepath.Join("kubernetes", "busy"))
	if err != nil || unlock == nil {
		t.Fatalf("locking busy: %v", err)
	}
	defer unlock()
	if _, err := c.Fill(context.Background(), "kubernetes", "same", func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{".old.tmp-1": false, ".same.tmp-2": false, ".busy.tmp-3": true} {
		if _, err := os.Stat(filepath.Join(kind, dir)); (err == nil) != want {
			t.Errorf("%s exists=%v after a fill, want %v", dir, err == nil, want)
		}
	}
}

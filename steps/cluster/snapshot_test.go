package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A snapshot is put in force whole, replaces the one before, and is only
// restored while it is unchanged and of the cluster of record.
func TestSnapshotsAreVerifiedBeforeUse(t *testing.T) {
	c := New(testConfig(t, map[string]string{}), nil)
	c.Docker = &fakeDocker{}
	record := Record{UID: "u1", Kubernetes: "v1.37.2", NodeImage: "img", Workers: 2}
	nodes := nodesUpTo(c.Cfg, 2)
	ctx := context.Background()
	if s := c.verifySnapshot("e", &record); s.Verified() || !strings.Contains(s.Problem, "no snapshot") {
		t.Errorf("before any snapshot: %+v", s)
	}
	if err := c.takeSnapshot(ctx, "e", record, nodes); err != nil {
		t.Fatal(err)
	}
	first := c.verifySnapshot("e", &record)
	if !first.Verified() || first.File("kube-node-2") == "" {
		t.Fatalf("a snapshot just taken: %+v", first)
	}
	if err := c.takeSnapshot(ctx, "e", record, nodes); err != nil {
		t.Fatal(err)
	}
	second := c.verifySnapshot("e", &record)
	if !second.Verified() || second.Dir == first.Dir {
		t.Errorf("a second snapshot: %+v; want a new generation in force", second)
	}
	if _, err := os.Stat(first.Dir); !os.IsNotExist(err) {
		t.Errorf("the generation before, %s, is still there", first.Dir)
	}
	// A snapshot killed half-way leaves a generation that never came into force.
	os.MkdirAll(filepath.Join(c.snapshotRoot("e"), "gen-killed"), 0o755)

	other := record
	other.UID = "u2"
	if s := c.verifySnapshot("e", &other); s.Verified() || !strings.Contains(s.Problem, "another cluster of the same name") {
		t.Errorf("the snapshot of an earlier cluster of the same name: %+v", s)
	}
	bigger := record
	bigger.Workers = 3
	if s := c.verifySnapshot("e", &bigger); s.Verified() || !strings.Contains(s.Problem, "lacks node kube-node-3") {
		t.Errorf("a snapshot lacking a node: %+v", s)
	}
	os.WriteFile(second.File("kube-node-1"), []byte("changed"), 0o600)
	if s := c.verifySnapshot("e", &record); s.Verified() || !strings.Contains(s.Problem, "damaged") {
		t.Errorf("a damaged snapshot: %+v", s)
	}
	if err := c.takeSnapshot(ctx, "e", record, nodes); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(c.snapshotRoot("e"))
	if len(entries) != 2 {
		t.Errorf("after a new snapshot the folder holds %d entries, want the link and its generation", len(entries))
	}
}

package cluster

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeDocker puts a docker on PATH that answers nothing and records each
// command line it is given, one per line, arguments separated by tabs.
func fakeDocker(t *testing.T) (calls func() [][]string) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := "#!/bin/sh\n(IFS=\"$(printf '\\t')\"; echo \"$*\") >> " + log + "\n"
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() [][]string {
		b, _ := os.ReadFile(log)
		var out [][]string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" {
				out = append(out, strings.Split(l, "\t"))
			}
		}
		return out
	}
}

// after is the argument following flag in args, "" without one.
func after(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

func TestNodeContainersAreCreatedAsTheirRoleWants(t *testing.T) {
	calls := fakeDocker(t)
	c := New(testConfig(t, map[string]string{"CLUSTER_ID": "5"}), nil)
	c.NodeImage = "dind-cluster/node:v1.37.2-abc"
	master, worker := c.Nodes()[0], c.Nodes()[1]
	// A restore keeps the volumes it found: none is created again.
	c.volumes = map[string]bool{}
	for _, v := range volumeNames(master) {
		c.volumes[v] = true
	}
	if err := c.createNode(context.Background(), master, stagedName(master), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.createNode(context.Background(), worker, worker.Name, 0); err != nil {
		t.Fatal(err)
	}
	var creates [][]string
	volumesCreated := map[string]bool{}
	for _, call := range calls() {
		switch {
		case call[0] == "create":
			creates = append(creates, call)
		case call[0] == "volume" && call[1] == "create":
			volumesCreated[call[len(call)-1]] = true
			if after(call, "--label") != nodeImageLabel+"="+c.NodeImage {
				t.Errorf("volume %s is not labelled with the node image it is made for: %v", call[len(call)-1], call)
			}
		}
	}
	if len(creates) != 2 {
		t.Fatalf("docker create ran %d times, want 2: %v", len(creates), calls())
	}
	m, w := creates[0], creates[1]
	if after(m, "--name") != "kube-master-cluster-5-restoring" || after(m, "--hostname") != "kube-master-cluster-5" || after(m, "--ip") != "10.192.5.2" {
		t.Errorf("staged master: name %q, hostname %q, ip %q", after(m, "--name"), after(m, "--hostname"), after(m, "--ip"))
	}
	if got := after(m, "--mount"); got != "type=volume,dst=/var/lib/etcd,volume-label=dind-cluster=1,volume-label=dind-cluster.cluster=cluster-5" {
		t.Errorf("the master's etcd volume: --mount %q; want one labelled as the cluster's, which clean finds", got)
	}
	if after(m, "--cpu-shares") != "4096" || slices.Contains(w, "--cpu-shares") {
		t.Errorf("CPU shares: master %q, worker has them: %v", after(m, "--cpu-shares"), slices.Contains(w, "--cpu-shares"))
	}
	if slices.Contains(w, "--mount") || slices.Contains(w, "--publish") {
		t.Errorf("a worker gets the master's etcd volume or API server port: %v", w)
	}
	for _, v := range volumeNames(master) {
		if volumesCreated[v] {
			t.Errorf("volume %s, which the restore found, was created again", v)
		}
	}
	for _, v := range volumeNames(worker) {
		if !volumesCreated[v] {
			t.Errorf("volume %s of the new worker was not created", v)
		}
	}
}

func TestRestoreRemovesOnlyTheClustersOwnContainer(t *testing.T) {
	for _, ours := range []bool{true, false} {
		calls := fakeDocker(t)
		c := New(testConfig(t, map[string]string{}), nil)
		c.NodeImage, c.engineID = "dind-cluster/node:v1.37.2-abc", "engine"
		n := c.Nodes()[1]
		dir, _ := c.snapshotDir(context.Background())
		os.MkdirAll(dir, 0o755)
		os.WriteFile(snapshotFile(dir, n), nil, 0o644)
		c.ours = map[string]bool{n.Name: ours}
		if err := c.restoreNode(context.Background(), n, 0); err != nil {
			t.Fatal(err)
		}
		removed := false
		for _, call := range calls() {
			if call[0] == "rm" {
				removed = true
				if !slices.Equal(call, []string{"rm", "--force", "--volumes", n.Name}) {
					t.Errorf("removal of the old node: %v", call)
				}
			}
			if call[0] == "rename" && !slices.Equal(call, []string{"rename", stagedName(n), n.Name}) {
				t.Errorf("the staged node is renamed with %v", call)
			}
		}
		if removed != ours {
			t.Errorf("container %s ours=%v: removed=%v", n.Name, ours, removed)
		}
	}
}

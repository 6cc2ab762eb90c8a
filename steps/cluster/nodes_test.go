package cluster

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

func TestNodeContainersAreCreatedAsTheirRoleWants(t *testing.T) {
	f := &fakeDocker{}
	r := testRun(t, map[string]string{"CLUSTER_ID": "5"})
	r.Docker, r.nodeImage = f, "dind-cluster/node:v1.37.2-abc"
	r.record.CA = "fingerprint"
	master, worker := r.decision.Nodes[0], r.decision.Nodes[1]
	// A restore keeps the volumes it found: none is created again.
	for _, v := range volumeNames(master) {
		r.state.Volumes = append(r.state.Volumes, docker.Volume{Name: v, Labels: docker.Labels{build.NodeImageLabel: r.nodeImage}})
	}
	if err := r.createNode(context.Background(), master, stagedName(master)); err != nil {
		t.Fatal(err)
	}
	if err := r.createNode(context.Background(), worker, worker.Name); err != nil {
		t.Fatal(err)
	}
	if len(f.created) != 2 {
		t.Fatalf("%d containers created, want 2: %v", len(f.created), f.calls)
	}
	m, w := f.created[0], f.created[1]
	if m.Name != "kube-master-cluster-5-restoring" || m.Hostname != "kube-master-cluster-5" || m.IP != "10.192.5.2" {
		t.Errorf("staged master: name %q, hostname %q, ip %q", m.Name, m.Hostname, m.IP)
	}
	// Every volume comes with its container, labelled as the cluster's (and
	// the node image's), so that even one the engine makes after clean
	// listed the volumes is found by the next clean.
	etcd := slices.IndexFunc(m.Mounts, func(s string) bool { return strings.HasPrefix(s, "type=volume,dst=/var/lib/etcd,") })
	if etcd < 0 || !strings.Contains(m.Mounts[etcd], ",volume-label=dind-cluster.cluster=cluster-5") ||
		!strings.Contains(m.Mounts[etcd], ",volume-label=dind-cluster=1") || strings.Contains(m.Mounts[etcd], "src=") {
		t.Errorf("the master's etcd volume: %q; want an anonymous one labelled as the cluster's, which clean finds", m.Mounts)
	}
	for _, c := range []struct {
		spec docker.ContainerSpec
		node Node
	}{{m, master}, {w, worker}} {
		for _, v := range volumeNames(c.node) {
			if !slices.ContainsFunc(c.spec.Mounts, func(s string) bool {
				return strings.Contains(s, ",src="+v+",") && strings.Contains(s, ",volume-label=dind-cluster.cluster=cluster-5") &&
					strings.Contains(s, ",volume-label="+build.NodeImageLabel+"="+r.nodeImage)
			}) {
				t.Errorf("%s does not mount %s labelled as the cluster's and its node image's: %q", c.spec.Name, v, c.spec.Mounts)
			}
		}
	}
	if m.CPUShares != 4096 || w.CPUShares != 0 {
		t.Errorf("CPU shares: master %d, worker %d; want 4096 and the default", m.CPUShares, w.CPUShares)
	}
	if slices.ContainsFunc(w.Mounts, func(s string) bool { return strings.Contains(s, "/var/lib/etcd") }) || len(w.Publish) > 0 {
		t.Errorf("a worker gets the master's etcd volume or API server port: %+v", w)
	}
	if m.Labels[labelCA] != "fingerprint" || m.Labels[labelCreator] != creator() || m.Labels[config.LabelCluster] != "cluster-5" {
		t.Errorf("master labels %v: want the CA's fingerprint, the creator and the cluster", m.Labels)
	}
	if !slices.Contains(m.Publish, "127.0.0.1::6443") {
		t.Errorf("master publishes %v; want the API server on a free port of 127.0.0.1", m.Publish)
	}
	if len(f.volumes) != 0 {
		t.Errorf("volumes created apart from their containers: %v", f.volumes)
	}
}

func TestRestoreRemovesOnlyTheClustersOwnContainer(t *testing.T) {
	for _, present := range []bool{true, false} {
		f := &fakeDocker{}
		r := testRun(t, map[string]string{})
		r.Docker, r.nodeImage, r.decision.Action = f, "dind-cluster/node:v1.37.2-abc", Restore
		n := r.decision.Nodes[1]
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, n.Name+".tar.gz"), nil, 0o644)
		r.state.Snapshot = Snapshot{Dir: dir, Manifest: manifest{Nodes: []snapshotNode{{Name: n.Name, File: n.Name + ".tar.gz"}}}}
		r.state.Nodes = map[int]docker.Container{}
		if present {
			r.state.Nodes[n.Index] = container(r.Cfg, n.Name, "running")
		}
		if err := r.restoreNode(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		removed := slices.Contains(f.calls, "rm "+n.Name)
		if removed != present {
			t.Errorf("container %s present=%v: removed=%v (%v)", n.Name, present, removed, f.calls)
		}
		if !slices.Contains(f.calls, "rename "+stagedName(n)+" "+n.Name) || !slices.Contains(f.calls, "start "+n.Name) {
			t.Errorf("the staged node is not renamed and started: %v", f.calls)
		}
		for _, call := range f.calls {
			if strings.HasPrefix(call, "rm ") && call != "rm "+n.Name {
				t.Errorf("restore of %s removed %q", n.Name, call)
			}
		}
	}
}

// A volume made for another node image holds layers the node cannot use:
// the node is not made on it.
func TestANodeIsNotMadeOnAVolumeOfAnotherImage(t *testing.T) {
	f := &fakeDocker{}
	r := testRun(t, map[string]string{})
	r.Docker, r.nodeImage = f, "dind-cluster/node:v1.37.2-new"
	master := r.decision.Nodes[0]
	for _, v := range volumeNames(master) {
		r.state.Volumes = append(r.state.Volumes, docker.Volume{Name: v, Labels: docker.Labels{build.NodeImageLabel: "dind-cluster/node:v1.37.2-old"}})
	}
	err := r.createNode(context.Background(), master, master.Name)
	if err == nil || !strings.Contains(err.Error(), "dind-cluster/node:v1.37.2-old") || !strings.Contains(err.Error(), "run clean") {
		t.Fatalf("a node made on volumes of another image: %v", err)
	}
	if len(f.created) != 0 {
		t.Errorf("containers created: %v", f.calls)
	}
}

// A restored master publishes the API server on the port it had, or on
// APISERVER_PORT.
func TestARestoredMasterKeepsItsPort(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "127.0.0.1:41234:6443"},
		{map[string]string{"APISERVER_PORT": "8443"}, "127.0.0.1:8443:6443"},
	} {
		r := testRun(t, tc.env)
		r.decision.Action, r.decision.Record = Restore, Record{UID: "u", Workers: 2}
		r.state.MasterPort = 41234
		if _, err := r.plan(); err != nil {
			t.Fatal(err)
		}
		f := &fakeDocker{}
		r.Docker, r.nodeImage = f, "dind-cluster/node:v1.37.2-abc"
		if err := r.createNode(context.Background(), r.decision.Nodes[0], "m"); err != nil {
			t.Fatal(err)
		}
		if got := f.created[0].Publish; !slices.Contains(got, tc.want) {
			t.Errorf("%v: master publishes %v; want %s", tc.env, got, tc.want)
		}
	}
}

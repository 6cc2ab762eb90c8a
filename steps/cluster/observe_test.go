package cluster

import (
	"context"
	"os"
	"reflect"
	"testing"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

// A DIND_LABEL cluster without CLUSTER_ID takes a network ID that no other
// cluster of the engine uses, and keeps the one its network has.
func TestLabelClustersTakeAFreeNetworkID(t *testing.T) {
	cfg := testConfig(t, map[string]string{"DIND_LABEL": "third"})
	owner := docker.Labels{config.LabelOwner: "1"}
	f := &fakeDocker{networks: []docker.Network{
		{Name: "kubeadm-dind-net", Subnets: []string{"10.192.0.0/24"}, Labels: owner},
		{Name: "kubeadm-dind-net-foo", Subnets: []string{"10.192.1.0/24"}, Labels: docker.Labels{config.LabelOwner: "1", labelNetworkID: "1"}},
		{Name: "kubeadm-dind-net-cluster-2", Subnets: []string{"10.192.2.0/24"}, Labels: owner},
	}}
	c := New(cfg, nil)
	c.Docker = f
	s, err := c.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.NetworkID != 3 {
		t.Errorf("network ID %d; want 3, the first that no cluster uses", s.NetworkID)
	}
	resolved, err := c.clusterConfig(s)
	if err != nil || resolved.MgmtCIDR().String() != "10.192.3.0/24" || resolved.NodeIP(1).String() != "10.192.3.3" {
		t.Errorf("configuration for network ID 3: %v, %v", resolved.MgmtCIDR(), err)
	}

	f.networks = append(f.networks, docker.Network{Name: cfg.NetworkName(), Subnets: []string{"10.192.7.0/24"},
		Labels: c.labels(docker.Labels{labelNetworkID: "7"})})
	if s, err = c.Observe(context.Background()); err != nil || s.NetworkID != 7 || s.Network == nil {
		t.Errorf("with its network there: network ID %d, network %v, %v; want 7, the network's", s.NetworkID, s.Network, err)
	}
}

// Observe finds the record, tells which process made an unfinished
// cluster, and sorts the cluster's containers.
func TestObserveReadsRecordCreatorsAndContainers(t *testing.T) {
	cfg := testConfig(t, map[string]string{})
	c := New(cfg, nil)
	f := &fakeDocker{images: map[string]bool{"dind-cluster/node:v1.37.2-abc": true}}
	c.Docker = f
	mine := c.labels(docker.Labels{labelCreator: creator()})
	dead := c.labels(docker.Labels{labelCreator: "host-that-is-not-this-one/1/1"})
	f.containers = []docker.Container{
		{Name: "kube-master", State: "running", Labels: mine},
		{Name: "kube-node-1-restoring", State: "created", Labels: c.labels(nil)},
		{Name: "kube-node-7", State: "exited", Labels: c.labels(nil)},
		{Name: "kube-node-2", State: "running", Labels: docker.Labels{config.LabelOwner: "1", config.LabelCluster: "cluster-4"}},
		{Name: "unrelated", State: "running"},
		// run from an image a user committed of the master: the user's
		{Name: "my-copy-of-the-master", State: "running", Labels: mine},
	}
	f.volumes = []docker.Volume{{Name: "kubeadm-dind-kube-master-containerd", Labels: dead}}
	s, err := c.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Nodes) != 2 || s.Nodes[0].Name != "kube-master" || s.Nodes[7].Name != "kube-node-7" {
		t.Errorf("nodes %v; want the master and kube-node-7", s.Nodes)
	}
	if len(s.Staged) != 1 || !s.Others["kube-node-2"] || !s.Others["unrelated"] || !s.Others["my-copy-of-the-master"] || len(s.Strays) != 0 {
		t.Errorf("staged %v, others %v", s.Staged, s.Others)
	}
	if s.Record != nil || s.CreatorRunning != "" || s.CreatorElsewhere != "host-that-is-not-this-one/1/1" {
		t.Errorf("record %v, creator running %q, elsewhere %q", s.Record, s.CreatorRunning, s.CreatorElsewhere)
	}

	f.volumes = []docker.Volume{{Name: "kubeadm-dind-record", Labels: c.labels(docker.Labels{labelRecord: "1", labelUID: "u",
		labelKubernetes: "v1.37.2", build.NodeImageLabel: "dind-cluster/node:v1.37.2-abc", labelWorkers: "2", labelCA: "f",
		labelShape: encodeShape(map[string]string{"IP_MODE": "dual-stack", "MGMT_CIDRS": "10.192.0.0/24,fd00:20::/64"})})}}
	if s, err = c.Observe(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := Record{UID: "u", Kubernetes: "v1.37.2", NodeImage: "dind-cluster/node:v1.37.2-abc", Workers: 2, CA: "f",
		Shape: map[string]string{"IP_MODE": "dual-stack", "MGMT_CIDRS": "10.192.0.0/24,fd00:20::/64"}}
	if s.Record == nil || !reflect.DeepEqual(*s.Record, want) || !s.RecordImagePresent || s.Snapshot.Verified() {
		t.Errorf("record %+v (image present %v), snapshot %+v; want %+v, present, none", s.Record, s.RecordImagePresent, s.Snapshot, want)
	}
}

// A process that still runs is alive; one that ended, or a PID reused by
// another process, is not.
func TestCreatorsAreToldAliveFromDead(t *testing.T) {
	if alive, known := creatorAlive(creator()); !alive || !known {
		t.Errorf("this process: alive %v, known %v", alive, known)
	}
	host, _ := os.Hostname()
	for _, label := range []string{host + "/" + "999999999/1", host + "/1/not-its-start-time"} {
		if alive, known := creatorAlive(label); alive || !known {
			t.Errorf("%s: alive %v, known %v; want dead", label, alive, known)
		}
	}
	if _, known := creatorAlive("another-host/1/1"); known {
		t.Error("a process of another host is known")
	}
}

// `docker volume prune` removes the record's volume, which no container
// uses: the master's copy of the record keeps the cluster the user's.
func TestAPrunedRecordIsReadFromTheMaster(t *testing.T) {
	cfg := testConfig(t, map[string]string{})
	c := New(cfg, nil)
	const image = "dind-cluster/node:v1.37.2-abc"
	f := &fakeDocker{images: map[string]bool{image: true}}
	c.Docker = f
	made := c.labels(docker.Labels{labelCreator: "host-that-is-not-this-one/1/1"})
	for i := 0; i <= 2; i++ {
		f.containers = append(f.containers, docker.Container{Name: cfg.NodeName(i), State: "exited", Labels: made})
	}
	f.networks = []docker.Network{{Name: cfg.NetworkName(), Subnets: []string{"10.192.0.0/24"}, Labels: c.labels(nil)}}
	record := Record{UID: "u1", Kubernetes: "v1.37.2", NodeImage: image, Workers: 2, CA: "ca", NetworkID: 0}
	if err := c.writeRecordInMaster(context.Background(), record); err != nil {
		t.Fatal(err)
	}
	s, err := c.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Record == nil || s.Record.UID != "u1" || !s.RecordVolumeMissing {
		t.Fatalf("record %+v (volume missing %v); want the master's copy", s.Record, s.RecordVolumeMissing)
	}
	d, err := Decide(cfg, s, RequestOf(cfg))
	if err != nil || d.Action != Resume || d.RemoveLeftovers {
		t.Errorf("decision %s (remove leftovers %v), %v; want resume", d.Action, d.RemoveLeftovers, err)
	}
}

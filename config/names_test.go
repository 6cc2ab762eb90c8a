package config

import (
	"fmt"
	"slices"
	"testing"
)

// The four cases of the seed's "Example containers".
func TestNames(t *testing.T) {
	cases := []struct {
		vars                                  map[string]string
		master, node2, context, network, name string
	}{
		{map[string]string{},
			"kube-master", "kube-node-2", "dind", "kubeadm-dind-net", "default"},
		{map[string]string{"CLUSTER_ID": "10"},
			"kube-master-cluster-10", "kube-node-2-cluster-10", "dind-cluster-10", "kubeadm-dind-net-cluster-10", "cluster-10"},
		{map[string]string{"DIND_LABEL": "foo"},
			"kube-master-foo", "kube-node-2-foo", "dind-foo", "kubeadm-dind-net-foo", "foo"},
		{map[string]string{"DIND_LABEL": "foo", "CLUSTER_ID": "10"},
			"kube-master-foo-10", "kube-node-2-foo-10", "dind-foo-10", "kubeadm-dind-net-foo-10", "foo-10"},
	}
	for _, tc := range cases {
		c := mustLoad(t, tc.vars)
		got := []string{c.MasterName(), c.NodeName(2), c.ContextName(), c.NetworkName(), c.ClusterName()}
		want := []string{tc.master, tc.node2, tc.context, tc.network, tc.name}
		if !slices.Equal(got, want) {
			t.Errorf("%v: got %q, want %q", tc.vars, got, want)
		}
		if labels, want := c.Labels(), []string{"dind-cluster=1", "dind-cluster.cluster=" + tc.name}; !slices.Equal(labels, want) {
			t.Errorf("%v: Labels() = %q, want %q", tc.vars, labels, want)
		}
	}
}

func TestNodeNames(t *testing.T) {
	c := mustLoad(t, map[string]string{"CLUSTER_ID": "10"})
	want := []string{"kube-master-cluster-10", "kube-node-1-cluster-10", "kube-node-2-cluster-10"}
	if got := c.NodeNames(); !slices.Equal(got, want) {
		t.Errorf("NodeNames() = %q, want %q", got, want)
	}
	if got := mustLoad(t, map[string]string{"NUM_NODES": "0"}).NodeNames(); !slices.Equal(got, []string{"kube-master"}) {
		t.Errorf("NodeNames() with no workers = %q", got)
	}
}

func TestLabelNetworkID(t *testing.T) {
	a := mustLoad(t, map[string]string{"DIND_LABEL": "foo"})
	b := mustLoad(t, map[string]string{"DIND_LABEL": "foo"})
	if a.NetworkID() != b.NetworkID() || a.MgmtCIDR() != b.MgmtCIDR() {
		t.Errorf("two loads of DIND_LABEL=foo disagree: %d %v, %d %v", a.NetworkID(), a.MgmtCIDR(), b.NetworkID(), b.MgmtCIDR())
	}
	if want := fmt.Sprintf("10.192.%d.0/24", a.NetworkID()); a.MgmtCIDR().String() != want {
		t.Errorf("MgmtCIDR = %v, want %s", a.MgmtCIDR(), want)
	}
	seen := map[int]bool{}
	for i := range 200 {
		id := labelNetworkID(fmt.Sprintf("label%d", i))
		if id < 1 || id > 13 {
			t.Fatalf("labelNetworkID(label%d) = %d, want 1..13", i, id)
		}
		seen[id] = true
	}
	if len(seen) != 13 {
		t.Errorf("200 labels hit %d of the 13 IDs", len(seen))
	}
	// An explicit CLUSTER_ID is used as it is.
	if c := mustLoad(t, map[string]string{"DIND_LABEL": "foo", "CLUSTER_ID": "42"}); c.NetworkID() != 42 {
		t.Errorf("NetworkID() = %d, want 42", c.NetworkID())
	}
}

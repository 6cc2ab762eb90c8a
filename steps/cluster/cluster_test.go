package cluster

import (
	"strings"
	"testing"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/steps/engine"
)

func testConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	env["HOME"] = t.TempDir()
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestBtrfsIsRefusedUnlessAskedFor(t *testing.T) {
	c := New(testConfig(t, map[string]string{}), nil)
	c.Engine = engine.Engine{StorageDriver: "btrfs"}
	err := c.guardBtrfs()
	if err == nil || !strings.Contains(err.Error(), "RUN_ON_BTRFS_ANYWAY") || !strings.Contains(err.Error(), "38337") {
		t.Errorf("btrfs engine: %v; want a refusal naming RUN_ON_BTRFS_ANYWAY and the seed's reasons", err)
	}
	c = New(testConfig(t, map[string]string{"RUN_ON_BTRFS_ANYWAY": "y"}), nil)
	c.Engine = engine.Engine{StorageDriver: "btrfs"}
	if err := c.guardBtrfs(); err != nil {
		t.Errorf("RUN_ON_BTRFS_ANYWAY=y: %v", err)
	}
	c.Engine.StorageDriver = "overlay2"
	if err := c.guardBtrfs(); err != nil {
		t.Errorf("overlay2: %v", err)
	}
}

func TestNodesGetSubnetsRoutesAndConfigs(t *testing.T) {
	c := New(testConfig(t, map[string]string{"CLUSTER_ID": "5"}), nil)
	c.token = "abcdef.0123456789abcdef"
	nodes := c.Nodes()
	if len(nodes) != 3 || nodes[0].Name != "kube-master-cluster-5" || nodes[2].IP != "10.192.5.4" {
		t.Fatalf("nodes %+v", nodes)
	}
	if got := c.routes(nodes[1], nodes); got != "10.244.2.0/24 via 10.192.5.2\n10.244.4.0/24 via 10.192.5.4\n" {
		t.Errorf("routes of kube-node-1:\n%s", got)
	}
	files, err := c.nodeFiles(nodes[0], nodes)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, f := range files {
		paths[f.Path] = string(f.Content)
	}
	if !strings.Contains(paths["/etc/kubeadm/init.yaml"], "advertiseAddress: 10.192.5.2") ||
		!strings.Contains(paths["/etc/cni/net.d/10-dindnet.conflist"], `"subnet": "10.244.2.0/24"`) ||
		paths["/etc/dind/network.env"] != "POD_SUBNET=10.244.2.0/24\nPOD_NETWORK_CIDR=10.244.0.0/16\n" {
		t.Errorf("master files: %v", paths)
	}
}

func TestTokensHaveKubeadmsForm(t *testing.T) {
	for i := 0; i < 20; i++ {
		tok := newToken()
		if len(tok) != 23 || tok[6] != '.' || strings.ToLower(tok) != tok {
			t.Fatalf("token %q is not [a-z0-9]{6}.[a-z0-9]{16}", tok)
		}
	}
}

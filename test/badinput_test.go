package test

import (
	"strings"
	"testing"
)

// TestBadInputIsRefusedBeforeAnythingIsMade runs up with bad values: each is
// refused with the variable named, and no Docker object of the cluster appears.
func TestBadInputIsRefusedBeforeAnythingIsMade(t *testing.T) {
	dindCluster(t)
	mustRun(t, "clean")
	for _, c := range []struct{ env, want string }{
		{"MGMT_CIDRS=10.192.0.0/16", "MGMT_CIDRS=10.192.0.0/16: "},
		{"NUM_NODES=many", "NUM_NODES=many: "},
		{"DIND_K8S_VERSION=v1.20.0", "v1.37.2, v1.36.3, v1.35.4"},
		{"CNI_PLUGIN=calico", "CNI_PLUGIN=calico: Calico cannot be built here"},
		{"APISERVER_PORT=70000", "APISERVER_PORT=70000: "},
		{"POD_NETWORK_CIDR=10.192.0.0/16", "overlap"},
	} {
		out, err := run(t, clusterEnv(c.env), "up")
		if err == nil {
			t.Errorf("%s: up succeeded", c.env)
			run(t, clusterEnv(), "clean")
			continue
		}
		if !strings.Contains(out, c.want) {
			t.Errorf("%s: the error does not say %q:\n%s", c.env, c.want, out)
		}
		for _, kind := range [][]string{{"ps", "--all"}, {"volume", "ls"}, {"network", "ls"}} {
			if left, _ := docker(t, append(kind, "--quiet", "--filter", "label="+clusterLabel)...); left != "" {
				t.Errorf("%s: docker %s lists %q after the refusal", c.env, kind[0], left)
			}
		}
	}
}

// A container of someone else's with a node's name is refused by name, and
// left alone.
func TestForeignContainerWithANodesNameIsRefused(t *testing.T) {
	dindCluster(t)
	mustRun(t, "clean")
	docker(t, "rm", "--force", master)
	if _, err := docker(t, "create", "--name", master, emptyImage(t), "/bin/true"); err != nil {
		t.Fatal(err)
	}
	defer docker(t, "rm", "--force", master)
	out, err := run(t, clusterEnv(), "up")
	if err == nil {
		t.Fatal("up succeeded beside a foreign container named " + master)
	}
	if !strings.Contains(out, "a container named "+master+" exists and is not one of cluster cluster-9's") {
		t.Errorf("the error does not name the foreign container:\n%s", out)
	}
	if left, _ := docker(t, "ps", "--all", "--quiet", "--filter", "label="+clusterLabel); left != "" {
		t.Errorf("up made containers before refusing: %q", left)
	}
	if _, err := docker(t, "inspect", master); err != nil {
		t.Errorf("the foreign container is gone: %v", err)
	}
}

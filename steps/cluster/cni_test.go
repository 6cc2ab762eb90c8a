package cluster

import (
	"strings"
	"testing"

	"github.com/dind-cluster/dind-cluster/embed"
)

// With an add-on that routes itself, the controller-manager hands out the
// nodes' subnets, dind-cluster neither routes them nor configures the
// nodes' CNI, and the add-on's manifest carries the pod network.
func TestRoutingAddonsTakeOverThePodNetwork(t *testing.T) {
	for _, plugin := range []string{"flannel", "kube-router"} {
		c := testRun(t, map[string]string{"CLUSTER_ID": "5", "CNI_PLUGIN": plugin})
		nodes := c.decision.Nodes
		if got := c.routes(nodes[1], nodes); got != "" {
			t.Errorf("%s: dind-cluster routes pod subnets:\n%s", plugin, got)
		}
		paths := nodeFilesByPath(t, c, nodes[0], nodes)
		if _, ok := paths["/etc/cni/net.d/10-dindnet.conflist"]; ok {
			t.Errorf("%s: the node is given dind-cluster's CNI configuration", plugin)
		}
		init := paths["/etc/kubeadm/init.yaml"]
		for _, want := range []string{"name: allocate-node-cidrs\n    value: \"true\"", "name: node-cidr-mask-size-ipv4\n    value: \"24\"", "podSubnet: 10.244.0.0/16"} {
			if !strings.Contains(init, want) {
				t.Errorf("%s: init.yaml lacks %q:\n%s", plugin, want, init)
			}
		}
		manifest, err := embed.Render("cni/"+plugin+"/manifest.yaml.tmpl", c.values(nodes[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"image: dind-cluster.local/" + plugin + ":", "imagePullPolicy: Never", "value: \"10.192.5.2\""} {
			if !strings.Contains(string(manifest), want) {
				t.Errorf("%s: the manifest lacks %q:\n%s", plugin, want, manifest)
			}
		}
		if plugin == "flannel" && !strings.Contains(string(manifest), `"Network": "10.244.0.0/16"`) {
			t.Errorf("flannel is not given the pod network:\n%s", manifest)
		}
	}
	c := testRun(t, map[string]string{"CLUSTER_ID": "5"})
	files, _ := c.nodeFiles(c.decision.Nodes[0], c.decision.Nodes)
	for _, f := range files {
		if f.Path == "/etc/kubeadm/init.yaml" && !strings.Contains(string(f.Content), "name: allocate-node-cidrs\n    value: \"false\"") {
			t.Errorf("bridge: the controller-manager allocates node subnets:\n%s", f.Content)
		}
	}
}

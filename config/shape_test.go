package config

import (
	"strings"
	"testing"
)

// A made cluster keeps the networks it was made with: knobs left unset
// follow it, knobs set otherwise are refused by name.
func TestClustersKeepTheirShape(t *testing.T) {
	made := mustLoad(t, map[string]string{"IP_MODE": "dual-stack", "CNI_PLUGIN": "ptp", "CLUSTER_ID": "21"})
	shape := made.Shape()
	if shape["IP_MODE"] != "dual-stack" || shape["CNI_PLUGIN"] != "ptp" || len(shape) != 2 {
		t.Fatalf("shape %v; want the two knobs that were set", shape)
	}
	for _, c := range []struct {
		now     map[string]string
		refused string
	}{
		{now: map[string]string{"CLUSTER_ID": "21"}},
		{now: map[string]string{"CLUSTER_ID": "21", "IP_MODE": "dual-stack", "MGMT_CIDRS": "10.192.0.0/24,fd00:20::/64"}},
		{now: map[string]string{"CLUSTER_ID": "21", "IP_MODE": "ipv4"}, refused: "IP_MODE=ipv4: cluster cluster-21 was made with dual-stack"},
		{now: map[string]string{"CLUSTER_ID": "21", "CNI_PLUGIN": "bridge"}, refused: "CNI_PLUGIN=bridge: cluster cluster-21 was made with ptp"},
		{now: map[string]string{"CLUSTER_ID": "21", "POD_NETWORK_CIDR": "10.245.0.0/16"}, refused: "POD_NETWORK_CIDR=10.245.0.0/16: cluster cluster-21 was made with its default, 10.244.0.0/16,fd00:40::/72"},
	} {
		now := mustLoad(t, c.now)
		kept, err := now.Keeping(now.ClusterName(), shape)
		if c.refused != "" {
			if err == nil || !strings.Contains(err.Error(), c.refused) {
				t.Errorf("%v: %v; want a refusal saying %q", c.now, err, c.refused)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.now, err)
			continue
		}
		if kept.IPMode != DualStack || kept.CNIPlugin != "ptp" || len(kept.MgmtCIDRs()) != 2 ||
			kept.MgmtCIDRs()[1].String() != "fd00:20:21::/64" || len(kept.PodCIDRs()) != 2 {
			t.Errorf("%v: kept %s %s %v %v; want the dual-stack ptp cluster", c.now, kept.IPMode, kept.CNIPlugin, kept.MgmtCIDRs(), kept.PodCIDRs())
		}
	}
}

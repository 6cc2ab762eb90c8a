package config

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestClusterIDInjection(t *testing.T) {
	implementEverything(t)
	cases := []struct {
		vars         map[string]string
		mgmt         string
		gateway      string
		master, node string // NodeIP(0), NodeIP(1)
	}{
		{map[string]string{}, "10.192.0.0/24", "10.192.0.1", "10.192.0.2", "10.192.0.3"},
		{map[string]string{"CLUSTER_ID": "5"}, "10.192.5.0/24", "10.192.5.1", "10.192.5.2", "10.192.5.3"},
		{map[string]string{"CLUSTER_ID": "254", "MGMT_CIDRS": "10.150.0.0/24"}, "10.150.254.0/24", "10.150.254.1", "10.150.254.2", "10.150.254.3"},
		{map[string]string{"IP_MODE": "ipv6"}, "fd00:20::/64", "fd00:20::1", "fd00:20::2", "fd00:20::3"},
		{map[string]string{"IP_MODE": "ipv6", "CLUSTER_ID": "2"}, "fd00:20:2::/64", "fd00:20:2::1", "fd00:20:2::2", "fd00:20:2::3"},
		{map[string]string{"IP_MODE": "ipv6", "CLUSTER_ID": "10", "MGMT_CIDRS": "fd00:10:20::/64"},
			"fd00:10:20:10::/64", "fd00:10:20:10::1", "fd00:10:20:10::2", "fd00:10:20:10::3"},
		{map[string]string{"IP_MODE": "ipv6", "CLUSTER_ID": "254", "MGMT_CIDRS": "fd00:10:20::/64", "NAT64_V4_SUBNET_PREFIX": "10.1"},
			"fd00:10:20:254::/64", "fd00:10:20:254::1", "fd00:10:20:254::2", "fd00:10:20:254::3"},
		{map[string]string{"IP_MODE": "ipv6", "CLUSTER_ID": "3", "DIND_SUBNET": "fd00:77::", "DIND_SUBNET_SIZE": "64"},
			"fd00:77:3::/64", "fd00:77:3::1", "fd00:77:3::2", "fd00:77:3::3"},
		{map[string]string{"IP_MODE": "ipv6", "MGMT_CIDRS": "::/64", "CLUSTER_ID": "7"}, "7::/64", "7::1", "7::2", "7::3"},
		{map[string]string{"IP_MODE": "dual-stack", "CLUSTER_ID": "4"}, "10.192.4.0/24", "10.192.4.1", "10.192.4.2", "10.192.4.3"},
	}
	for _, tc := range cases {
		c, err := load(tc.vars)
		if err != nil {
			t.Errorf("Load(%v): %v", tc.vars, err)
			continue
		}
		got := []string{c.MgmtCIDR().String(), c.Gateway().String(), c.NodeIP(0).String(), c.NodeIP(1).String()}
		want := []string{tc.mgmt, tc.gateway, tc.master, tc.node}
		if !slices.Equal(got, want) {
			t.Errorf("Load(%v): mgmt, gateway, master, node 1 = %v, want %v", tc.vars, got, want)
		}
	}
}

func TestDualStackMgmt(t *testing.T) {
	implementEverything(t)
	cases := []struct {
		mgmtCIDRs string
		want      []netip.Prefix
	}{
		{"", []netip.Prefix{netip.MustParsePrefix("10.192.1.0/24"), netip.MustParsePrefix("fd00:20:1::/64")}},
		{"fd00:99::/64", []netip.Prefix{netip.MustParsePrefix("10.192.1.0/24"), netip.MustParsePrefix("fd00:99:1::/64")}},
		{"fd00:99::/64,10.1.0.0/24", []netip.Prefix{netip.MustParsePrefix("10.1.1.0/24"), netip.MustParsePrefix("fd00:99:1::/64")}},
	}
	for _, tc := range cases {
		c, err := load(map[string]string{"IP_MODE": "dual-stack", "CLUSTER_ID": "1", "MGMT_CIDRS": tc.mgmtCIDRs})
		if err != nil {
			t.Errorf("MGMT_CIDRS=%s: %v", tc.mgmtCIDRs, err)
			continue
		}
		if got := c.MgmtCIDRs(); !slices.Equal(got, tc.want) {
			t.Errorf("MGMT_CIDRS=%s: got %v, want %v", tc.mgmtCIDRs, got, tc.want)
		}
	}
}

func TestIPv6Defaults(t *testing.T) {
	implementEverything(t)
	c := mustLoad(t, map[string]string{"IP_MODE": "ipv6"})
	checks := []struct {
		what      string
		got, want any
	}{
		{"ServiceCIDR", c.ServiceCIDR(), netip.MustParsePrefix("fd00:30::/110")},
		{"DNSServiceIP", c.DNSServiceIP(), netip.MustParseAddr("fd00:30::a")},
		{"PodCIDR", c.PodCIDR(), netip.MustParsePrefix("fd00:40::/72")},
		{"PodSubnet(0)", c.PodSubnet(0), netip.MustParsePrefix("fd00:40:0:0:2::/80")},
		{"DNS64Prefix", c.DNS64Prefix, netip.MustParsePrefix("fd00:10:64:ff9b::/96")},
		{"NAT64Subnet", c.NAT64Subnet, netip.MustParsePrefix("172.18.0.0/16")},
	}
	for _, check := range checks {
		if check.got != check.want {
			t.Errorf("%s = %v, want %v", check.what, check.got, check.want)
		}
	}
}

func TestInvalidIPv6Networks(t *testing.T) {
	implementEverything(t)
	cases := []struct {
		vars    map[string]string
		wantErr string
	}{
		{map[string]string{"MGMT_CIDRS": "fd00:1:2:3::/64"}, "MGMT_CIDRS=fd00:1:2:3::/64: no room for the cluster ID"},
		{map[string]string{"MGMT_CIDRS": "fd00:1::/40"}, "MGMT_CIDRS=fd00:1::/40: no room for the cluster ID"},
		{map[string]string{"MGMT_CIDRS": "fd00:20::/120"}, "MGMT_CIDRS=fd00:20::/120: an IPv6 management network must leave at least 16 bits for hosts"},
		{map[string]string{"MGMT_CIDRS": "10.192.0.0/24"}, "MGMT_CIDRS=10.192.0.0/24: IP_MODE=ipv6 needs an IPv6 management network, e.g. fd00:20::/64"},
		{map[string]string{"MGMT_CIDRS": "fd00:1::/64,fd00:2::/64"}, "MGMT_CIDRS=fd00:1::/64,fd00:2::/64: at most one IPv4 and one IPv6 CIDR"},
		{map[string]string{"SERVICE_CIDR": "10.96.0.0/12"}, "SERVICE_CIDR=10.96.0.0/12: IP_MODE=ipv6 needs an IPv6 network, e.g. fd00:30::/110"},
		{map[string]string{"SERVICE_CIDR": "fd00:30::/125"}, "SERVICE_CIDR=fd00:30::/125: too small"},
		{map[string]string{"POD_NETWORK_CIDR": "fd00:40::/68"}, "POD_NETWORK_CIDR=fd00:40::/68: an IPv6 pod network's prefix length must be a multiple of 8 and at most 120"},
		{map[string]string{"POD_NETWORK_CIDR": "fd00:40::/128"}, "POD_NETWORK_CIDR=fd00:40::/128: "},
		{map[string]string{"CLUSTER_ID": "14"},
			"NAT64_V4_SUBNET_PREFIX=172.18: with the cluster ID 14 added to its second octet it becomes 172.32, outside 172.16.0.0/12; use at most 172.17"},
		{map[string]string{"CLUSTER_ID": "20"}, "becomes 172.38, outside 172.16.0.0/12; use a prefix in 10.0.0.0/8 up to 10.235"},
		{map[string]string{"CLUSTER_ID": "200", "NAT64_V4_SUBNET_PREFIX": "10.100"}, "NAT64_V4_SUBNET_PREFIX=10.100: with the cluster ID 200 added to its second octet it becomes 10.300"},
		{map[string]string{"DIND_LABEL": "foo", "NAT64_V4_SUBNET_PREFIX": "172.31"}, "with the network ID 12 of the DIND_LABEL=foo cluster added"},
		{map[string]string{"SERVICE_CIDR": "fd00:30::/107"}, "SERVICE_CIDR=fd00:30::/107: too large for kubeadm and the API server, which take at most 20 host bits; use at least a /108, e.g. fd00:30::/110"},
	}
	for _, tc := range cases {
		tc.vars["IP_MODE"] = "ipv6"
		_, err := load(tc.vars)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Load(%v): error %v, want it to contain %q", tc.vars, err, tc.wantErr)
		}
	}
}

func TestNAT64WithClusterID(t *testing.T) {
	implementEverything(t)
	c := mustLoad(t, map[string]string{"IP_MODE": "ipv6", "CLUSTER_ID": "10"})
	if want := netip.MustParsePrefix("172.28.0.0/16"); c.NAT64Subnet != want {
		t.Errorf("NAT64Subnet = %v, want %v", c.NAT64Subnet, want)
	}
	// The ID only matters where NAT64 is used.
	if _, err := load(map[string]string{"CLUSTER_ID": "14"}); err != nil {
		t.Errorf("IPv4 with CLUSTER_ID=14: %v", err)
	}
}

func TestPodSubnets(t *testing.T) {
	implementEverything(t)
	cases := []struct {
		mode, pod string
		want      []string // PodSubnet(0), PodSubnet(1), PodSubnet(2)
	}{
		{"ipv4", "10.244.0.0/16", []string{"10.244.2.0/24", "10.244.3.0/24", "10.244.4.0/24"}},
		{"ipv6", "fd00:10:20:30::/72", []string{"fd00:10:20:30:2::/80", "fd00:10:20:30:3::/80", "fd00:10:20:30:4::/80"}},
		{"ipv6", "fd00:10:20:30::/64", []string{"fd00:10:20:30:200::/72", "fd00:10:20:30:300::/72", "fd00:10:20:30:400::/72"}},
		{"ipv6", "fd00:40::/120", []string{"fd00:40::2/128", "fd00:40::3/128", "fd00:40::4/128"}},
	}
	for _, tc := range cases {
		c, err := load(map[string]string{"IP_MODE": tc.mode, "POD_NETWORK_CIDR": tc.pod})
		if err != nil {
			t.Errorf("%s: %v", tc.pod, err)
			continue
		}
		for i, want := range tc.want {
			if got := c.PodSubnet(i); got != netip.MustParsePrefix(want) {
				t.Errorf("%s: PodSubnet(%d) = %v, want %s", tc.pod, i, got, want)
			}
		}
	}
}

func TestCalicoPodDefault(t *testing.T) {
	implementEverything(t)
	c := mustLoad(t, map[string]string{"CNI_PLUGIN": "calico"})
	if want := netip.MustParsePrefix("192.168.0.0/16"); c.PodCIDR() != want {
		t.Errorf("PodCIDR = %v, want %v", c.PodCIDR(), want)
	}
}

func TestOverlappingNetworks(t *testing.T) {
	cases := []struct {
		vars map[string]string
		want []string
	}{
		{map[string]string{"POD_NETWORK_CIDR": "10.96.0.0/16"},
			[]string{"POD_NETWORK_CIDR=10.96.0.0/16: overlaps the service network 10.96.0.0/12 (SERVICE_CIDR)"}},
		{map[string]string{"MGMT_CIDRS": "10.244.0.0/24", "CLUSTER_ID": "3"},
			[]string{"POD_NETWORK_CIDR=10.244.0.0/16: overlaps the management network 10.244.3.0/24 (MGMT_CIDRS)"}},
		{map[string]string{"SERVICE_CIDR": "10.192.0.0/16", "POD_NETWORK_CIDR": "10.192.0.0/16"},
			[]string{"SERVICE_CIDR=10.192.0.0/16: overlaps the management network", "POD_NETWORK_CIDR=10.192.0.0/16: overlaps the service network"}},
	}
	for _, tc := range cases {
		_, err := load(tc.vars)
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Load(%v): error %v, want it to contain %q", tc.vars, err, want)
			}
		}
	}
	// Neighbours are fine.
	if _, err := load(map[string]string{"SERVICE_CIDR": "10.193.0.0/16", "MGMT_CIDRS": "10.192.0.0/24"}); err != nil {
		t.Errorf("adjacent networks: %v", err)
	}
}

func TestAddrPlus(t *testing.T) {
	cases := []struct {
		addr string
		n    int
		want string
	}{
		{"10.0.0.255", 1, "10.0.1.0"},
		{"10.0.255.250", 300, "10.1.1.38"},
		{"fd00::ff", 1, "fd00::100"},
		{"fd00::", 10, "fd00::a"},
	}
	for _, tc := range cases {
		if got := addrPlus(netip.MustParseAddr(tc.addr), tc.n); got != netip.MustParseAddr(tc.want) {
			t.Errorf("addrPlus(%s, %d) = %v, want %s", tc.addr, tc.n, got, tc.want)
		}
	}
}

func TestServiceCIDRSize(t *testing.T) {
	implementEverything(t)
	cases := []struct {
		mode, cidr string
		wantErr    string // "" when accepted
	}{
		{"ipv4", "10.96.0.0/12", ""},
		{"ipv4", "10.96.0.0/28", ""},
		{"ipv4", "10.96.0.0/11", "SERVICE_CIDR=10.96.0.0/11: too large for kubeadm and the API server, which take at most 20 host bits; use at least a /12, e.g. 10.96.0.0/12"},
		{"ipv4", "10.96.0.0/29", "SERVICE_CIDR=10.96.0.0/29: too small to hold the DNS service address (the 10th); use at most a /28, e.g. 10.96.0.0/12"},
		{"ipv6", "fd00:30::/108", ""},
		{"ipv6", "fd00:30::/124", ""},
		{"ipv6", "fd00:30::/107", "SERVICE_CIDR=fd00:30::/107: too large for kubeadm and the API server, which take at most 20 host bits; use at least a /108, e.g. fd00:30::/110"},
		{"ipv6", "fd00:30::/64", "SERVICE_CIDR=fd00:30::/64: too large"},
		{"ipv6", "fd00:30::/125", "SERVICE_CIDR=fd00:30::/125: too small to hold the DNS service address (the 10th); use at most a /124, e.g. fd00:30::/110"},
		{"dual-stack", "fd00:30::/107", "SERVICE_CIDR=fd00:30::/107: too large"},
	}
	for _, tc := range cases {
		c, err := load(map[string]string{"IP_MODE": tc.mode, "SERVICE_CIDR": tc.cidr})
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s %s: %v", tc.mode, tc.cidr, err)
		case tc.wantErr == "" && c.ServiceCIDR() != netip.MustParsePrefix(tc.cidr):
			t.Errorf("%s %s: ServiceCIDR() = %v", tc.mode, tc.cidr, c.ServiceCIDR())
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s %s: error %v, want it to contain %q", tc.mode, tc.cidr, err, tc.wantErr)
		}
	}
}

func TestMaxNodeIndex(t *testing.T) {
	implementEverything(t)
	cases := []struct {
		vars map[string]string
		want int
	}{
		{map[string]string{}, 249}, // 10.192.0.251; .252-.254 are the NAT64's, DNS64's and registry's, .255 the broadcast
		{map[string]string{"CLUSTER_ID": "254", "MGMT_CIDRS": "10.150.0.0/24"}, 249},
		{map[string]string{"IP_MODE": "ipv6"}, 253}, // pod subnet slot 255
		{map[string]string{"IP_MODE": "ipv6", "MGMT_CIDRS": "fd00:20::/112", "POD_NETWORK_CIDR": "fd00:40::/120"}, 253},
		{map[string]string{"IP_MODE": "dual-stack"}, 249},
	}
	for _, tc := range cases {
		c := mustLoad(t, tc.vars)
		last := c.MaxNodeIndex()
		if last != tc.want {
			t.Errorf("%v: MaxNodeIndex() = %d, want %d", tc.vars, last, tc.want)
			continue
		}
		// The last node has an address in the network, short of a broadcast,
		// and a pod subnet within the pod network.
		ip, mgmt := c.NodeIP(last), c.MgmtCIDR()
		if !mgmt.Contains(ip) || (ip.Is4() && ip == addrPlus(mgmt.Addr(), 255)) || ip == c.RegistryIP() {
			t.Errorf("%v: NodeIP(%d) = %v, not a host of %v, or the registry's", tc.vars, last, ip, mgmt)
		}
		if !mgmt.Contains(c.RegistryIP()) || c.RegistryIP().Compare(ip) <= 0 {
			t.Errorf("%v: RegistryIP() = %v, not a host of %v after the last node's", tc.vars, c.RegistryIP(), mgmt)
		}
		if sub := c.PodSubnet(last); !c.PodCIDR().Contains(sub.Addr()) || int(sub.Addr().AsSlice()[c.PodCIDR().Bits()/8]) != 2+last {
			t.Errorf("%v: PodSubnet(%d) = %v", tc.vars, last, sub)
		}
	}
}

func TestLastHost(t *testing.T) {
	cases := []struct {
		cidr string
		want int
	}{
		{"10.0.0.0/24", 254}, {"10.0.0.0/28", 14}, {"10.0.0.0/16", 65534}, {"fd00::/120", 255}, {"fd00::/112", 65535}, {"fd00::/64", 65535},
	}
	for _, tc := range cases {
		if got := lastHost(netip.MustParsePrefix(tc.cidr)); got != tc.want {
			t.Errorf("lastHost(%s) = %d, want %d", tc.cidr, got, tc.want)
		}
	}
}

// NUM_NODES is refused past the last node the networks have room for. Load
// accepts no network that small today, so the check is run on its own.
func TestNumNodesWithinNetworks(t *testing.T) {
	c := &Config{mgmt: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/28")}, pod: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}}
	cases := []struct {
		numNodes string
		wantErr  string
	}{
		{"9", ""},
		{"10", "NUM_NODES=10: the networks have room for kube-node-9 at most (management address 10.1.0.11, pod subnet 10.244.11.0/24); use at most 9"},
		{"101", "NUM_NODES=101: must be a whole number from 0 to 100"},
	}
	for _, tc := range cases {
		l := &loader{get: lookupGet(map[string]string{"NUM_NODES": tc.numNodes})}
		n, given := l.numNodes(c)
		err := errors.Join(l.errs...)
		switch {
		case tc.wantErr == "" && (err != nil || !given || strconv.Itoa(n) != tc.numNodes):
			t.Errorf("NUM_NODES=%s: got %d, %v, %v", tc.numNodes, n, given, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("NUM_NODES=%s: error %v, want it to contain %q", tc.numNodes, err, tc.wantErr)
		}
	}
}

func lookupGet(vars map[string]string) func(string) string {
	return func(key string) string { return vars[key] }
}

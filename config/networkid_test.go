package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLabelNetworkIDs(t *testing.T) {
	want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
	if got := LabelNetworkIDs(); !slices.Equal(got, want) {
		t.Errorf("LabelNetworkIDs() = %v, want %v", got, want)
	}
	LabelNetworkIDs()[0] = 99
	if LabelNetworkIDs()[0] != 1 {
		t.Error("LabelNetworkIDs can be changed by a caller")
	}
	// Load's provisional ID is one of them.
	if id := mustLoad(t, map[string]string{"DIND_LABEL": "foo"}).NetworkID(); !slices.Contains(want, id) {
		t.Errorf("provisional network ID %d not in %v", id, want)
	}
}

func TestNetworkIDFixed(t *testing.T) {
	cases := []struct {
		vars  map[string]string
		fixed bool
	}{
		{map[string]string{}, true},
		{map[string]string{"CLUSTER_ID": "0"}, true},
		{map[string]string{"CLUSTER_ID": "7"}, true},
		{map[string]string{"DIND_LABEL": "foo", "CLUSTER_ID": "7"}, true},
		{map[string]string{"DIND_LABEL": "foo"}, false},
		{map[string]string{"DIND_LABEL": "foo", "CLUSTER_ID": "0"}, false},
	}
	for _, tc := range cases {
		if got := mustLoad(t, tc.vars).NetworkIDFixed(); got != tc.fixed {
			t.Errorf("%v: NetworkIDFixed() = %v, want %v", tc.vars, got, tc.fixed)
		}
	}
}

func TestWithNetworkID(t *testing.T) {
	implementEverything(t)
	cases := []struct {
		vars    map[string]string
		id      int
		mgmt    []string
		nat64   string
		wantErr string
	}{
		{map[string]string{"DIND_LABEL": "foo"}, 1, []string{"10.192.1.0/24"}, "", ""},
		{map[string]string{"DIND_LABEL": "foo"}, 13, []string{"10.192.13.0/24"}, "", ""},
		{map[string]string{"DIND_LABEL": "foo", "MGMT_CIDRS": "10.150.0.0/24"}, 5, []string{"10.150.5.0/24"}, "", ""},
		{map[string]string{"DIND_LABEL": "foo", "IP_MODE": "ipv6"}, 10, []string{"fd00:20:10::/64"}, "172.28.0.0/16", ""},
		{map[string]string{"DIND_LABEL": "foo", "IP_MODE": "dual-stack"}, 3, []string{"10.192.3.0/24", "fd00:20:3::/64"}, "", ""},
		// The same ID is always fine.
		{map[string]string{"CLUSTER_ID": "20"}, 20, []string{"10.192.20.0/24"}, "", ""},
		{map[string]string{}, 0, []string{"10.192.0.0/24"}, "", ""},

		// foo's provisional ID, 12, fits 172.19; 13 does not.
		{map[string]string{"DIND_LABEL": "foo", "IP_MODE": "ipv6", "NAT64_V4_SUBNET_PREFIX": "172.19"}, 13, nil, "",
			"NAT64_V4_SUBNET_PREFIX=172.19: with the network ID 13 of the DIND_LABEL=foo cluster added to its second octet it becomes 172.32, " +
				"outside 172.16.0.0/12; use at most 172.18, or a prefix in 10.0.0.0/8 up to 10.242"},
		{map[string]string{"DIND_LABEL": "foo", "SERVICE_CIDR": "10.192.4.0/24"}, 4, nil, "",
			"SERVICE_CIDR=10.192.4.0/24: overlaps the management network 10.192.4.0/24 (MGMT_CIDRS)"},
		{map[string]string{"DIND_LABEL": "foo"}, 0, nil, "", "network ID 0: a DIND_LABEL cluster without CLUSTER_ID takes one from 1 to 13"},
		{map[string]string{"DIND_LABEL": "foo"}, 14, nil, "", "network ID 14: "},
		{map[string]string{"CLUSTER_ID": "20"}, 3, nil, "",
			"network ID 3: cluster cluster-20 has network ID 20 from its configuration; only a DIND_LABEL cluster without CLUSTER_ID can be given another"},
		{map[string]string{}, 1, nil, "", "network ID 1: cluster default has network ID 0"},
	}
	for _, tc := range cases {
		c := mustLoad(t, tc.vars)
		before := c.MgmtCIDRs()
		got, err := c.WithNetworkID(tc.id)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: WithNetworkID(%d): error %v, want it to contain %q", tc.vars, tc.id, err, tc.wantErr)
			}
			if got != nil {
				t.Errorf("%v: WithNetworkID(%d) returned a config along with its error", tc.vars, tc.id)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: WithNetworkID(%d): %v", tc.vars, tc.id, err)
			continue
		}
		var mgmt []string
		for _, p := range got.MgmtCIDRs() {
			mgmt = append(mgmt, p.String())
		}
		nat64 := ""
		if got.NAT64Subnet.IsValid() {
			nat64 = got.NAT64Subnet.String()
		}
		if got.NetworkID() != tc.id || !slices.Equal(mgmt, tc.mgmt) || nat64 != tc.nat64 {
			t.Errorf("%v: WithNetworkID(%d): ID %d, management %v, NAT64 %q; want %d, %v, %q",
				tc.vars, tc.id, got.NetworkID(), mgmt, nat64, tc.id, tc.mgmt, tc.nat64)
		}
		if want := addrPlus(netip.MustParsePrefix(tc.mgmt[0]).Addr(), 2); got.NodeIP(0) != want {
			t.Errorf("%v: WithNetworkID(%d): NodeIP(0) = %v, want %s", tc.vars, tc.id, got.NodeIP(0), want)
		}
		if !slices.Equal(c.MgmtCIDRs(), before) {
			t.Errorf("%v: WithNetworkID(%d) changed the original: %v, was %v", tc.vars, tc.id, c.MgmtCIDRs(), before)
		}
		if got.ContextName() != c.ContextName() || got.NumNodes != c.NumNodes || got.Kubeconfig() != c.Kubeconfig() {
			t.Errorf("%v: WithNetworkID(%d) changed more than the networks", tc.vars, tc.id)
		}
	}
}

// What the file set is checked again with the new ID.
func TestWithNetworkIDKeepsFileSettings(t *testing.T) {
	implementEverything(t)
	label := "l0" // one whose provisional ID, 1, fits NAT64_V4_SUBNET_PREFIX=172.30
	for i := 1; labelNetworkID(label) != 1; i++ {
		label = fmt.Sprintf("l%d", i)
	}
	file := filepath.Join(t.TempDir(), "config.sh")
	if err := os.WriteFile(file, []byte("MGMT_CIDRS=fd00:7::/64\nNAT64_V4_SUBNET_PREFIX=172.30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(lookupIn(map[string]string{"HOME": "/home/test", "DIND_LABEL": label, "IP_MODE": "ipv6"}), file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.WithNetworkID(1)
	if err != nil || got.NAT64Subnet != netip.MustParsePrefix("172.31.0.0/16") || got.MgmtCIDR() != netip.MustParsePrefix("fd00:7:1::/64") {
		t.Errorf("WithNetworkID(1) = %+v, %v", got, err)
	}
	if _, err := c.WithNetworkID(2); err == nil || !strings.Contains(err.Error(), "NAT64_V4_SUBNET_PREFIX=172.30: ") {
		t.Errorf("WithNetworkID(2): error %v, want it to name NAT64_V4_SUBNET_PREFIX=172.30", err)
	}
}

func TestWithNetworkIDNeedsLoad(t *testing.T) {
	if _, err := (&Config{Label: "foo"}).WithNetworkID(1); err == nil {
		t.Error("a Config not made by Load gave no error")
	}
}

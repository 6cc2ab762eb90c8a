package config

import (
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dind-cluster/dind-cluster/fixed"
)

func lookupIn(vars map[string]string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		v, ok := vars[key]
		return v, ok
	}
}

// load runs Load on vars, with HOME=/home/test unless vars set HOME.
func load(vars map[string]string) (*Config, error) {
	all := map[string]string{"HOME": "/home/test"}
	maps.Copy(all, vars)
	return Load(lookupIn(all), "")
}

func mustLoad(t *testing.T, vars map[string]string) *Config {
	t.Helper()
	c, err := load(vars)
	if err != nil {
		t.Fatalf("Load(%v): %v", vars, err)
	}
	return c
}

// implementEverything lets a test use every IP mode and CNI plugin.
func implementEverything(t *testing.T) {
	modes, plugins := implementedIPModes, implementedCNIPlugins
	implementedIPModes, implementedCNIPlugins = ipModes, cniPlugins
	t.Cleanup(func() { implementedIPModes, implementedCNIPlugins = modes, plugins })
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, nil)
	checks := []struct {
		what      string
		got, want any
	}{
		{"Versions", c.Versions, fixed.Default},
		{"NumNodes", c.NumNodes, 2},
		{"ClusterID", c.ClusterID, 0},
		{"NetworkID", c.NetworkID(), 0},
		{"Label", c.Label, ""},
		{"IPMode", c.IPMode, IPv4},
		{"CNIPlugin", c.CNIPlugin, "bridge"},
		{"MgmtCIDR", c.MgmtCIDR(), netip.MustParsePrefix("10.192.0.0/24")},
		{"MgmtCIDRs", len(c.MgmtCIDRs()), 1},
		{"Gateway", c.Gateway(), netip.MustParseAddr("10.192.0.1")},
		{"NodeIP(0)", c.NodeIP(0), netip.MustParseAddr("10.192.0.2")},
		{"NodeIP(2)", c.NodeIP(2), netip.MustParseAddr("10.192.0.4")},
		{"ServiceCIDR", c.ServiceCIDR(), netip.MustParsePrefix("10.96.0.0/12")},
		{"DNSServiceIP", c.DNSServiceIP(), netip.MustParseAddr("10.96.0.10")},
		{"PodCIDR", c.PodCIDR(), netip.MustParsePrefix("10.244.0.0/16")},
		{"PodSubnet(0)", c.PodSubnet(0), netip.MustParsePrefix("10.244.2.0/24")},
		{"DNS64Prefix", c.DNS64Prefix, netip.Prefix{}},
		{"NAT64Subnet", c.NAT64Subnet, netip.Prefix{}},
		{"APIServerPort", c.APIServerPort, 0},
		{"RsyncPort", c.RsyncPort, 0},
		{"PortForwarder", c.PortForwarder, ""},
		{"RunOnBtrfsAnyway", c.RunOnBtrfsAnyway, false},
		{"BuildKubeadm", c.BuildKubeadm, false},
		{"BuildHyperkube", c.BuildHyperkube, false},
		{"LocalBuild", c.LocalBuild, false},
		{"CacheDir", c.CacheDir, "/home/test/.kubeadm-dind-cluster"},
		{"Kubeconfig", c.Kubeconfig(), "/home/test/.kube/config"},
		{"Kubeconfigs", strings.Join(c.Kubeconfigs, ","), "/home/test/.kube/config"},
		{"AptMirror", c.AptMirror, ""},
		{"KubeadmArgs", len(c.KubeadmArgs), 0},
		{"Debug", c.Debug, false},
		{"NumNodesGiven", c.NumNodesGiven, false},
		{"VersionGiven", c.VersionGiven, false},
		{"Warnings", len(c.Warnings), 0},
		{"NetworkIDFixed", c.NetworkIDFixed(), true},
		{"MaxNodeIndex", c.MaxNodeIndex(), 249},
		{"File", c.File, ""},
	}
	for _, check := range checks {
		if check.got != check.want {
			t.Errorf("%s = %v, want %v", check.what, check.got, check.want)
		}
	}
}

func TestValidKnobs(t *testing.T) {
	forwarder := filepath.Join(t.TempDir(), "forward")
	if err := os.WriteFile(forwarder, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	oldest := fixed.Sets[len(fixed.Sets)-1]
	cases := []struct {
		vars map[string]string
		got  func(*Config) any
		want any
	}{
		{map[string]string{"DIND_K8S_VERSION": oldest.Minor()}, func(c *Config) any { return c.Versions }, oldest},
		{map[string]string{"DIND_K8S_VERSION": oldest.Kubernetes}, func(c *Config) any { return c.Versions }, oldest},
		{map[string]string{"NUM_NODES": "0"}, func(c *Config) any { return c.NumNodes }, 0},
		{map[string]string{"NUM_NODES": "100"}, func(c *Config) any { return c.NumNodes }, 100},
		{map[string]string{"NUM_NODES": ""}, func(c *Config) any { return c.NumNodes }, 2},
		{map[string]string{"CLUSTER_ID": "254"}, func(c *Config) any { return c.ClusterID }, 254},
		{map[string]string{"CLUSTER_ID": "0"}, func(c *Config) any { return c.Suffix() }, ""},
		{map[string]string{"DIND_LABEL": "foo"}, func(c *Config) any { return c.Label }, "foo"},
		{map[string]string{"DIND_LABEL": "a-b9"}, func(c *Config) any { return c.Label }, "a-b9"},
		{map[string]string{"DIND_LABEL": strings.Repeat("a", 40)}, func(c *Config) any { return len(c.Label) }, 40},
		{map[string]string{"IP_MODE": "ipv4"}, func(c *Config) any { return c.IPMode }, IPv4},
		{map[string]string{"CNI_PLUGIN": "bridge"}, func(c *Config) any { return c.CNIPlugin }, "bridge"},
		{map[string]string{"MGMT_CIDRS": "10.150.0.0/24"},
			func(c *Config) any { return c.MgmtCIDR() }, netip.MustParsePrefix("10.150.0.0/24")},
		{map[string]string{"MGMT_CIDRS": "fd00:20::/64, 10.150.0.0/24"},
			func(c *Config) any { return c.MgmtCIDR() }, netip.MustParsePrefix("10.150.0.0/24")},
		{map[string]string{"DIND_SUBNET": "10.150.0.0", "DIND_SUBNET_SIZE": "24"},
			func(c *Config) any { return c.MgmtCIDR() }, netip.MustParsePrefix("10.150.0.0/24")},
		{map[string]string{"MGMT_CIDRS": "10.151.0.0/24", "DIND_SUBNET": "10.150.0.0", "DIND_SUBNET_SIZE": "24"},
			func(c *Config) any { return c.MgmtCIDR() }, netip.MustParsePrefix("10.151.0.0/24")},
		{map[string]string{"SERVICE_CIDR": "10.100.0.0/16"},
			func(c *Config) any { return c.DNSServiceIP() }, netip.MustParseAddr("10.100.0.10")},
		{map[string]string{"POD_NETWORK_CIDR": "10.200.0.0/16"},
			func(c *Config) any { return c.PodSubnet(1) }, netip.MustParsePrefix("10.200.3.0/24")},
		{map[string]string{"DNS64_PREFIX": "fd00:77:64:ff9b::"}, func(c *Config) any { return c.DNS64Prefix }, netip.Prefix{}},
		{map[string]string{"NAT64_V4_SUBNET_PREFIX": "10.100"}, func(c *Config) any { return c.NAT64Subnet }, netip.Prefix{}},
		{map[string]string{"APISERVER_PORT": "8080"}, func(c *Config) any { return c.APIServerPort }, 8080},
		{map[string]string{"APISERVER_PORT": "65535"}, func(c *Config) any { return c.APIServerPort }, 65535},
		{map[string]string{"KUBE_RSYNC_PORT": "8730"}, func(c *Config) any { return c.RsyncPort }, 8730},
		{map[string]string{"DIND_PORT_FORWARDER": forwarder}, func(c *Config) any { return c.PortForwarder }, forwarder},
		{map[string]string{"RUN_ON_BTRFS_ANYWAY": "y"}, func(c *Config) any { return c.RunOnBtrfsAnyway }, true},
		{map[string]string{"KUBEADM_DIND_LOCAL": "1"}, func(c *Config) any { return c.LocalBuild }, true},
		{map[string]string{"DIND_CACHE_DIR": "/cache"}, func(c *Config) any { return c.CacheDir }, "/cache"},
		{map[string]string{"KUBECONFIG": "/a/config"}, func(c *Config) any { return c.Kubeconfig() }, "/a/config"},
		{map[string]string{"KUBECONFIG": string(filepath.ListSeparator) + "/a/b" + string(filepath.ListSeparator) + "/c"},
			func(c *Config) any { return c.Kubeconfig() }, "/a/b"},
		{map[string]string{"HOME": "", "DIND_CACHE_DIR": "/cache", "KUBECONFIG": "/k"},
			func(c *Config) any { return c.Kubeconfig() }, "/k"},
		{map[string]string{"DIND_APT_MIRROR": "http://deb.example/debian"}, func(c *Config) any { return c.AptMirror }, "http://deb.example/debian"},
		{map[string]string{"DIND_KUBEADM_ARGS": "  --v=5\t--skip-phases=addon/kube-proxy "},
			func(c *Config) any { return strings.Join(c.KubeadmArgs, "|") }, "--v=5|--skip-phases=addon/kube-proxy"},
		{map[string]string{"DIND_DEBUG": "1"}, func(c *Config) any { return c.Debug }, true},
		{map[string]string{"NUM_NODES": "2"}, func(c *Config) any { return c.NumNodesGiven }, true},
		{map[string]string{"DIND_K8S_VERSION": fixed.Default.Kubernetes}, func(c *Config) any { return c.VersionGiven }, true},
	}
	for _, tc := range cases {
		c, err := load(tc.vars)
		if err != nil {
			t.Errorf("Load(%v): %v", tc.vars, err)
			continue
		}
		if got := tc.got(c); got != tc.want {
			t.Errorf("Load(%v): got %v, want %v", tc.vars, got, tc.want)
		}
	}
}

func TestInvalidKnobs(t *testing.T) {
	notExecutable := filepath.Join(t.TempDir(), "forward")
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		vars    map[string]string
		wantErr string // every error starts with VAR=value
	}{
		{map[string]string{"DIND_K8S_VERSION": "1.20"}, "DIND_K8S_VERSION=1.20: "},
		{map[string]string{"BUILD_KUBEADM": "y"}, "BUILD_KUBEADM=y: building from a Kubernetes checkout is not implemented yet"},
		{map[string]string{"BUILD_HYPERKUBE": "y"}, "BUILD_HYPERKUBE=y: "},
		{map[string]string{"NUM_NODES": "-1"}, "NUM_NODES=-1: must be a whole number from 0 to 100"},
		{map[string]string{"NUM_NODES": "101"}, "NUM_NODES=101: "},
		{map[string]string{"NUM_NODES": "+3"}, "NUM_NODES=+3: "},
		{map[string]string{"NUM_NODES": "two"}, "NUM_NODES=two: "},
		{map[string]string{"CLUSTER_ID": "255"}, "CLUSTER_ID=255: must be a whole number from 0 to 254"},
		{map[string]string{"CLUSTER_ID": "0x10"}, "CLUSTER_ID=0x10: "},
		{map[string]string{"DIND_LABEL": "Foo"}, "DIND_LABEL=Foo: must be at most 40 lower-case letters"},
		{map[string]string{"DIND_LABEL": "foo_bar"}, "DIND_LABEL=foo_bar: "},
		{map[string]string{"DIND_LABEL": "-foo"}, "DIND_LABEL=-foo: "},
		{map[string]string{"DIND_LABEL": "foo-"}, "DIND_LABEL=foo-: "},
		{map[string]string{"DIND_LABEL": strings.Repeat("a", 41)}, "DIND_LABEL=" + strings.Repeat("a", 41) + ": "},
		{map[string]string{"DIND_LABEL": "default"}, "DIND_LABEL=default: is the name of the default cluster"},
		{map[string]string{"DIND_LABEL": "foo-3"}, "DIND_LABEL=foo-3: must not end in -NUMBER, which is how CLUSTER_ID is appended; set DIND_LABEL=foo CLUSTER_ID=3 instead"},
		{map[string]string{"IP_MODE": "ipv5"}, "IP_MODE=ipv5: must be one of ipv4, ipv6, dual-stack"},
		{map[string]string{"CNI_PLUGIN": "calico"}, "CNI_PLUGIN=calico: Calico cannot be built here: the Go module proxy serves none of its releases"},
		{map[string]string{"CNI_PLUGIN": "weave"}, "CNI_PLUGIN=weave: Weave Net cannot be built here: the Go module proxy does not serve github.com/weaveworks/weave"},
		{map[string]string{"CNI_PLUGIN": "cilium"}, "CNI_PLUGIN=cilium: must be one of bridge, ptp, flannel, calico, weave, kube-router"},
		{map[string]string{"CNI_PLUGIN": "weave"}, "; use one of bridge, ptp, flannel, kube-router"},
		{map[string]string{"MGMT_CIDRS": "10.192.0.0/16"}, "MGMT_CIDRS=10.192.0.0/16: an IPv4 management network must be a /24, e.g. 10.192.0.0/24"},
		{map[string]string{"MGMT_CIDRS": "10.192.7.0/24"}, "MGMT_CIDRS=10.192.7.0/24: the third octet is reserved for the cluster ID and must be 0, e.g. 10.192.0.0/24"},
		{map[string]string{"MGMT_CIDRS": "10.192.0.5/24"}, "MGMT_CIDRS=10.192.0.5/24: has address bits set after the /24 prefix; use 10.192.0.0/24"},
		{map[string]string{"MGMT_CIDRS": "banana"}, "MGMT_CIDRS=banana: not a CIDR"},
		{map[string]string{"MGMT_CIDRS": "::ffff:10.192.0.0/120"}, "MGMT_CIDRS=::ffff:10.192.0.0/120: write an IPv4 network in dotted form"},
		{map[string]string{"MGMT_CIDRS": "10.1.0.0/24,10.2.0.0/24"}, "MGMT_CIDRS=10.1.0.0/24,10.2.0.0/24: at most one IPv4 and one IPv6 CIDR"},
		{map[string]string{"MGMT_CIDRS": "fd00:20::/64"}, "MGMT_CIDRS=fd00:20::/64: IP_MODE=ipv4 needs an IPv4 management network, e.g. 10.192.0.0/24"},
		{map[string]string{"DIND_SUBNET": "10.192.0.0"}, "DIND_SUBNET=10.192.0.0: is only used together with DIND_SUBNET_SIZE; set MGMT_CIDRS instead"},
		{map[string]string{"DIND_SUBNET_SIZE": "24"}, "DIND_SUBNET_SIZE=24: is only used together with DIND_SUBNET"},
		{map[string]string{"DIND_SUBNET": "10.1.0.0", "DIND_SUBNET_SIZE": "16"}, "DIND_SUBNET/DIND_SUBNET_SIZE=10.1.0.0/16: an IPv4 management network must be a /24"},
		{map[string]string{"SERVICE_CIDR": "fd00:30::/110"}, "SERVICE_CIDR=fd00:30::/110: IP_MODE=ipv4 needs an IPv4 network, e.g. 10.96.0.0/12"},
		{map[string]string{"SERVICE_CIDR": "10.96.0.0/29"}, "SERVICE_CIDR=10.96.0.0/29: too small to hold the DNS service address (the 10th); use at most a /28, e.g. 10.96.0.0/12"},
		{map[string]string{"SERVICE_CIDR": "10.0.0.0/11"}, "SERVICE_CIDR=10.0.0.0/11: too large for kubeadm and the API server, which take at most 20 host bits; use at least a /12, e.g. 10.96.0.0/12"},
		{map[string]string{"SERVICE_CIDR": "10.0.0.0/8"}, "SERVICE_CIDR=10.0.0.0/8: too large"},
		{map[string]string{"SERVICE_CIDR": "10.96.0.0"}, "SERVICE_CIDR=10.96.0.0: not a CIDR"},
		{map[string]string{"POD_NETWORK_CIDR": "10.244.0.0/17"}, "POD_NETWORK_CIDR=10.244.0.0/17: an IPv4 pod network must be a /16"},
		{map[string]string{"POD_NETWORK_CIDR": "fd00:40::/72"}, "POD_NETWORK_CIDR=fd00:40::/72: IP_MODE=ipv4 needs an IPv4 network"},
		{map[string]string{"DNS64_PREFIX": "10.0.0.1"}, "DNS64_PREFIX=10.0.0.1: must be an IPv6 address whose last 32 bits are zero"},
		{map[string]string{"DNS64_PREFIX": "fd00::1"}, "DNS64_PREFIX=fd00::1: "},
		{map[string]string{"DNS64_PREFIX": "fd00::/96"}, "DNS64_PREFIX=fd00::/96: "},
		{map[string]string{"NAT64_V4_SUBNET_PREFIX": "172.18.0"}, "NAT64_V4_SUBNET_PREFIX=172.18.0: must be the first two octets of an IPv4 /16"},
		{map[string]string{"NAT64_V4_SUBNET_PREFIX": "10.256"}, "NAT64_V4_SUBNET_PREFIX=10.256: must be the first two octets"},
		{map[string]string{"NAT64_V4_SUBNET_PREFIX": "192.168"}, "NAT64_V4_SUBNET_PREFIX=192.168: must lie in the private network 10.0.0.0/8 or 172.16.0.0/12"},
		{map[string]string{"NAT64_V4_SUBNET_PREFIX": "172.40"}, "NAT64_V4_SUBNET_PREFIX=172.40: must lie in the private network"},
		{map[string]string{"APISERVER_PORT": "0"}, "APISERVER_PORT=0: must be a port number from 1 to 65535, or empty"},
		{map[string]string{"APISERVER_PORT": "70000"}, "APISERVER_PORT=70000: "},
		{map[string]string{"KUBE_RSYNC_PORT": "rsync"}, "KUBE_RSYNC_PORT=rsync: must be a port number"},
		{map[string]string{"DIND_PORT_FORWARDER": "/does/not/exist"}, "DIND_PORT_FORWARDER=/does/not/exist: "},
		{map[string]string{"DIND_PORT_FORWARDER": notExecutable}, "DIND_PORT_FORWARDER=" + notExecutable + ": is not an executable file"},
		{map[string]string{"HOME": ""}, "HOME is not set, so DIND_CACHE_DIR has no default"},
		{map[string]string{"HOME": "", "DIND_CACHE_DIR": "/c"}, "HOME is not set, so KUBECONFIG has no default"},
	}
	for _, tc := range cases {
		c, err := load(tc.vars)
		if err == nil {
			t.Errorf("Load(%v) = %+v, want error %q", tc.vars, c, tc.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Load(%v): error %q, want it to contain %q", tc.vars, err, tc.wantErr)
		}
		if c != nil {
			t.Errorf("Load(%v) returned a config along with its error", tc.vars)
		}
	}
}

func TestRoutingAddonsTakeEveryIPMode(t *testing.T) {
	for _, plugin := range []string{"flannel", "kube-router"} {
		for _, mode := range []string{"ipv4", "ipv6", "dual-stack"} {
			if _, err := load(map[string]string{"IP_MODE": mode, "CNI_PLUGIN": plugin}); err != nil {
				t.Errorf("%s with %s: %v", plugin, mode, err)
			}
		}
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, err := load(map[string]string{"NUM_NODES": "many", "CLUSTER_ID": "999", "MGMT_CIDRS": "10.0.0.0/8"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"NUM_NODES=many", "CLUSTER_ID=999", "MGMT_CIDRS=10.0.0.0/8"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %s", err, want)
		}
	}
}

func TestConfigFile(t *testing.T) {
	home := t.TempDir()
	explicit := filepath.Join(t.TempDir(), "my.sh")
	if err := os.WriteFile(explicit, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	file, err := configFile(lookupIn(map[string]string{"HOME": home}))
	if file != "" || err != nil {
		t.Errorf("no config file: got %q, %v; want none", file, err)
	}

	file, err = configFile(lookupIn(map[string]string{"HOME": home, "DIND_CONFIG": explicit}))
	if file != explicit || err != nil {
		t.Errorf("DIND_CONFIG: got %q, %v; want %q", file, err, explicit)
	}

	missing := filepath.Join(home, "missing.sh")
	_, err = configFile(lookupIn(map[string]string{"HOME": home, "DIND_CONFIG": missing}))
	if err == nil || !strings.Contains(err.Error(), "DIND_CONFIG="+missing+": ") {
		t.Errorf("missing DIND_CONFIG: error %v, want it to name DIND_CONFIG", err)
	}

	standard := filepath.Join(home, ".kubeadm-dind-cluster", "config.sh")
	if err := os.MkdirAll(filepath.Dir(standard), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(standard, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file, err = configFile(lookupIn(map[string]string{"HOME": home}))
	if file != standard || err != nil {
		t.Errorf("standard file: got %q, %v; want %q", file, err, standard)
	}
}

func TestFromEnvironment(t *testing.T) {
	home := t.TempDir()
	config := filepath.Join(home, "dind.sh")
	if err := os.WriteFile(config, []byte("NUM_NODES=5\nCLUSTER_ID=\"${CLUSTER_ID:-3}\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("DIND_CONFIG", config)
	t.Setenv("NUM_NODES", "")
	t.Setenv("CLUSTER_ID", "4")
	c, err := FromEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	if c.File != config || c.NumNodes != 5 || c.ClusterID != 4 {
		t.Errorf("got File=%q NumNodes=%d ClusterID=%d, want %q 5 4", c.File, c.NumNodes, c.ClusterID, config)
	}
}

func TestEnvironmentWinsOverFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.sh")
	text := "NUM_NODES=5\nCLUSTER_ID=\"${CLUSTER_ID:-3}\"\nexport DIND_LABEL=foo\nCNI_PLUGIN=bridge\n"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": "/home/test", "NUM_NODES": "1", "DIND_LABEL": ""}
	c, err := Load(lookupIn(env), file)
	if err != nil {
		t.Fatal(err)
	}
	// NUM_NODES comes from the environment, CLUSTER_ID from the file's default,
	// and DIND_LABEL, empty in the environment, from the file.
	if c.NumNodes != 1 || c.ClusterID != 3 || c.Label != "foo" || c.File != file {
		t.Errorf("got NumNodes=%d ClusterID=%d Label=%q File=%q, want 1 3 foo %q", c.NumNodes, c.ClusterID, c.Label, c.File, file)
	}
}

func TestLoadBadFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.sh")
	if err := os.WriteFile(file, []byte("# fine\nNUM_NODES=2\nset -e\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(lookupIn(nil), file)
	if err == nil || !strings.Contains(err.Error(), file+":3: ") {
		t.Errorf("error %v, want it to name %s:3", err, file)
	}
	if _, err := Load(lookupIn(nil), filepath.Join(t.TempDir(), "missing.sh")); err == nil {
		t.Error("a missing file gave no error")
	}
}

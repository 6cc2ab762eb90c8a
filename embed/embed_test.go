package embed

import (
	"strings"
	"testing"
)

func sample() Values {
	return Values{
		Kubernetes: "v1.37.2", Images: Images{Pause: "registry.k8s.io/pause:3.10.2"},
		ClusterName: "default", Token: "abcdef.0123456789abcdef", CACertData: "Q0EgUEVN", MasterIP: "10.192.0.2", MasterIPs: []string{"10.192.0.2"}, APIServerPort: 6443, APIServerEndpoint: "10.192.0.2:6443",
		ServiceCIDR: "10.96.0.0/12", PodNetworkCIDR: "10.244.0.0/16", DNSDomain: "cluster.local",
		CgroupV1: true, KubeProxyMode: "iptables", PreflightIgnore: []string{"SystemVerification", "Swap"},
		NodeName: "kube-node-1", NodeIPs: []string{"10.192.0.3"}, PodSubnets: []string{"10.244.3.0/24"},
	}
}

func TestKubeadmConfigsCarryTheCluster(t *testing.T) {
	init, err := Render("kubeadm/v1beta4/init.yaml.tmpl", sample())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"kubernetesVersion: v1.37.2", "advertiseAddress: 10.192.0.2", "imagePullPolicy: Never",
		"  - SystemVerification\n  - Swap\n", "podSubnet: 10.244.0.0/16", "serviceSubnet: 10.96.0.0/12",
		"failCgroupV1: false", "cgroupDriver: systemd", "mode: iptables", "  - 127.0.0.1\n",
		"token: abcdef.0123456789abcdef", "directory: /etc/kubeadm/patches", "controlPlaneEndpoint: \"10.192.0.2:6443\"", "name: leader-elect\n    value: \"false\"", "nodeStatusUpdateFrequency: 2s",
	} {
		if !strings.Contains(string(init), want) {
			t.Errorf("init configuration lacks %q:\n%s", want, init)
		}
	}
	v := sample()
	v.CgroupV1 = false
	init, _ = Render("kubeadm/v1beta4/init.yaml.tmpl", v)
	if strings.Contains(string(init), "failCgroupV1") {
		t.Error("failCgroupV1 is set on a cgroup v2 host")
	}
	join, err := Render("kubeadm/v1beta4/join.yaml.tmpl", sample())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kubeConfigPath: /etc/kubeadm/discovery.conf", "tlsBootstrapToken: abcdef.0123456789abcdef",
		"name: kube-node-1", "value: 10.192.0.3"} {
		if !strings.Contains(string(join), want) {
			t.Errorf("join configuration lacks %q:\n%s", want, join)
		}
	}
	if strings.Contains(string(join), "unsafeSkipCAVerification") {
		t.Error("a joining node does not verify the API server")
	}
	discovery, err := Render("kubeadm/discovery.conf.tmpl", sample())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server: https://10.192.0.2:6443", "certificate-authority-data: Q0EgUEVN\n", "user: discovery"} {
		if !strings.Contains(string(discovery), want) {
			t.Errorf("discovery kubeconfig lacks %q:\n%s", want, discovery)
		}
	}
}

func TestMissingTemplateIsAnError(t *testing.T) {
	if _, err := Render("kubeadm/v9/none.tmpl", sample()); err == nil {
		t.Error("a missing template rendered")
	}
}

func TestNodeFilesArePlacedWithTheirModes(t *testing.T) {
	files, err := NodeFiles(sample())
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]File{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	for path, mode := range map[string]int64{
		"/usr/local/bin/dind-entrypoint":         0o755,
		"/usr/local/bin/dindnet":                 0o755,
		"/etc/containerd/config.toml":            0o644,
		"/etc/systemd/system/kubelet.service":    0o644,
		"/etc/systemd/system/containerd.service": 0o644,
	} {
		f, ok := byPath[path]
		if !ok || f.Mode != mode {
			t.Errorf("%s: present %v, mode %o; want mode %o", path, ok, f.Mode, mode)
		}
	}
	if c := string(byPath["/etc/containerd/config.toml"].Content); !strings.Contains(c, "sandbox = 'registry.k8s.io/pause:3.10.2'") {
		t.Errorf("containerd's sandbox image is not the pause kubeadm expects:\n%s", c)
	}
}

func TestBridgeConfigurationUsesTheNodesSubnet(t *testing.T) {
	out, err := Render("cni/bridge.conflist.tmpl", sample())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"subnet": "10.244.3.0/24"`) {
		t.Errorf("bridge configuration:\n%s", out)
	}
}

package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dind-cluster/dind-cluster/steps/docker"
)

func TestBtrfsIsRefusedUnlessAskedFor(t *testing.T) {
	err := guardBtrfs(docker.Engine{StorageDriver: "btrfs"}, false)
	if err == nil || !strings.Contains(err.Error(), "RUN_ON_BTRFS_ANYWAY") || !strings.Contains(err.Error(), "38337") {
		t.Errorf("btrfs engine: %v; want a refusal naming RUN_ON_BTRFS_ANYWAY and the seed's reasons", err)
	}
	if err := guardBtrfs(docker.Engine{StorageDriver: "btrfs"}, true); err != nil {
		t.Errorf("RUN_ON_BTRFS_ANYWAY=y: %v", err)
	}
	if err := guardBtrfs(docker.Engine{StorageDriver: "overlay2"}, false); err != nil {
		t.Errorf("overlay2: %v", err)
	}
}

// testRun is a run of a create of the cluster of env.
func testRun(t *testing.T, env map[string]string) *run {
	cfg := testConfig(t, env)
	r := &run{Cluster: New(cfg, nil), decision: Decision{Action: Create, Nodes: nodesUpTo(cfg, cfg.NumNodes)}}
	r.token = "abcdef.0123456789abcdef"
	var err error
	if r.ca, err = newClusterCA(time.Now()); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNodesGetSubnetsRoutesAndConfigs(t *testing.T) {
	c := testRun(t, map[string]string{"CLUSTER_ID": "5"})
	nodes := c.decision.Nodes
	if len(nodes) != 3 || nodes[0].Name != "kube-master-cluster-5" || nodes[2].IP != "10.192.5.4" {
		t.Fatalf("nodes %+v", nodes)
	}
	if got := c.routes(nodes[1], nodes); got != "10.244.2.0/24 via 10.192.5.2\n10.244.4.0/24 via 10.192.5.4\n" {
		t.Errorf("routes of kube-node-1:\n%s", got)
	}
	paths := nodeFilesByPath(t, c, nodes[0], nodes)
	if !strings.Contains(paths["/etc/kubeadm/init.yaml"], "advertiseAddress: 10.192.5.2") ||
		!strings.Contains(paths["/etc/cni/net.d/10-dindnet.conflist"], `"subnet": "10.244.2.0/24"`) ||
		paths["/etc/dind/network.env"] != "POD_SUBNETS=\"10.244.2.0/24\"\nPOD_NETWORK_CIDRS=\"10.244.0.0/16\"\nSERVICE_CIDRS=\"10.96.0.0/12\"\n" {
		t.Errorf("master files: %v", paths)
	}
	patch := paths["/etc/kubeadm/patches/corednsdeployment+strategic.yaml"]
	if !strings.Contains(patch, "periodSeconds: 1") {
		t.Error("the master lacks the patch that probes CoreDNS every second")
	}
	if !regexp.MustCompile(`KUBERNETES_SERVICE_HOST\s+value: "10.192.5.2"`).MatchString(patch) {
		t.Errorf("CoreDNS is not pointed at the API server's address:\n%s", patch)
	}
	if paths["/etc/kubernetes/pki/ca.crt"] != string(c.ca.Cert) || paths["/etc/kubernetes/pki/ca.key"] != string(c.ca.Key) {
		t.Error("the master is not given the cluster's CA for kubeadm init to use")
	}
	files, err := c.nodeFiles(nodes[2], nodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == "/etc/kubernetes/pki/ca.key" {
			t.Error("a worker is given the CA's key")
		}
		if f.Path != "/etc/kubeadm/discovery.conf" {
			continue
		}
		data := regexp.MustCompile(`certificate-authority-data: (\S+)`).FindSubmatch(f.Content)
		if data == nil {
			t.Fatalf("discovery.conf has no CA:\n%s", f.Content)
		}
		ca, err := base64.StdEncoding.DecodeString(string(data[1]))
		if _, caErr := parseCACert(ca); err != nil || caErr != nil || string(ca) != string(c.ca.Cert) {
			t.Errorf("discovery.conf does not carry the cluster's CA (%v)", err)
		}
		return
	}
	t.Error("a worker has no discovery.conf to join with")
}

// A worker's kubelet must find valid credentials, or it bootstraps, which
// waits for the controller-manager.
func TestWorkersComeWithKubeletCredentials(t *testing.T) {
	c := testRun(t, map[string]string{})
	nodes := c.decision.Nodes
	paths, links := map[string]string{}, map[string]string{}
	files, err := c.nodeFiles(nodes[1], nodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		paths[f.Path] = string(f.Content)
		if f.Link != "" {
			links[f.Path] = f.Link
		}
	}
	// kubelet renews its credentials into a new pair and points this link
	// at it; it refuses to renew over a plain file.
	pair := links["/var/lib/kubelet/pki/kubelet-client-current.pem"]
	if !regexp.MustCompile(`^/var/lib/kubelet/pki/kubelet-client-\d{4}(-\d\d){5}\.pem$`).MatchString(pair) {
		t.Fatalf("kubelet-client-current.pem links to %q; want a link to a kubelet-client-DATE.pem", pair)
	}
	conf := paths["/etc/kubernetes/kubelet.conf"]
	if !strings.Contains(conf, "server: https://10.192.0.2:6443") ||
		!strings.Contains(conf, "client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem") {
		t.Errorf("kubelet.conf of kube-node-1:\n%s", conf)
	}
	keyPair, err := tls.X509KeyPair([]byte(paths[pair]), []byte(paths[pair]))
	if err != nil {
		t.Fatalf("kubelet credentials of kube-node-1: %v", err)
	}
	cert := keyPair.Leaf
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the kubelet's client certificate is not one the cluster's CA signed for clients: %v", err)
	}
	if cert.Subject.CommonName != "system:node:kube-node-1" || !slices.Equal(cert.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("kubelet certificate for %s in %v; the node authorizer wants system:node:kube-node-1 in system:nodes",
			cert.Subject.CommonName, cert.Subject.Organization)
	}
	if !strings.Contains(string(joinConfig(t, c, nodes[1])), "FileAvailable--etc-kubernetes-kubelet.conf") {
		t.Error("kubeadm join would refuse the kubelet.conf the worker comes with")
	}
	files, _ = c.nodeFiles(nodes[0], nodes)
	for _, f := range files {
		if strings.HasPrefix(f.Path, "/var/lib/kubelet/pki/") {
			t.Errorf("the master is given %s: kubeadm init makes its kubelet's credentials", f.Path)
		}
	}
}

func joinConfig(t *testing.T, c *run, n Node) []byte {
	t.Helper()
	files, err := c.nodeFiles(n, c.decision.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == "/etc/kubeadm/join.yaml" {
			return f.Content
		}
	}
	t.Fatalf("%s has no join.yaml", n.Name)
	return nil
}

func TestTokensHaveKubeadmsForm(t *testing.T) {
	for i := 0; i < 20; i++ {
		tok := newToken()
		if len(tok) != 23 || tok[6] != '.' || strings.ToLower(tok) != tok {
			t.Fatalf("token %q is not [a-z0-9]{6}.[a-z0-9]{16}", tok)
		}
	}
}

func TestCRIPluginStatusIsRead(t *testing.T) {
	listing := func(status string) []string {
		return []string{
			"TYPE                                      ID                       PLATFORMS      STATUS",
			"io.containerd.grpc.v1                     containers               -              ok",
			"io.containerd.grpc.v1                     cri                      -              " + status,
		}
	}
	for _, status := range []string{"ok", "error", "skip"} {
		if got := criStatus(listing(status)); got != status {
			t.Errorf("CRI plugin listed as %s: read %q", status, got)
		}
	}
	if got := criStatus(listing("ok")[:2]); got != "" {
		t.Errorf("no CRI plugin listed: read %q, want nothing", got)
	}
}

// nodeFilesByPath are the contents of node n's files, by path.
func nodeFilesByPath(t *testing.T, r *run, n Node, all []Node) map[string]string {
	t.Helper()
	files, err := r.nodeFiles(n, all)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, f := range files {
		paths[f.Path] = string(f.Content)
	}
	return paths
}

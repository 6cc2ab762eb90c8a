package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps/build"
)

// values are what the kubeadm and CNI templates of node n are rendered from.
func (r *run) values(n Node) embed.Values {
	master := node(r.Cfg, 0)
	return embed.Values{
		Kubernetes:        r.Cfg.Versions.Kubernetes,
		Images:            build.Images(r.Cfg.Versions),
		ClusterName:       r.Cfg.ClusterName(),
		Token:             r.token,
		CACertData:        base64.StdEncoding.EncodeToString(r.ca.Cert),
		MasterIP:          master.IP,
		MasterIPs:         strs(r.Cfg.NodeIPs(0)),
		APIServerPort:     apiServerPort,
		APIServerEndpoint: net.JoinHostPort(master.IP, strconv.Itoa(apiServerPort)),
		ServiceCIDR:       strings.Join(strs(r.Cfg.ServiceCIDRs()), ","),
		PodNetworkCIDR:    strings.Join(strs(r.Cfg.PodCIDRs()), ","),
		DNSDomain:         "cluster.local",
		CgroupV1:          r.engine.CgroupVersion == "1",
		KubeProxyMode:     "iptables",
		PreflightIgnore:   preflightIgnore(n),
		NodeName:          n.Name,
		NodeIPs:           strs(r.Cfg.NodeIPs(n.Index)),
		PodSubnets:        strs(r.Cfg.PodSubnets(n.Index)),
		PodResolvConf:     map[bool]string{true: podResolvConf}[r.Cfg.IPMode == config.IPv6],
		CNI:               r.cniValues(),
	}
}

// strs spells addresses or networks.
func strs[T fmt.Stringer](items []T) []string {
	var out []string
	for _, x := range items {
		out = append(out, x.String())
	}
	return out
}

// preflightIgnore are the kubeadm preflight errors node n raises by design.
// A node is a container: kubeadm cannot read the kernel's config nor load
// modules, and the host decides about swap. A worker comes with its kubelet
// credentials (see kubeletCredentials).
func preflightIgnore(n Node) []string {
	ignore := []string{"SystemVerification", "Swap", "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables"}
	if n.Index != 0 {
		ignore = append(ignore, "FileAvailable--etc-kubernetes-kubelet.conf")
	}
	return ignore
}

// newToken makes a kubeadm bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}.
func newToken() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 22)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b[:6]) + "." + string(b[6:])
}

// nodeFiles are the files that make node n part of this cluster: its pod
// subnet, the routes to the others' and its kubeadm configuration.
// all are the cluster's nodes, n among them.
func (r *run) nodeFiles(n Node, all []Node) ([]embed.File, error) {
	v := r.values(n)
	var files []embed.File
	if !r.cniRoutes() {
		cni, err := embed.Render("cni/"+r.Cfg.CNIPlugin+".conflist.tmpl", v)
		if err != nil {
			return nil, err
		}
		files = append(files, embed.File{Path: "/etc/cni/net.d/10-dindnet.conflist", Mode: 0o644, Content: cni})
	}
	files = append(files, []embed.File{
		{Path: "/etc/dind/network.env", Mode: 0o644, Content: []byte(fmt.Sprintf(
			"POD_SUBNETS=%q\nPOD_NETWORK_CIDRS=%q\nSERVICE_CIDRS=%q\n", strings.Join(v.PodSubnets, " "),
			strings.ReplaceAll(v.PodNetworkCIDR, ",", " "), strings.ReplaceAll(v.ServiceCIDR, ",", " ")))},
		{Path: "/etc/dind/routes", Mode: 0o644, Content: []byte(r.routes(n, all))},
	}...)
	files = append(files, r.nat64NodeFiles()...)
	kubeadm := map[string]string{"/etc/kubeadm/join.yaml": "kubeadm/v1beta4/join.yaml.tmpl",
		"/etc/kubeadm/discovery.conf":  "kubeadm/discovery.conf.tmpl",
		"/etc/kubernetes/kubelet.conf": "kubeadm/kubelet.conf.tmpl"}
	if n.Index != 0 {
		now := time.Now()
		creds, err := r.ca.kubeletCredentials(n.Name, now)
		if err != nil {
			return nil, fmt.Errorf("making the kubelet credentials of %s: %w", n.Name, err)
		}
		// As kubelet keeps them: the "current" pair is a link, which kubelet
		// points at the pair it renews the credentials into.
		pair := "/var/lib/kubelet/pki/kubelet-client-" + now.UTC().Format("2006-01-02-15-04-05") + ".pem"
		files = append(files, embed.File{Path: pair, Mode: 0o600, Content: creds},
			embed.File{Path: "/var/lib/kubelet/pki/kubelet-client-current.pem", Mode: 0o777, Link: pair})
	} else {
		kubeadm = map[string]string{"/etc/kubeadm/init.yaml": "kubeadm/v1beta4/init.yaml.tmpl",
			"/etc/kubeadm/patches/corednsdeployment+strategic.yaml": "kubeadm/patches/corednsdeployment+strategic.yaml.tmpl"}
		files = append(files,
			embed.File{Path: "/etc/kubernetes/pki/ca.crt", Mode: 0o644, Content: r.ca.Cert},
			embed.File{Path: "/etc/kubernetes/pki/ca.key", Mode: 0o600, Content: r.ca.Key})
	}
	for path, tmpl := range kubeadm {
		content, err := embed.Render(tmpl, v)
		if err != nil {
			return nil, err
		}
		files = append(files, embed.File{Path: path, Mode: 0o600, Content: content})
	}
	slices.SortFunc(files, func(a, b embed.File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// routes lead from node n to the pod subnet of every other of all.
func (r *run) routes(n Node, all []Node) string {
	var b strings.Builder
	for _, other := range all {
		if other.Index != n.Index {
			b.WriteString(r.routesTo(other))
		}
	}
	if r.Cfg.IPMode == config.IPv6 {
		fmt.Fprintf(&b, "%s via %s\n", r.Cfg.DNS64Prefix, r.Cfg.NAT64IP())
	}
	return b.String()
}

// routesTo lead to node n's pod subnets through its address of their family.
func (r *run) routesTo(n Node) string {
	var b strings.Builder
	if r.cniRoutes() {
		return ""
	}
	for _, subnet := range r.Cfg.PodSubnets(n.Index) {
		for _, addr := range r.Cfg.NodeIPs(n.Index) {
			if addr.Is6() == subnet.Addr().Is6() {
				fmt.Fprintf(&b, "%s via %s\n", subnet, addr)
			}
		}
	}
	return b.String()
}

// Package cluster brings a cluster of node containers up with kubeadm, stops,
// resumes, snapshots, restores and removes it. Every Docker object it makes
// carries the cluster's labels, so that clean finds all of them, and only them.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/engine"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// apiServerPort is where the API server listens inside the cluster network.
const apiServerPort = 6443

// Cluster is what the steps of a plan share.
type Cluster struct {
	Cfg *config.Config
	Out io.Writer

	Engine    engine.Engine
	NodeImage string
	Kubectl   string // a kubectl of the cluster's version
	// Port is the API server's port on the Docker host's 127.0.0.1.
	Port int
	// ForceRestore makes up go back to the snapshot whatever the nodes' state.
	ForceRestore bool
	// InitArgs are passed on to kubeadm init when up creates the cluster.
	InitArgs []string
	// volumes are the cluster's volumes known to exist, which runNode need
	// not create; ours are the names of the cluster's containers, as Plan
	// found them.
	volumes, ours map[string]bool
	// expected are nodes beyond NUM_NODES that readiness waits for too.
	expected []string
	token    string
	ca       clusterCA
	engineID string
	builder  *build.Builder // the supply chain prepare ran
}

// New prepares a cluster of cfg.
func New(cfg *config.Config, out io.Writer) *Cluster {
	return &Cluster{Cfg: cfg, Out: out}
}

// Node is one node container.
type Node struct {
	Index int // 0 for the master
	Name  string
	IP    string
}

// Nodes are the cluster's nodes as configured, master first.
func (c *Cluster) Nodes() []Node {
	var out []Node
	for i, name := range c.Cfg.NodeNames() {
		out = append(out, Node{Index: i, Name: name, IP: c.Cfg.NodeIP(i).String()})
	}
	return out
}

// Master is the control plane node.
func (c *Cluster) Master() Node { return c.Nodes()[0] }

func (c *Cluster) logf(format string, args ...any) {
	if c.Out != nil {
		fmt.Fprintf(c.Out, format+"\n", args...)
	}
}

// labelFilter selects this cluster's objects in `docker ... ls --filter`.
func (c *Cluster) labelFilter() string {
	return "label=" + config.LabelCluster + "=" + c.Cfg.ClusterName()
}

func (c *Cluster) labelFlags() []string {
	var out []string
	for _, l := range c.Cfg.Labels() {
		out = append(out, "--label", l)
	}
	return out
}

// Container is a node container as Docker reports it.
type Container struct {
	Name  string
	State string // running, exited, paused, created, ...
}

// Containers lists this cluster's containers, whatever their state.
func (c *Cluster) Containers(ctx context.Context) ([]Container, error) {
	lines, err := shell.Docker("ps", "--all", "--filter", c.labelFilter(), "--format", "{{.Names}}|{{.State}}").Lines(ctx)
	if err != nil {
		return nil, err
	}
	var out []Container
	for _, l := range lines {
		name, state, _ := strings.Cut(l, "|")
		out = append(out, Container{Name: name, State: state})
	}
	slices.SortFunc(out, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// values are what the kubeadm and CNI templates of node n are rendered from.
func (c *Cluster) values(n Node) embed.Values {
	cgroupV1 := c.Engine.CgroupVersion == "1"
	return embed.Values{
		Kubernetes:        c.Cfg.Versions.Kubernetes,
		Images:            build.Images(c.Cfg.Versions),
		ClusterName:       c.Cfg.ClusterName(),
		Token:             c.token,
		CACertData:        base64.StdEncoding.EncodeToString(c.ca.Cert),
		MasterIP:          c.Master().IP,
		APIServerPort:     apiServerPort,
		APIServerEndpoint: net.JoinHostPort(c.Master().IP, strconv.Itoa(apiServerPort)),
		ServiceCIDR:       c.Cfg.ServiceCIDR().String(),
		PodNetworkCIDR:    c.Cfg.PodCIDR().String(),
		DNSDomain:         "cluster.local",
		CgroupV1:          cgroupV1,
		KubeProxyMode:     "iptables",
		PreflightIgnore:   preflightIgnore(n),
		NodeName:          n.Name,
		NodeIP:            n.IP,
		PodSubnet:         c.Cfg.PodSubnet(n.Index).String(),
	}
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

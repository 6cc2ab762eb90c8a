// Package cluster brings a cluster of node containers up with kubeadm, stops,
// resumes, snapshots, restores and removes it.
//
// Every command works in three stages: it observes what exists of the
// cluster on the engine (Observe, into one State), decides from that and the
// configuration what to do (Decide, a pure function), and only then acts,
// through steps. Every Docker object it makes carries the cluster's labels,
// so that clean finds all of them, and only them; nothing a completed up
// made is removed unless the user asks for it.
package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

// apiServerPort is where the API server listens inside the cluster network.
const apiServerPort = 6443

// Labels on the cluster's objects, besides config's owner and cluster labels.
const (
	// labelNode names the node a container is, on node containers.
	labelNode = "dind-cluster.node"
	// labelCreator is on the objects a create makes: which process made
	// them, so that another up does not remove a cluster being made.
	labelCreator = "dind-cluster.creator"
)

// Cluster is what every command on one cluster shares: its configuration,
// where progress goes, and the engine. What one command learns or makes
// lives in values of its own (State, Decision, run), not here.
type Cluster struct {
	Cfg    *config.Config
	Out    io.Writer
	Docker docker.Provider
}

// New prepares the commands on the cluster cfg describes.
func New(cfg *config.Config, out io.Writer) *Cluster {
	return &Cluster{Cfg: cfg, Out: out, Docker: docker.CLI{}}
}

func (c *Cluster) logf(format string, args ...any) {
	if c.Out != nil {
		fmt.Fprintf(c.Out, format+"\n", args...)
	}
}

// Node is one node container.
type Node struct {
	Index int // 0 for the master
	Name  string
	IP    string
}

// node is the node of index i (0 is the master), configured or not.
func node(cfg *config.Config, i int) Node {
	return Node{Index: i, Name: cfg.NodeName(i), IP: cfg.NodeIP(i).String()}
}

// nodesUpTo are the master and workers 1..workers.
func nodesUpTo(cfg *config.Config, workers int) []Node {
	var out []Node
	for i := 0; i <= workers; i++ {
		out = append(out, node(cfg, i))
	}
	return out
}

// nodeIndex reads the index of the node a container name belongs to in the
// cluster of cfg: 0 for the master, i for kube-node-i; false for other names.
func nodeIndex(cfg *config.Config, name string) (int, bool) {
	if name == cfg.MasterName() {
		return 0, true
	}
	rest, ok := strings.CutPrefix(name, "kube-node-")
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, cfg.Suffix())
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(digits)
	if err != nil || i < 1 || cfg.NodeName(i) != name {
		return 0, false
	}
	return i, true
}

// ours selects the cluster's objects.
func (c *Cluster) ours() docker.Labels {
	return docker.Labels{config.LabelCluster: c.Cfg.ClusterName()}
}

// labels are what the cluster's objects carry, with extra.
func (c *Cluster) labels(extra docker.Labels) docker.Labels {
	out := docker.Labels{}
	for _, kv := range c.Cfg.Labels() {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

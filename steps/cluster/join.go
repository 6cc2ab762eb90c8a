package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/cache"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// node is the node of index i (0 is the master), configured or not.
func (c *Cluster) node(i int) Node {
	return Node{Index: i, Name: c.Cfg.NodeName(i), IP: c.Cfg.NodeIP(i).String()}
}

// extraNodes are the nodes join added beyond NUM_NODES, by container name.
func (c *Cluster) extraNodes(containers []Container) []Node {
	prefix, suffix := "kube-node-", c.Cfg.Suffix()
	var out []Node
	for _, ct := range containers {
		rest, ok := strings.CutPrefix(ct.Name, prefix)
		if !ok || !strings.HasSuffix(rest, suffix) {
			continue
		}
		i, err := strconv.Atoi(strings.TrimSuffix(rest, suffix))
		if err == nil && i > c.Cfg.NumNodes && c.node(i).Name == ct.Name {
			out = append(out, c.node(i))
		}
	}
	return out
}

// Join adds one more worker to the running cluster: kube-node-(N+1), with
// routes to and from every other node, joined with a fresh token and
// extraArgs passed to kubeadm join. The snapshot does not hold it: up
// (restore) goes back to the nodes of NUM_NODES.
func (c *Cluster) Join(ctx context.Context, extraArgs []string) (Node, error) {
	started := time.Now()
	containers, err := c.Containers(ctx)
	if err != nil {
		return Node{}, err
	}
	if err := c.requireNodes(ctx, "running"); err != nil {
		return Node{}, err
	}
	if err := c.prepare(ctx); err != nil {
		return Node{}, err
	}
	existing := append(c.Nodes(), c.extraNodes(containers)...)
	n := c.node(len(existing))
	for _, e := range existing {
		if e.Index >= n.Index {
			n = c.node(e.Index + 1)
		}
	}
	token, err := shell.Docker("exec", c.Master().Name, "kubeadm", "token", "create", "--ttl", "1h").Output(ctx)
	if err != nil {
		return n, fmt.Errorf("making a join token on %s: %w", c.Master().Name, err)
	}
	c.token = strings.TrimSpace(token)
	// The CA signs the new node's kubelet credentials.
	ca, err := shell.Docker("exec", c.Master().Name, "cat", "/etc/kubernetes/pki/ca.crt").Output(ctx)
	if err == nil {
		_, err = parseCACert([]byte(ca))
	}
	if err != nil {
		return n, fmt.Errorf("reading the cluster's CA certificate on %s: %w", c.Master().Name, err)
	}
	key, err := shell.Docker("exec", c.Master().Name, "cat", "/etc/kubernetes/pki/ca.key").Output(ctx)
	if err != nil {
		return n, fmt.Errorf("reading the cluster's CA key on %s: %w", c.Master().Name, err)
	}
	c.ca = clusterCA{Cert: []byte(ca + "\n"), Key: []byte(key + "\n")}
	all := append(existing, n)
	files, err := c.nodeFiles(n, all)
	if err != nil {
		return n, err
	}
	c.logf("join: starting %s at %s", n.Name, n.IP)
	if err := c.runNode(ctx, n, 0, func(ctx context.Context) error { return copyFiles(ctx, n.Name, files) }); err != nil {
		return n, err
	}
	for _, e := range existing {
		route := fmt.Sprintf("%s via %s", c.Cfg.PodSubnet(n.Index), n.IP)
		if err := shell.Docker("exec", e.Name, "sh", "-c",
			"ip route replace "+route+" && echo '"+route+"' >> /etc/dind/routes").Run(ctx); err != nil {
			return n, fmt.Errorf("routing %s to %s: %w", e.Name, n.Name, err)
		}
	}
	if err := c.kubeadmJoin(ctx, n, extraArgs...); err != nil {
		return n, err
	}
	return n, c.waitReady(ctx, started, []string{n.Name}, false)
}

// prepare makes sure the node image is built, and learns the engine, node
// image and kubectl, as up's preflight does.
func (c *Cluster) prepare(ctx context.Context) error {
	b := build.New(c.Cfg.Versions, cache.Cache{Dir: c.Cfg.CacheDir, Waiting: c.Out}, c.Out)
	b.AptMirror = c.Cfg.AptMirror
	c.builder = b
	plan, err := steps.NewPlan(append(b.Steps(), c.preflight(b))...)
	if err != nil {
		return err
	}
	timeline, err := plan.Run(ctx, c.Out)
	build.RecordTimings(c.Cfg.CacheDir, timeline)
	return err
}

package cluster

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// snapshotImage is where node n's fresh state is kept.
func (c *Cluster) snapshotImage(n Node) string {
	return "dind-cluster/snapshot:" + c.Cfg.ClusterName() + "." + n.Name
}

// snapshotNode commits node n as it is now. Its containerd volume is not in
// the commit: a restored node starts with the preloaded images and kubelet
// recreates its pods.
func (c *Cluster) snapshotNode(ctx context.Context, n Node) error {
	if err := shell.Docker("commit", "--change", "LABEL "+config.LabelCluster+"="+c.Cfg.ClusterName(),
		"--change", "LABEL "+config.LabelOwner+"=1", n.Name, c.snapshotImage(n)).Run(ctx); err != nil {
		return fmt.Errorf("snapshot of %s: %w", n.Name, err)
	}
	return nil
}

// hasSnapshot reports whether every configured node has a snapshot.
func (c *Cluster) hasSnapshot(ctx context.Context) bool {
	for _, n := range c.Nodes() {
		if shell.Docker("image", "inspect", "--format", "{{.Id}}", c.snapshotImage(n)).Run(ctx) != nil {
			return false
		}
	}
	return true
}

// restoreNode replaces node n by a fresh container of its snapshot. The node
// keeps its volumes: kubelet removes the pods that the snapshot does not
// know, and the preloaded images need no copying.
func (c *Cluster) restoreNode(ctx context.Context, n Node, port int) error {
	if err := shell.Docker("rm", "--force", n.Name).Run(ctx); err != nil {
		return err
	}
	return c.runNode(ctx, n, c.snapshotImage(n), port, nil)
}

// Snapshot makes the cluster's present state the one up and restore return to.
func (c *Cluster) Snapshot(ctx context.Context) error {
	if err := c.requireNodes(ctx, "running"); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, n := range c.Nodes() {
		g.Go(func() error { return c.snapshotNode(ctx, n) })
	}
	return g.Wait()
}

// SetPaused freezes or thaws every node.
func (c *Cluster) SetPaused(ctx context.Context, paused bool) error {
	want, verb := "running", "pause"
	if !paused {
		want, verb = "paused", "unpause"
	}
	if err := c.requireNodes(ctx, want); err != nil {
		return err
	}
	return shell.Docker(append([]string{verb}, c.Cfg.NodeNames()...)...).Run(ctx)
}

// APIServerPort is the port the API server is published on.
func (c *Cluster) APIServerPort(ctx context.Context) (int, error) {
	if err := c.requireNodes(ctx, ""); err != nil {
		return 0, err
	}
	return c.publishedPort(ctx)
}

// requireNodes checks that every configured node exists, in state when given.
func (c *Cluster) requireNodes(ctx context.Context, state string) error {
	containers, err := c.Containers(ctx)
	if err != nil {
		return err
	}
	have := map[string]string{}
	for _, ct := range containers {
		have[ct.Name] = ct.State
	}
	for _, n := range c.Cfg.NodeNames() {
		s, ok := have[n]
		if !ok {
			return fmt.Errorf("cluster %s has no node %s: run up first", c.Cfg.ClusterName(), n)
		}
		if state != "" && s != state {
			return fmt.Errorf("node %s is %s, not %s", n, s, state)
		}
	}
	return nil
}

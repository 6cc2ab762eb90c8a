package cluster

import (
	"context"
	"fmt"

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

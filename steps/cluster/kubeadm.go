package cluster

import (
	"context"
	"fmt"

	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// kubeadmInit bootstraps the control plane on the master.
func (c *Cluster) kubeadmInit(ctx context.Context, extraArgs ...string) error {
	if err := c.waitContainerd(ctx, c.Master()); err != nil {
		return err
	}
	args := append([]string{"exec", c.Master().Name, "kubeadm", "init", "--config", "/etc/kubeadm/init.yaml",
		"--skip-token-print"}, extraArgs...)
	if err := shell.Docker(args...).Run(ctx); err != nil {
		return fmt.Errorf("kubeadm init on %s: %w", c.Master().Name, err)
	}
	return nil
}

// kubeadmJoin makes node n join the cluster.
func (c *Cluster) kubeadmJoin(ctx context.Context, n Node, extraArgs ...string) error {
	if err := c.waitContainerd(ctx, n); err != nil {
		return err
	}
	args := append([]string{"exec", n.Name, "kubeadm", "join", "--config", "/etc/kubeadm/join.yaml"}, extraArgs...)
	if err := shell.Docker(args...).Run(ctx); err != nil {
		return fmt.Errorf("kubeadm join on %s: %w", n.Name, err)
	}
	return nil
}

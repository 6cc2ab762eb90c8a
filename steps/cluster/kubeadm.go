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
	// kubeadm's CoreDNS is probed for readiness every 10s, and a kubelet that
	// just started waits a random part of that before the first probe: a
	// restored cluster saw CoreDNS ready up to 20s late. The pods are still
	// pending now, so the change costs no rollout of running ones.
	probe := `[{"op":"replace","path":"/spec/template/spec/containers/0/readinessProbe/periodSeconds","value":1}]`
	if err := shell.Docker("exec", c.Master().Name, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf",
		"--namespace=kube-system", "patch", "deployment", "coredns", "--type=json", "--patch="+probe).Run(ctx); err != nil {
		return fmt.Errorf("setting CoreDNS's readiness probe: %w", err)
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

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
	args := append([]string{"init", "--config", "/etc/kubeadm/init.yaml", "--skip-token-print"}, extraArgs...)
	return runKubeadm(ctx, c.Master(), args)
}

// kubeadmJoin makes node n join the cluster.
func (c *Cluster) kubeadmJoin(ctx context.Context, n Node, extraArgs ...string) error {
	if err := c.waitContainerd(ctx, n); err != nil {
		return err
	}
	return runKubeadm(ctx, n, append([]string{"join", "--config", "/etc/kubeadm/join.yaml"}, extraArgs...))
}

// runKubeadm runs kubeadm with args on node n. Its output is kept in the
// node, in /var/log/kubeadm-COMMAND.log, where dumps find it; the end of
// it explains a failure.
func runKubeadm(ctx context.Context, n Node, args []string) error {
	log := "/var/log/kubeadm-" + args[0] + ".log"
	script := `log=$1; shift; kubeadm "$@" >"$log" 2>&1 || { status=$?; tail -n 25 "$log" >&2; exit $status; }`
	cmd := append([]string{"exec", n.Name, "bash", "-c", script, "kubeadm", log}, args...)
	if err := shell.Docker(cmd...).Run(ctx); err != nil {
		return fmt.Errorf("kubeadm %s on %s (its output is in %s there): %w", args[0], n.Name, log, err)
	}
	return nil
}

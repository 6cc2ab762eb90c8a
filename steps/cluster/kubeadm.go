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
	if err := runKubeadm(ctx, c.Master(), args); err != nil {
		return err
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

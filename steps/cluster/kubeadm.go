package cluster

import (
	"context"
	"fmt"
)

// kubeadmInit bootstraps the control plane on the master.
func (r *run) kubeadmInit(ctx context.Context) error {
	master := node(r.Cfg, 0)
	if err := r.waitContainerd(ctx, master); err != nil {
		return err
	}
	args := append([]string{"init", "--config", "/etc/kubeadm/init.yaml", "--skip-token-print"}, r.initArgs...)
	return r.runKubeadm(ctx, master, args)
}

// kubeadmJoin makes node n join the cluster.
func (r *run) kubeadmJoin(ctx context.Context, n Node, extraArgs []string) error {
	if err := r.waitContainerd(ctx, n); err != nil {
		return err
	}
	return r.runKubeadm(ctx, n, append([]string{"join", "--config", "/etc/kubeadm/join.yaml"}, extraArgs...))
}

// runKubeadm runs kubeadm with args on node n. Its output is kept in the
// node, in /var/log/kubeadm-COMMAND.log, where dumps find it; the end of
// it explains a failure.
func (r *run) runKubeadm(ctx context.Context, n Node, args []string) error {
	log := "/var/log/kubeadm-" + args[0] + ".log"
	script := `log=$1; shift; kubeadm "$@" >"$log" 2>&1 || { status=$?; tail -n 25 "$log" >&2; exit $status; }`
	cmd := append([]string{"bash", "-c", script, "kubeadm", log}, args...)
	if err := r.Docker.Exec(ctx, n.Name, cmd, nil, nil); err != nil {
		return fmt.Errorf("kubeadm %s on %s (its output is in %s there): %w", args[0], n.Name, log, err)
	}
	return nil
}

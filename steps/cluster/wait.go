package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// waitReady waits until every configured node is Ready and CoreDNS is
// available.
func (c *Cluster) waitReady(ctx context.Context) error {
	want := c.Cfg.NodeNames()
	err := poll(ctx, 3*time.Minute, "nodes", func() error {
		lines, err := c.KubectlOnCluster("get", "nodes", "--output=jsonpath="+
			`{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`).Lines(ctx)
		if err != nil {
			return err
		}
		ready := map[string]bool{}
		for _, l := range lines {
			name, status, _ := strings.Cut(l, "=")
			ready[name] = status == "True"
		}
		var notReady []string
		for _, n := range want {
			if !ready[n] {
				notReady = append(notReady, n)
			}
		}
		if len(notReady) > 0 {
			return fmt.Errorf("not Ready: %s", strings.Join(notReady, ", "))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return poll(ctx, 3*time.Minute, "CoreDNS", func() error {
		out, err := c.KubectlOnCluster("--namespace=kube-system", "get", "deployment", "coredns", "--output=jsonpath="+
			`{.status.conditions[?(@.type=="Available")].status}/{.status.readyReplicas}`).Output(ctx)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(out, "True/") || strings.HasSuffix(out, "/") || strings.HasSuffix(out, "/0") {
			return fmt.Errorf("deployment coredns is not available (%s)", out)
		}
		return nil
	})
}

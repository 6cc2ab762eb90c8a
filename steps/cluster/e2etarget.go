package cluster

import (
	"context"
	"fmt"
	"slices"
)

// E2ETarget is what the conformance runner needs of a running cluster.
type E2ETarget struct {
	Nodes      []string // running node containers, master first
	Workers    int      // schedulable nodes besides the master
	Kubernetes string   // the version it was made with
}

// E2ETarget describes the cluster for an e2e run, or tells why none can run.
func (c *Cluster) E2ETarget(ctx context.Context) (E2ETarget, error) {
	s, err := c.Observe(ctx)
	if err != nil {
		return E2ETarget{}, err
	}
	if s.Record == nil {
		return E2ETarget{}, fmt.Errorf("cluster %s is not up: run up first", c.Cfg.ClusterName())
	}
	nodes := s.running()
	if !slices.Contains(nodes, c.Cfg.MasterName()) {
		return E2ETarget{}, fmt.Errorf("cluster %s's master %s is not running: run up first", c.Cfg.ClusterName(), c.Cfg.MasterName())
	}
	slices.SortFunc(nodes, func(a, b string) int {
		ia, _ := nodeIndex(c.Cfg, a)
		ib, _ := nodeIndex(c.Cfg, b)
		return ia - ib
	})
	return E2ETarget{Nodes: nodes, Workers: len(nodes) - 1, Kubernetes: s.Record.Kubernetes}, nil
}

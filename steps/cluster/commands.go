package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/errgroup"

	"github.com/dind-cluster/dind-cluster/steps/docker"
	"github.com/dind-cluster/dind-cluster/steps/registry"
)

// Commands other than up. Each acts on the nodes it observes, those join
// added included, never on the node list the configuration implies.

// Down stops the nodes, keeping everything they hold.
func (c *Cluster) Down(ctx context.Context) error {
	unlock, s, err := c.lockAndObserve(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if len(s.Nodes) == 0 {
		c.logf("cluster %s has no nodes: nothing to stop", c.Cfg.ClusterName())
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, ct := range s.Nodes {
		g.Go(func() error {
			switch ct.State {
			case "exited", "created":
				return nil
			case "paused":
				if err := c.Docker.Unpause(gctx, ct.Name); err != nil {
					return err
				}
			}
			return c.Docker.Stop(gctx, ct.Name, 3)
		})
	}
	return g.Wait()
}

// SetPaused freezes or thaws every node.
func (c *Cluster) SetPaused(ctx context.Context, paused bool) error {
	unlock, s, err := c.lockAndObserve(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	from, verb, act := "running", "pause", c.Docker.Pause
	if !paused {
		from, verb, act = "paused", "unpause", c.Docker.Unpause
	}
	var names []string
	for _, ct := range s.Nodes {
		if ct.State == from {
			names = append(names, ct.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("cluster %s has no %s node to %s", c.Cfg.ClusterName(), from, verb)
	}
	slices.Sort(names)
	return act(ctx, names...)
}

// Snapshot makes the cluster's present state the one up and restore return
// to, with every node it has, those join added included.
func (c *Cluster) Snapshot(ctx context.Context) error {
	unlock, s, err := c.lockAndObserve(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if s.Record == nil {
		return fmt.Errorf("cluster %s has not completed an up: run up first", c.Cfg.ClusterName())
	}
	cfg, err := c.clusterConfig(s)
	if err != nil {
		return err
	}
	for _, n := range nodesUpTo(cfg, s.Record.Workers) {
		if _, ok := s.Nodes[n.Index]; !ok {
			return fmt.Errorf("node %s is missing: run up first", n.Name)
		}
	}
	var nodes []Node
	for i, ct := range s.Nodes {
		if ct.State != "running" {
			return notRunningError(ct)
		}
		nodes = append(nodes, node(cfg, i))
	}
	slices.SortFunc(nodes, func(a, b Node) int { return a.Index - b.Index })
	return c.takeSnapshot(ctx, s.EngineID, *s.Record, nodes)
}

// notRunningError says what to do about a node that is not running.
func notRunningError(ct docker.Container) error {
	if ct.State == "paused" {
		return fmt.Errorf("node %s is paused: run unpause first", ct.Name)
	}
	return fmt.Errorf("node %s is %s: run up first", ct.Name, ct.State)
}

// APIServerPort is the port the API server is published on.
func (c *Cluster) APIServerPort(ctx context.Context) (int, error) {
	port, err := c.Docker.PublishedPort(ctx, c.Cfg.MasterName(), apiServerPort)
	if errors.Is(err, docker.ErrNotFound) {
		return 0, fmt.Errorf("cluster %s has no running master: run up first", c.Cfg.ClusterName())
	}
	return port, err
}

// Clean removes every container, volume, network and snapshot of the
// cluster, and its kubectl context when it is this cluster's; nothing that
// is not the cluster's.
func (c *Cluster) Clean(ctx context.Context) error {
	unlock, err := c.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := c.Observe(ctx)
	if err != nil {
		// A damaged record, say: what carries the cluster's labels goes all
		// the same.
		c.logf("cluster %s cannot be read whole (%v); removing what is labelled as its", c.Cfg.ClusterName(), err)
		if s.EngineID == "" {
			return err
		}
	}
	ca := c.clusterCA(s)
	err = c.removeObjects(ctx)
	if errors.Is(err, docker.ErrFrozen) {
		err = fmt.Errorf("%w\n\na node cannot stop: a process in it is frozen, most likely by the cgroup freezer of a runc "+
			"killed mid-way (nodes of older dind-cluster versions had one). On the Docker host, write THAWED into every "+
			"freezer.state below the node's freezer cgroup (under /sys/fs/cgroup/freezer/), then run clean again", err)
	}
	removeOrphanKubeconfigs(filepath.Join(c.Cfg.CacheDir, "kubeconfigs"))
	return errors.Join(err, c.removeSnapshot(s.EngineID), c.removeContext(ca))
}

// clusterCA is the fingerprint of the cluster's CA, from its record or its
// master: what tells its kubectl context from another's of the same name.
func (c *Cluster) clusterCA(s State) string {
	if s.Record != nil && s.Record.CA != "" {
		return s.Record.CA
	}
	if m, ok := s.Nodes[0]; ok {
		return m.Labels[labelCA]
	}
	return ""
}

// removeObjects removes the cluster's containers, volumes and network (not
// images: an image a user committed of a node carries the node's labels,
// and is the user's). An interrupted up may leave the engine finishing a
// container it asked for: it goes round again while something is still in
// use.
func (c *Cluster) removeObjects(ctx context.Context) error {
	var err error
	for round := 0; round < 5; round++ {
		if err = c.removeOnce(ctx); err == nil || !errors.Is(err, docker.ErrInUse) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return err
}

func (c *Cluster) removeOnce(ctx context.Context) error {
	all, err := c.Docker.Containers(ctx, c.ours())
	if err != nil {
		return err
	}
	var containers []string
	for _, ct := range all {
		if c.isOurs(ct) {
			containers = append(containers, ct.Name)
		}
	}
	errs := multierror.Append(nil, c.Docker.Remove(ctx, containers...))
	volumes, err := c.Docker.Volumes(ctx, c.ours())
	if err == nil {
		err = c.Docker.RemoveVolumes(ctx, namesOf(volumes, func(x docker.Volume) string { return x.Name })...)
	}
	errs = multierror.Append(errs, err)
	networks, err := c.Docker.Networks(ctx, c.ours())
	for _, n := range networks {
		// The local registry is attached to it, and outlives the cluster.
		errs = multierror.Append(errs, registry.Disconnect(ctx, c.Docker, n.Name))
	}
	if err == nil {
		err = c.Docker.RemoveNetworks(ctx, namesOf(networks, func(x docker.Network) string { return x.Name })...)
	}
	return multierror.Append(errs, err).ErrorOrNil()
}

func namesOf[T any](items []T, name func(T) string) []string {
	var out []string
	for _, item := range items {
		out = append(out, name(item))
	}
	return out
}

// Status describes the cluster for a person.
func (c *Cluster) Status(ctx context.Context) (string, error) {
	s, err := c.Observe(ctx)
	if err != nil {
		return "", err
	}
	name := c.Cfg.ClusterName()
	if s.Empty() {
		return fmt.Sprintf("cluster %s: not created (run up)\n", name), nil
	}
	var b strings.Builder
	switch {
	case s.Record != nil:
		fmt.Fprintf(&b, "cluster %s, Kubernetes %s, %d workers as made, context %s\n", name, s.Record.Kubernetes, s.Record.Workers, c.Cfg.ContextName())
		if s.Snapshot.Verified() {
			fmt.Fprintf(&b, "snapshot: taken %s\n", s.Snapshot.Manifest.Taken.Local().Format(time.DateTime))
		} else {
			fmt.Fprintf(&b, "snapshot: none usable (%s)\n", s.Snapshot.Problem)
		}
	default:
		fmt.Fprintf(&b, "cluster %s: its first up has not completed; up finishes it anew, clean removes it\n", name)
	}
	for _, ct := range s.Containers() {
		addresses, _ := c.Docker.Addresses(ctx, ct.Name)
		fmt.Fprintf(&b, "  %-28s %-8s %s\n", ct.Name, ct.State, strings.Join(addresses, " "))
	}
	if c.Cfg.Registry {
		line, _ := c.localRegistry().Status(ctx)
		b.WriteString(line)
	}
	if port, err := c.Docker.PublishedPort(ctx, c.Cfg.MasterName(), apiServerPort); err == nil {
		fmt.Fprintf(&b, "API server: https://127.0.0.1:%d\n", port)
		version := ""
		if s.Record != nil {
			version = s.Record.Kubernetes
		}
		k, cleanup, err := c.adminKubectl(ctx, port, version)
		if err == nil {
			defer cleanup()
			if out, err := k.cmd("get", "nodes", "--output=wide", "--request-timeout=5s").Output(ctx); err == nil {
				b.WriteString(out + "\n")
			}
		}
	}
	return b.String(), nil
}

// running are the names of the cluster's running nodes.
func (s State) running() []string {
	var out []string
	for _, ct := range s.Nodes {
		if ct.State == "running" {
			out = append(out, ct.Name)
		}
	}
	slices.Sort(out)
	return out
}

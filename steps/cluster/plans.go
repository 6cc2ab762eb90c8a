package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/errgroup"

	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/cache"
	"github.com/dind-cluster/dind-cluster/steps/engine"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// What Up will do, judged from the containers that exist.
const (
	Create  = "create"  // no cluster: bootstrap one
	Resume  = "resume"  // stopped by down: start it with all it held
	Restore = "restore" // running: back to the fresh snapshot
)

// Plan decides what Up does and returns its steps.
func (c *Cluster) Plan(ctx context.Context) (string, []steps.Step, error) {
	containers, err := c.Containers(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("cannot reach a Docker engine: start dockerd, or point DOCKER_HOST at one (%w)", err)
	}
	c.ours = map[string]bool{}
	for _, ct := range containers {
		c.ours[ct.Name] = true
	}
	if err := c.checkNames(ctx); err != nil {
		return "", nil, err
	}
	b := build.New(c.Cfg.Versions, cache.Cache{Dir: c.Cfg.CacheDir, Waiting: c.Out}, c.Out)
	b.AptMirror = c.Cfg.AptMirror
	plan := b.Steps()
	plan = append(plan, c.preflight(b))

	started := time.Now()
	mode := c.mode(ctx, containers)
	if c.ForceRestore {
		if !c.hasSnapshot(ctx) {
			return "", nil, fmt.Errorf("cluster %s has no snapshot to restore: run up", c.Cfg.ClusterName())
		}
		mode = Restore
	}
	if mode == Restore {
		// A restore keeps the nodes' containerd volumes, which refer to the
		// image layers of the node image they were made from.
		if err := c.prepare(ctx); err != nil {
			return "", nil, err
		}
		made, err := c.madeFrom(ctx)
		if err == nil && made != c.NodeImage {
			c.logf("cluster %s was made from node image %q, and this dind-cluster makes %s: recreating it",
				c.Cfg.ClusterName(), made, c.NodeImage)
			if err := c.Clean(ctx); err != nil {
				return "", nil, err
			}
			c.builder.PruneNodeImages(ctx) // the cluster's old one is free now
			containers, mode = nil, Create
		}
		// The supply chain and preflight just ran: the plan need not again.
		plan = []steps.Step{{Name: "preflight", Run: func(context.Context) error { return nil }}}
	}
	nodes := c.Nodes()
	// ready are the steps after which the nodes are up; kubeconfigAfter the
	// one after which the master holds its admin credentials.
	var ready []string
	var kubeconfigAfter string
	switch mode {
	case Create:
		volumes, _ := shell.Docker("volume", "ls", "--quiet", "--filter", c.labelFilter()).Lines(ctx)
		if len(containers) > 0 || len(volumes) > 0 {
			c.logf("removing what an earlier up of %s left", c.Cfg.ClusterName())
			if err := c.Clean(ctx); err != nil {
				return "", nil, err
			}
		}
		c.token = newToken()
		if c.ca, err = newClusterCA(time.Now()); err != nil {
			return "", nil, err
		}
		plan = append(plan, steps.Step{Name: "network", Needs: []string{"preflight"}, Run: c.createNetwork})
		for _, n := range nodes {
			plan = append(plan, steps.Step{Name: "start-" + n.Name, Needs: []string{"network"}, Run: func(ctx context.Context) error {
				files, err := c.nodeFiles(n, nodes)
				if err != nil {
					return err
				}
				return c.runNode(ctx, n, c.Cfg.APIServerPort, func(ctx context.Context) error {
					return copyFiles(ctx, n.Name, files)
				})
			}})
		}
		plan = append(plan, steps.Step{Name: "kubeadm-init", Needs: []string{"start-" + nodes[0].Name},
			Run: func(ctx context.Context) error { return c.kubeadmInit(ctx, c.InitArgs...) }})
		for _, n := range nodes[1:] {
			plan = append(plan, steps.Step{Name: "join-" + n.Name, Needs: []string{"kubeadm-init", "start-" + n.Name},
				Run: func(ctx context.Context) error { return c.kubeadmJoin(ctx, n) }})
			ready = append(ready, "join-"+n.Name)
		}
		ready = append(ready, "kubeadm-init")
		kubeconfigAfter = "kubeadm-init"
	case Resume:
		for _, n := range c.extraNodes(containers) {
			nodes = append(nodes, n)
			c.expected = append(c.expected, n.Name)
		}
		for _, n := range nodes {
			plan = append(plan, steps.Step{Name: "start-" + n.Name, Needs: []string{"preflight"}, Run: func(ctx context.Context) error {
				return shell.Docker("start", n.Name).Run(ctx)
			}})
			ready = append(ready, "start-"+n.Name)
		}
		kubeconfigAfter = "start-" + nodes[0].Name
	case Restore:
		port := c.Cfg.APIServerPort
		needs := []string{"preflight"}
		if _, err := shell.Docker("network", "inspect", c.Cfg.NetworkName()).Output(ctx); err != nil {
			plan = append(plan, steps.Step{Name: "network", Needs: needs, Run: c.createNetwork})
			needs = []string{"network"}
		}
		if port == 0 {
			// Keep the port the user's tools know, which an interrupted
			// restore may have left only to the staged master.
			port, _ = c.publishedPort(ctx)
			if port == 0 && c.ours[stagedName(c.Master())] {
				port = boundPort(ctx, stagedName(c.Master()))
			}
		}
		for _, ct := range containers {
			if strings.HasSuffix(ct.Name, stagedSuffix) { // what an interrupted restore staged
				if err := shell.Docker("rm", "--force", "--volumes", ct.Name).Run(ctx); err != nil {
					return "", nil, err
				}
			}
		}
		names, err := shell.Docker("volume", "ls", "--quiet", "--filter", c.labelFilter()).Lines(ctx)
		if err != nil {
			return "", nil, err
		}
		c.volumes = map[string]bool{}
		for _, name := range names {
			c.volumes[name] = true
		}
		for _, n := range c.extraNodes(containers) {
			c.logf("removing %s, which join added after the snapshot", n.Name)
			if err := shell.Docker("rm", "--force", "--volumes", n.Name).Run(ctx); err != nil {
				return "", nil, err
			}
			rm := []string{"volume", "rm", "--force"}
			for _, v := range volumeNames(n) {
				rm = append(rm, v)
			}
			if err := shell.Docker(rm...).Run(ctx); err != nil {
				return "", nil, err
			}
		}
		for _, n := range nodes {
			plan = append(plan, steps.Step{Name: "restore-" + n.Name, Needs: needs,
				Run: func(ctx context.Context) error { return c.restoreNode(ctx, n, port) }})
			ready = append(ready, "restore-"+n.Name)
		}
		kubeconfigAfter = "restore-" + nodes[0].Name
	}
	plan = append(plan,
		steps.Step{Name: "kubeconfig", Needs: []string{kubeconfigAfter}, Run: func(ctx context.Context) error {
			port, err := c.publishedPort(ctx)
			if err != nil {
				return err
			}
			c.Port = port
			if err := c.writeContext(ctx); err != nil {
				return err
			}
			return c.runPortForwarder(ctx)
		}},
		steps.Step{Name: "ready", Needs: append(ready, "kubeconfig"), Run: func(ctx context.Context) error {
			return c.waitReady(ctx, started, append(c.Cfg.NodeNames(), c.expected...), true)
		}},
	)
	if mode == Create {
		plan = append(plan, steps.Step{Name: "snapshot", Needs: []string{"ready"}, Run: func(ctx context.Context) error {
			return c.takeSnapshot(ctx, nodes)
		}})
	}
	return mode, plan, nil
}

// checkNames refuses a container with the name of one of the cluster's
// nodes that is not one of the cluster's: up would fail on it half-way, and
// must not remove it.
func (c *Cluster) checkNames(ctx context.Context) error {
	all, err := shell.Docker("ps", "--all", "--format", "{{.Names}}").Lines(ctx)
	if err != nil {
		return err
	}
	for _, name := range all {
		if slices.Contains(c.Cfg.NodeNames(), name) && !c.ours[name] {
			return fmt.Errorf("a container named %s exists and is not one of cluster %s's nodes: remove it "+
				"(docker rm -f %s) or choose another CLUSTER_ID or DIND_LABEL", name, c.Cfg.ClusterName(), name)
		}
	}
	return nil
}

// preflight takes over what the supply chain b found and built, and checks
// the engine.
func (c *Cluster) preflight(b *build.Builder) steps.Step {
	return steps.Step{Name: "preflight", Needs: []string{build.StepEngine, build.StepNodeImage, "kubernetes"},
		Run: func(ctx context.Context) error {
			c.Engine, c.NodeImage, c.Kubectl = b.Engine, b.NodeImage, b.KubectlPath()
			if err := c.guardBtrfs(); err != nil {
				return err
			}
			c.Engine.Privileged = privileged(ctx, b.Cache, c.Engine, c.NodeImage)
			return c.installKubectl()
		}}
}

// mode judges what up must do from the containers there are.
func (c *Cluster) mode(ctx context.Context, containers []Container) string {
	var names []string
	running, unstarted := 0, 0
	extra := map[string]bool{}
	for _, n := range c.extraNodes(containers) {
		extra[n.Name] = true
	}
	for _, ct := range containers {
		if extra[ct.Name] {
			continue
		}
		names = append(names, ct.Name)
		switch ct.State {
		case "running", "paused":
			running++
		case "created":
			unstarted++
		}
	}
	want := c.Cfg.NodeNames()
	slices.Sort(want)
	if len(names) == 0 || !c.hasSnapshot(ctx) {
		return Create
	}
	// The node image's tag carries its Kubernetes version.
	made, _ := c.madeFrom(ctx)
	if !strings.HasPrefix(made, "dind-cluster/node:"+c.Cfg.Versions.Kubernetes+"-") {
		c.logf("cluster %s was made from node image %q, not one of Kubernetes %s: recreating it",
			c.Cfg.ClusterName(), made, c.Cfg.Versions.Kubernetes)
		return Create
	}
	// A node missing, or never started, is what an interrupted restore
	// leaves: only a restore makes the cluster whole again.
	if running == len(want) || unstarted > 0 || !slices.Equal(names, want) {
		return Restore
	}
	return Resume
}

func (c *Cluster) guardBtrfs() error {
	if c.Engine.StorageDriver != "btrfs" || c.Cfg.RunOnBtrfsAnyway {
		return nil
	}
	return errors.New("the Docker engine stores images on btrfs, which dind-cluster does not support: " +
		"volumes of nodes cannot be cleaned up properly (docker/docker#9939) and kubelet misbehaves on it " +
		"(kubernetes/kubernetes#38337); set RUN_ON_BTRFS_ANYWAY=y to try anyway")
}

// privileged probes once per engine whether --privileged works, and
// remembers the answer in the cache.
func privileged(ctx context.Context, c cache.Cache, e engine.Engine, image string) bool {
	key := cache.Key("privileged", e.ID)
	if c.Has("engines", key+"-yes") {
		return true
	}
	if c.Has("engines", key+"-no") {
		return false
	}
	e.ProbePrivileged(ctx, image)
	answer := map[bool]string{true: "-yes", false: "-no"}[e.Privileged]
	c.Fill(ctx, "engines", key+answer, func(string) error { return nil })
	return e.Privileged
}

// Down stops the nodes, keeping everything they hold.
func (c *Cluster) Down(ctx context.Context) error {
	containers, err := c.Containers(ctx)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, ct := range containers {
		g.Go(func() error {
			if ct.State == "paused" {
				if err := shell.Docker("unpause", ct.Name).Run(ctx); err != nil {
					return err
				}
			}
			return shell.Docker("stop", "--time", "3", ct.Name).Run(ctx)
		})
	}
	return g.Wait()
}

// Clean removes every container, volume, network and snapshot of the cluster,
// and its kubectl context; nothing that is not the cluster's. An interrupted
// up may leave the engine finishing a container it asked for: clean goes
// round again while something is still in use.
func (c *Cluster) Clean(ctx context.Context) error {
	var err error
	for round := 0; round < 5; round++ {
		err = c.removeObjects(ctx)
		if err != nil && strings.Contains(err.Error(), "did not receive an exit event") {
			err = fmt.Errorf("%w\n\na node cannot stop: a process in it is frozen, most likely by the cgroup freezer of a runc "+
				"killed mid-way (nodes of older dind-cluster versions had one). On the Docker host, write THAWED into every "+
				"freezer.state below the node's freezer cgroup (under /sys/fs/cgroup/freezer/), then run clean again", err)
			break
		}
		if err == nil || !(strings.Contains(err.Error(), "in use") || strings.Contains(err.Error(), "active endpoints")) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return errors.Join(err, c.removeSnapshot(ctx), c.removeContext(ctx))
}

func (c *Cluster) removeObjects(ctx context.Context) error {
	var errs *multierror.Error
	remove := func(list, rm []string) {
		ids, err := shell.Docker(append(list, "--quiet", "--filter", c.labelFilter())...).Lines(ctx)
		errs = multierror.Append(errs, err)
		if len(ids) > 0 {
			slices.Sort(ids)
			errs = multierror.Append(errs, shell.Docker(append(rm, slices.Compact(ids)...)...).Run(ctx))
		}
	}
	remove([]string{"ps", "--all"}, []string{"rm", "--force", "--volumes"})
	remove([]string{"volume", "ls"}, []string{"volume", "rm", "--force"})
	remove([]string{"network", "ls"}, []string{"network", "rm"})
	// Images made of nodes (by earlier versions' snapshots, or by users) may
	// be each other's parents: removed by name, in any order, each takes its
	// untagged parents with it.
	images, err := shell.Docker("images", "--filter", c.labelFilter(), "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").Lines(ctx)
	errs = multierror.Append(errs, err)
	var refs []string
	for _, l := range images {
		ref, id, _ := strings.Cut(l, " ")
		if strings.Contains(ref, "<none>") {
			ref = id
		}
		refs = append(refs, ref)
	}
	if len(refs) > 0 {
		errs = multierror.Append(errs, shell.Docker(append([]string{"rmi", "--force"}, refs...)...).Run(ctx))
	}
	return errs.ErrorOrNil()
}

// Status describes the cluster for a person.
func (c *Cluster) Status(ctx context.Context) (string, error) {
	containers, err := c.Containers(ctx)
	if err != nil {
		return "", err
	}
	if len(containers) == 0 {
		return fmt.Sprintf("cluster %s: not created (run up)\n", c.Cfg.ClusterName()), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %s, Kubernetes %s, context %s\n", c.Cfg.ClusterName(), c.Cfg.Versions.Kubernetes, c.Cfg.ContextName())
	for _, ct := range containers {
		ip, _ := shell.Docker("inspect", "--format",
			`{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.GlobalIPv6Address}}{{end}}`, ct.Name).Output(ctx)
		fmt.Fprintf(&b, "  %-24s %-8s %s\n", ct.Name, ct.State, strings.TrimSpace(ip))
	}
	if port, err := c.publishedPort(ctx); err == nil {
		fmt.Fprintf(&b, "API server: https://127.0.0.1:%d\n", port)
	}
	if out, err := c.KubectlOnCluster("get", "nodes", "--output=wide", "--request-timeout=5s").Output(ctx); err == nil {
		b.WriteString(out + "\n")
	}
	return b.String(), nil
}

// Init creates the master alone, passing args to kubeadm init; Join adds
// workers to it.
func (c *Cluster) Init(ctx context.Context, args []string) (steps.Timeline, error) {
	containers, err := c.Containers(ctx)
	if err != nil {
		return nil, err
	}
	if len(containers) > 0 {
		return nil, fmt.Errorf("cluster %s exists: run clean before init, or up to restart it", c.Cfg.ClusterName())
	}
	c.Cfg.NumNodes = 0
	c.InitArgs = args
	_, timeline, err := c.Up(ctx)
	return timeline, err
}

// Up runs the plan for cfg and reports what it did.
func (c *Cluster) Up(ctx context.Context) (string, steps.Timeline, error) {
	mode, plan, err := c.Plan(ctx)
	if err != nil {
		return mode, nil, err
	}
	p, err := steps.NewPlan(plan...)
	if err != nil {
		return mode, nil, err
	}
	c.logf("up: %s cluster %s (%d nodes, Kubernetes %s)", mode, c.Cfg.ClusterName(), len(c.Nodes()), c.Cfg.Versions.Kubernetes)
	timeline, err := p.Run(ctx, c.Out)
	build.RecordTimings(c.Cfg.CacheDir, timeline)
	return mode, timeline, err
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dind-cluster/dind-cluster/fixed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/cache"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

// Join adds one more worker to the running cluster: the node after the last
// one there is, with routes to and from every other node, joined with a
// fresh token and extraArgs passed to kubeadm join. The snapshot does not
// hold it: up (restore) goes back to the nodes the cluster was made with.
func (c *Cluster) Join(ctx context.Context, extraArgs []string) (Node, steps.Timeline, error) {
	unlock, s, err := c.lockAndObserve(ctx)
	if err != nil {
		return Node{}, nil, err
	}
	defer unlock()
	name := c.Cfg.ClusterName()
	if s.Record == nil {
		return Node{}, nil, fmt.Errorf("cluster %s has not completed an up: run up first", name)
	}
	cfg, err := c.clusterConfig(s)
	if err != nil {
		return Node{}, nil, err
	}
	var existing []Node
	last := 0
	for i, ct := range s.Nodes {
		if ct.State != "running" {
			return Node{}, nil, notRunningError(ct)
		}
		existing = append(existing, node(cfg, i))
		last = max(last, i)
	}
	if _, ok := s.Nodes[0]; !ok {
		return Node{}, nil, fmt.Errorf("cluster %s has no master: run up first", name)
	}
	if last+1 > cfg.MaxNodeIndex() {
		return Node{}, nil, fmt.Errorf("cluster %s has no address left for another node: kube-node-%d would be past "+
			"the last address of its networks (at most kube-node-%d)", name, last+1, cfg.MaxNodeIndex())
	}
	n := node(cfg, last+1)
	versions := cfg.Versions
	if v, err := fixed.Lookup(s.Record.Kubernetes); err == nil {
		versions = v
	}
	runCfg := *cfg
	runCfg.Versions = versions
	r := &run{Cluster: &Cluster{Cfg: &runCfg, Out: c.Out, Docker: c.Docker}, state: s, started: time.Now(),
		decision: Decision{Action: join, Versions: versions, NodeImage: s.Record.NodeImage, Nodes: []Node{n}},
		record:   *s.Record}
	r.builder = build.New(versions, cache.Cache{Dir: cfg.CacheDir, Waiting: c.Out}, c.Out)
	r.builder.Docker, r.builder.AptMirror, r.builder.CNI = c.Docker, cfg.AptMirror, cfg.CNIPlugin
	all := append(existing, n)
	plan := append(r.buildSteps(), r.preflight(),
		steps.Step{Name: "credentials", Needs: []string{stepPreflight}, Run: r.joinCredentials},
		steps.Step{Name: stepStart(n), Needs: []string{"credentials"}, Run: func(ctx context.Context) error {
			return r.startNew(ctx, n, all)
		}},
		steps.Step{Name: "routes", Needs: []string{stepStart(n)}, Run: func(ctx context.Context) error {
			return r.routeTo(ctx, n, existing)
		}},
		steps.Step{Name: stepJoin(n), Needs: append([]string{"routes"}, r.cniJoinNeeds(n)...), Run: func(ctx context.Context) error {
			return r.kubeadmJoin(ctx, n, extraArgs)
		}},
		steps.Step{Name: stepKubeconfig, Needs: []string{stepPreflight}, Run: r.privateKubeconfig},
		steps.Step{Name: stepReady, Needs: []string{stepJoin(n), stepKubeconfig}, Run: func(ctx context.Context) error {
			return r.waitReady(ctx, r.started, []string{n.Name}, false)
		}},
	)
	plan = append(plan, r.cniJoinSteps(n)...)
	p, err := steps.NewPlan(plan...)
	if err != nil {
		return n, nil, err
	}
	c.logf("join: adding %s at %s to cluster %s", n.Name, n.IP, name)
	timeline, err := p.Run(ctx, c.Out)
	if err != nil {
		r.undoJoin(context.WithoutCancel(ctx), n)
	}
	r.cleanup()
	build.RecordTimings(cfg.CacheDir, timeline)
	return n, timeline, err
}

// undoJoin removes what a failed join made of node n: its Node in the
// cluster, its container and its volumes, so that the cluster is as
// before and the next join takes the same name.
func (r *run) undoJoin(ctx context.Context, n Node) {
	if r.k.path != "" {
		r.k.cmd("delete", "node", n.Name, "--ignore-not-found", "--request-timeout=10s").Run(ctx)
	}
	var volumes []string
	for _, v := range volumeNames(n) {
		volumes = append(volumes, v)
	}
	err := r.Docker.Remove(ctx, n.Name)
	if errors.Is(err, docker.ErrNotFound) {
		err = nil // never created
	}
	if err = errors.Join(err, r.Docker.RemoveVolumes(ctx, volumes...)); err != nil {
		r.logf("%s is left half-joined (%v): clean removes it with the cluster", n.Name, err)
		return
	}
	r.logf("removed %s, which did not join", n.Name)
}

// join is what Join does; it is no up action.
const join Action = "join"

// joinCredentials makes a token, and takes the cluster's CA, which signs
// the new node's kubelet credentials, from the master.
func (r *run) joinCredentials(ctx context.Context) error {
	master := r.Cfg.MasterName()
	token, err := r.Docker.ExecOutput(ctx, master, "kubeadm", "token", "create", "--ttl", "1h")
	if err != nil {
		return fmt.Errorf("making a join token on %s: %w", master, err)
	}
	r.token = strings.TrimSpace(token)
	ca, err := r.Docker.ExecOutput(ctx, master, "cat", "/etc/kubernetes/pki/ca.crt")
	if err == nil {
		_, err = parseCACert([]byte(ca))
	}
	if err != nil {
		return fmt.Errorf("reading the cluster's CA certificate on %s: %w", master, err)
	}
	key, err := r.Docker.ExecOutput(ctx, master, "cat", "/etc/kubernetes/pki/ca.key")
	if err != nil {
		return fmt.Errorf("reading the cluster's CA key on %s: %w", master, err)
	}
	r.ca = clusterCA{Cert: []byte(ca + "\n"), Key: []byte(key + "\n")}
	return nil
}

// routeTo gives every existing node a route to n's pod subnet, kept in the
// node's routes file for its next boot.
func (r *run) routeTo(ctx context.Context, n Node, existing []Node) error {
	routes := r.routesTo(n)
	if routes == "" {
		return nil
	}
	script := `while read -r route; do ip route replace $route; done <<<"$1"; printf '%s' "$1" >>/etc/dind/routes`
	for _, e := range existing {
		if err := r.Docker.Exec(ctx, e.Name, []string{"bash", "-c", script, "routes", routes}, nil, nil); err != nil {
			return fmt.Errorf("routing %s to %s: %w", e.Name, n.Name, err)
		}
	}
	return nil
}

// privateKubeconfig learns the API server's port and gives the run a
// kubectl of dind-cluster's own on the cluster.
func (r *run) privateKubeconfig(ctx context.Context) error {
	port, err := r.Docker.PublishedPort(ctx, r.Cfg.MasterName(), apiServerPort)
	if err != nil {
		return err
	}
	r.port = port
	if r.entry, err = r.adminEntry(ctx, port); err != nil {
		return err
	}
	k, cleanup, err := r.privateKubectl(r.entry, r.kubectl)
	if err != nil {
		return err
	}
	r.cleanups, r.k = append(r.cleanups, cleanup), k
	return nil
}

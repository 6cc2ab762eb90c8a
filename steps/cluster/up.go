package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/cache"
	"github.com/dind-cluster/dind-cluster/steps/docker"
	"github.com/dind-cluster/dind-cluster/steps/kubeconfig"
)

// Step names of up's plans.
const (
	stepPreflight  = "preflight"
	stepLeftovers  = "remove-leftovers"
	stepNetwork    = "network"
	stepInit       = "kubeadm-init"
	stepDrop       = "drop-joined-nodes"
	stepKubeconfig = "kubeconfig"
	stepReady      = "ready"
	stepSnapshot   = "snapshot"
	stepRecord     = "record"

	stepRecordInMaster = "record-in-master"

	stepRegistry          = "local-registry"
	stepRegistryConfigMap = "registry-configmap"
)

func stepStart(n Node) string   { return "start-" + n.Name }
func stepJoin(n Node) string    { return "join-" + n.Name }
func stepRestore(n Node) string { return "restore-" + n.Name }

// Result tells what up did.
type Result struct {
	Action  Action
	Port    int    // the API server's port on the Docker host's 127.0.0.1
	Context string // the kubectl context
	Version string // its Kubernetes version, which the cache folder's kubectl now has
	Notes   []string
}

// run is the state of one up: what it observed and decided, and what its
// steps learn and make on the way. Each up makes its own.
type run struct {
	*Cluster // with the configuration the decision settled on
	state    State
	decision Decision
	started  time.Time

	initArgs []string // passed to kubeadm init on a create

	builder   *build.Builder
	engine    docker.Engine
	nodeImage string
	kubectl   string // a kubectl of the cluster's version
	record    Record // what the cluster is made of: its record once complete
	token     string
	ca        clusterCA
	port      int
	entry     kubeconfig.Entry // the cluster's admin credentials, once read
	k         kubectl          // on the cluster, once its kubeconfig is written
	cleanups  []func()         // run when the plan is over
}

// Up brings the cluster up: creates it, resumes it or restores it, as Decide
// says for what exists.
func (c *Cluster) Up(ctx context.Context, req Request) (Result, steps.Timeline, error) {
	return c.up(ctx, req, nil, false)
}

// Init creates the master alone, passing args to kubeadm init; Join adds
// workers to it.
func (c *Cluster) Init(ctx context.Context, args []string) (steps.Timeline, error) {
	req := Request{Workers: 0, WorkersGiven: true, Versions: c.Cfg.Versions, VersionGiven: true}
	_, timeline, err := c.up(ctx, req, args, true)
	return timeline, err
}

func (c *Cluster) up(ctx context.Context, req Request, initArgs []string, mustBeNew bool) (Result, steps.Timeline, error) {
	unlock, state, err := c.lockAndObserve(ctx)
	if err != nil {
		return Result{}, nil, err
	}
	defer unlock()
	if mustBeNew && !state.Empty() {
		return Result{}, nil, fmt.Errorf("cluster %s exists: run clean before init, or up to restart it", c.Cfg.ClusterName())
	}
	resolved, err := c.clusterConfig(state)
	if err != nil {
		return Result{}, nil, err
	}
	d, err := Decide(resolved, state, req)
	if err != nil {
		return Result{}, nil, err
	}
	for _, note := range d.Notes {
		c.logf("%s", note)
	}
	cfg := *resolved
	cfg.NumNodes, cfg.Versions = d.Workers, d.Versions
	r := &run{Cluster: &Cluster{Cfg: &cfg, Out: c.Out, Docker: c.Docker}, state: state, decision: d,
		started: time.Now(), initArgs: initArgs}
	plan, err := r.plan()
	if err != nil {
		return Result{}, nil, err
	}
	p, err := steps.NewPlan(plan...)
	if err != nil {
		return Result{}, nil, err
	}
	c.logf("up: %s cluster %s (%d nodes, Kubernetes %s)", d.Action, cfg.ClusterName(), len(d.Nodes), cfg.Versions.Kubernetes)
	timeline, err := p.Run(ctx, c.Out)
	r.cleanup()
	build.RecordTimings(cfg.CacheDir, timeline)
	return Result{Action: d.Action, Port: r.port, Context: cfg.ContextName(), Version: cfg.Versions.Kubernetes, Notes: d.Notes}, timeline, err
}

// lockAndObserve takes the cluster's lock, so that no other command changes
// it meanwhile, and observes it.
func (c *Cluster) lockAndObserve(ctx context.Context) (unlock func(), s State, err error) {
	if unlock, err = c.lock(ctx); err != nil {
		return nil, s, err
	}
	if s, err = c.Observe(ctx); err != nil {
		unlock()
		return nil, s, err
	}
	return unlock, s, nil
}

// lock takes the cluster's lock.
func (c *Cluster) lock(ctx context.Context) (unlock func(), err error) {
	engine, err := c.Docker.Info(ctx)
	if err != nil {
		return nil, err
	}
	lock := cache.Cache{Dir: c.Cfg.CacheDir, Waiting: c.Out}
	return lock.LockAs(ctx, "cluster-"+engineDir(engine.ID)+"-"+c.Cfg.ClusterName(), "cluster "+c.Cfg.ClusterName())
}

// plan is the decision as steps.
func (r *run) plan() ([]steps.Step, error) {
	r.builder = build.New(r.Cfg.Versions, cache.Cache{Dir: r.Cfg.CacheDir, Waiting: r.Out}, r.Out)
	r.builder.Docker, r.builder.AptMirror, r.builder.WithRegistry = r.Docker, r.Cfg.AptMirror, r.Cfg.Registry
	r.builder.WithNAT64 = r.Cfg.IPMode == config.IPv6
	r.builder.WithStorage, r.builder.WithMetrics = r.Cfg.Addons.Storage, r.Cfg.Addons.Metrics
	r.builder.CNI = r.Cfg.CNIPlugin
	plan := append(r.buildSteps(), r.preflight())
	var ready []string // the steps after which every node runs its kubelet
	var kubeconfigAfter string
	nodes, d := r.decision.Nodes, r.decision
	switch d.Action {
	case Create:
		var err error
		if r.ca, err = newClusterCA(time.Now()); err != nil {
			return nil, err
		}
		r.token, r.port = newToken(), r.Cfg.APIServerPort
		r.record = Record{UID: randomHex(8), Kubernetes: r.Cfg.Versions.Kubernetes, Workers: d.Workers, CA: fingerprint(r.ca.Cert),
			Shape: r.Cfg.Shape(), NetworkID: r.Cfg.NetworkID()}
		networkNeeds := []string{stepPreflight}
		if d.RemoveLeftovers {
			plan = append(plan, steps.Step{Name: stepLeftovers, Needs: []string{stepPreflight}, Run: func(ctx context.Context) error {
				if err := r.removeObjects(ctx); err != nil {
					return err
				}
				r.state.Volumes = nil // the nodes get new ones, with labels
				return nil
			}})
			networkNeeds = append(networkNeeds, stepLeftovers)
		}
		plan = append(plan, steps.Step{Name: stepNetwork, Needs: networkNeeds, Run: r.createNetwork})
		plan = append(plan, r.registryStep(stepNetwork)...)
		plan = append(plan, r.nat64Steps(stepNetwork)...)
		for _, n := range nodes {
			plan = append(plan, steps.Step{Name: stepStart(n), Needs: []string{stepNetwork}, Run: func(ctx context.Context) error {
				return r.startNew(ctx, n, nodes)
			}})
		}
		plan = append(plan, steps.Step{Name: stepInit, Needs: []string{stepStart(nodes[0])}, Run: r.kubeadmInit})
		for _, n := range nodes[1:] {
			plan = append(plan, steps.Step{Name: stepJoin(n), Needs: []string{stepInit, stepStart(n)},
				Run: func(ctx context.Context) error { return r.kubeadmJoin(ctx, n, nil) }})
			ready = append(ready, stepJoin(n))
		}
		ready, kubeconfigAfter = append(ready, stepInit), stepInit
		plan = append(plan, r.addonsStep()...)
		cni, cniReady := r.cniSteps(nodes)
		plan, ready = append(plan, cni...), append(ready, cniReady...)
	case Resume:
		r.record = d.Record
		plan = append(plan, r.registryStep(stepPreflight)...)
		plan = append(plan, r.nat64Steps(stepPreflight)...)
		for _, n := range nodes {
			plan = append(plan, steps.Step{Name: stepStart(n), Needs: []string{stepPreflight}, Run: func(ctx context.Context) error {
				return r.resumeNode(ctx, n)
			}})
			ready = append(ready, stepStart(n))
		}
		kubeconfigAfter = stepStart(nodes[0])
	case Restore:
		r.record, r.port = d.Record, r.Cfg.APIServerPort
		if r.port == 0 {
			r.port = r.state.MasterPort // users and forwarders keep theirs
		}
		needs := []string{stepPreflight, stepDrop}
		// Nothing goes before preflight has checked what the restore needs.
		plan = append(plan, steps.Step{Name: stepDrop, Needs: []string{stepPreflight}, Run: r.dropStagedAndJoined})
		if r.state.Network == nil {
			plan = append(plan, steps.Step{Name: stepNetwork, Needs: []string{stepPreflight}, Run: r.createNetwork})
			needs = append(needs, stepNetwork)
		}
		plan = append(plan, r.registryStep(needs[len(needs)-1])...)
		plan = append(plan, r.nat64Steps(needs[len(needs)-1])...)
		for _, n := range nodes {
			plan = append(plan, steps.Step{Name: stepRestore(n), Needs: needs,
				Run: func(ctx context.Context) error { return r.restoreNode(ctx, n) }})
			ready = append(ready, stepRestore(n))
		}
		kubeconfigAfter = stepRestore(nodes[0])
	}
	plan = append(plan,
		steps.Step{Name: stepKubeconfig, Needs: []string{kubeconfigAfter}, Run: r.writeKubeconfig},
		steps.Step{Name: stepReady, Needs: append(ready, stepKubeconfig), Run: func(ctx context.Context) error {
			return r.waitReady(ctx, r.readySince(), nodeNames(nodes), true)
		}},
	)
	if r.Cfg.Registry {
		// A new cluster's snapshot holds it; a restored or resumed one gets it
		// again, for the registry's port may have changed.
		after := stepKubeconfig
		if d.Action == Create {
			after = stepReady
		}
		plan = append(plan, steps.Step{Name: stepRegistryConfigMap, Needs: []string{after, stepRegistry}, Run: r.advertiseRegistry})
	}
	switch {
	case d.Action == Create:
		recordNeeds := []string{stepReady}
		if r.Cfg.Addons.Storage || r.Cfg.Addons.Metrics {
			recordNeeds = append(recordNeeds, stepAddons)
		}
		if r.Cfg.Registry {
			recordNeeds = append(recordNeeds, stepRegistryConfigMap)
		}
		// The copy goes in once the snapshot is whole: a cluster whose
		// master holds it is complete.
		plan = append(plan,
			steps.Step{Name: stepSnapshot, Needs: recordNeeds, Run: func(ctx context.Context) error {
				return r.takeSnapshot(ctx, r.state.EngineID, r.record, nodes)
			}},
			steps.Step{Name: stepRecordInMaster, Needs: []string{stepSnapshot}, Run: func(ctx context.Context) error {
				return r.writeRecordInMaster(ctx, r.record)
			}},
			steps.Step{Name: stepRecord, Needs: []string{stepRecordInMaster}, Run: func(ctx context.Context) error {
				return r.writeRecord(ctx, r.record)
			}})
	case d.Action == Restore:
		// The snapshot holds no copy: it was taken before there was one.
		plan = append(plan, steps.Step{Name: stepRecordInMaster, Needs: []string{stepRestore(nodes[0])}, Run: func(ctx context.Context) error {
			return r.writeRecordInMaster(ctx, r.record)
		}})
	}
	if d.Action != Create && r.state.RecordVolumeMissing {
		// Pruned: the master's copy stands in, and makes it again.
		r.logf("the record volume %s of cluster %s is gone (pruned?): it is made again from the master's copy",
			r.recordVolume(), r.Cfg.ClusterName())
		plan = append(plan, steps.Step{Name: stepRecord, Needs: []string{stepPreflight}, Run: func(ctx context.Context) error {
			return r.writeRecord(ctx, r.record)
		}})
	}
	return plan, nil
}

// readySince is when the Ready reports that count were made: since this
// run started, but any for a cluster that was only paused. A thawed kubelet
// goes on where it stopped, and reports a Ready state that has not changed
// only every few minutes.
func (r *run) readySince() time.Time {
	if r.decision.Action != Resume {
		return r.started
	}
	for _, n := range r.decision.Nodes {
		if st := r.state.Nodes[n.Index].State; st != "paused" && st != "running" {
			return r.started
		}
	}
	return time.Time{}
}

func (r *run) cleanup() {
	for _, f := range r.cleanups {
		f()
	}
}

// buildSteps are the steps of the supply chain the run needs. A cluster
// there keeps the node image it was made from: its resume, restore or join
// builds only what is missing of the rest (its kubectl, the images of the
// registry and of the IPv6 helpers), and never the node image, which an
// upgraded dind-cluster would make anew.
func (r *run) buildSteps() []steps.Step {
	all := r.builder.Steps()
	if r.decision.Action == Create {
		return all
	}
	roots := []string{build.StepEngine}
	if r.needKubectlBuild() {
		roots = append(roots, "kubernetes")
	}
	if r.builder.WithRegistry {
		roots = append(roots, build.StepRegistryImage)
	}
	if r.builder.WithNAT64 {
		roots = append(roots, build.StepDNS64Image, build.StepNAT64Image)
	}
	return steps.Closure(all, roots...)
}

// needKubectlBuild tells whether the cluster's kubectl is still to be built:
// installKubectl placed none of its version yet.
func (r *run) needKubectlBuild() bool {
	if r.decision.Action == Create {
		return true
	}
	_, err := os.Stat(r.installedKubectl())
	return err != nil
}

// preflight takes over what the supply chain found and built, and checks
// the engine and the node image the cluster keeps using.
func (r *run) preflight() steps.Step {
	b := r.builder
	needs := []string{build.StepEngine}
	if r.decision.Action == Create {
		needs = append(needs, build.StepNodeImage)
	}
	built := r.needKubectlBuild()
	if built {
		needs = append(needs, "kubernetes")
	}
	return steps.Step{Name: stepPreflight, Needs: needs,
		Run: func(ctx context.Context) error {
			r.engine, r.nodeImage, r.kubectl = b.Engine, b.NodeImage, r.installedKubectl()
			if built {
				r.kubectl = b.KubectlPath()
			}
			if r.decision.NodeImage != "" {
				r.nodeImage = r.decision.NodeImage
				if r.decision.Action != Resume && !build.LayersVolumeExists(ctx, r.Docker, build.LayersVolume(r.nodeImage)) {
					return fmt.Errorf("the image layers volume %s of node image %s is gone, and a new node needs it: "+
						"run clean, then up, for a fresh cluster", build.LayersVolume(r.nodeImage), r.nodeImage)
				}
			}
			r.record.NodeImage = r.nodeImage
			if err := guardBtrfs(r.engine, r.Cfg.RunOnBtrfsAnyway); err != nil {
				return err
			}
			r.engine.Privileged = privileged(ctx, r.Docker, b.Cache, r.engine, r.nodeImage)
			return r.installKubectl()
		}}
}

func guardBtrfs(e docker.Engine, anyway bool) error {
	if e.StorageDriver != "btrfs" || anyway {
		return nil
	}
	return errors.New("the Docker engine stores images on btrfs, which dind-cluster does not support: " +
		"volumes of nodes cannot be cleaned up properly (docker/docker#9939) and kubelet misbehaves on it " +
		"(kubernetes/kubernetes#38337); set RUN_ON_BTRFS_ANYWAY=y to try anyway")
}

// privileged probes once per engine whether --privileged works, and
// remembers the answer in the cache.
func privileged(ctx context.Context, d docker.Provider, c cache.Cache, e docker.Engine, image string) bool {
	key := cache.Key("privileged", e.ID)
	if c.Has("engines", key+"-yes") {
		return true
	}
	if c.Has("engines", key+"-no") {
		return false
	}
	yes := d.CanRunPrivileged(ctx, image)
	if ctx.Err() != nil {
		return yes // cut short: no answer to remember
	}
	answer := map[bool]string{true: "-yes", false: "-no"}[yes]
	c.Fill(ctx, "engines", key+answer, func(string) error { return nil })
	return yes
}

// objectLabels are the labels of what this up makes.
func (r *run) objectLabels(extra docker.Labels) docker.Labels {
	l := r.labels(extra)
	if r.decision.Action == Create {
		l[labelCreator] = creator()
	}
	return l
}

func nodeNames(nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

package cluster

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/dind-cluster/dind-cluster/fixed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

// TestDecisions covers what up does for every kind of cluster it can find,
// and what it refuses: it never removes what a completed up made.
func TestDecisions(t *testing.T) {
	cfg := testConfig(t, map[string]string{})
	v137, _ := fixed.Lookup("v1.37.2")
	v136, _ := fixed.Lookup("v1.36.3")
	const image = "dind-cluster/node:v1.37.2-abc"
	record := &Record{UID: "u1", Kubernetes: "v1.37.2", NodeImage: image, Workers: 2, CA: "ca"}
	snapshot := Snapshot{Dir: "/cache/snapshots/e/default/gen-1"}
	noSnapshot := Snapshot{Problem: "no snapshot in /cache/snapshots/e/default"}

	// nodes makes the node containers of the cluster: index -> state.
	nodes := func(states map[int]string) map[int]docker.Container {
		out := map[int]docker.Container{}
		for i, st := range states {
			out[i] = container(cfg, cfg.NodeName(i), st)
		}
		return out
	}
	all := func(state string) map[int]docker.Container {
		return nodes(map[int]string{0: state, 1: state, 2: state})
	}
	complete := func(s State) State {
		s.Record, s.RecordImagePresent, s.Network = record, true, &docker.Network{Name: cfg.NetworkName()}
		if s.Nodes == nil {
			s.Nodes = map[int]docker.Container{}
		}
		return s
	}
	plain := Request{Workers: 2, Versions: v137}

	for _, c := range []struct {
		name      string
		state     State
		req       Request
		action    Action
		nodes     []string // the nodes acted on, by index
		drop      []string
		leftovers bool
		version   string
		refused   string // a part of the refusal; "" when up proceeds
	}{
		{name: "nothing there: create", state: State{}, req: plain, action: Create, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "nothing there, three workers asked: create three", state: State{}, req: Request{Workers: 3, WorkersGiven: true, Versions: v137},
			action: Create, nodes: []string{"kube-master", "kube-node-1", "kube-node-2", "kube-node-3"}},
		{name: "what an up that died left: removed, then create",
			state: State{Nodes: nodes(map[int]string{0: "running"}), hasCreator: true},
			req:   plain, action: Create, leftovers: true, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "an up of this host still making it: refused",
			state: State{Nodes: nodes(map[int]string{0: "created"}), hasCreator: true, CreatorRunning: "host/42/100"},
			req:   plain, refused: "is being made by another dind-cluster (process 42 on host host)"},
		{name: "an up of another host made it: refused",
			state: State{Volumes: []docker.Volume{{Name: "v"}}, hasCreator: true, CreatorElsewhere: "other/42/100"},
			req:   plain, refused: "left unfinished by a dind-cluster on another host (process 42 on host other)"},
		{name: "a foreign container holds the master's name: refused",
			state: State{Others: map[string]bool{"kube-master": true}}, req: plain,
			refused: "a container named kube-master exists and is not one of cluster default's"},
		{name: "a volume not of the cluster holds a node volume's name: refused",
			state: State{Others: map[string]bool{"kubeadm-dind-kube-node-2-kubelet": true}}, req: plain,
			refused: "a volume named kubeadm-dind-kube-node-2-kubelet exists and is not one of cluster default's: remove it (docker volume rm kubeadm-dind-kube-node-2-kubelet)"},
		{name: "a foreign network holds the network's name: refused",
			state: State{ForeignNetwork: true}, req: plain, refused: "a Docker network named kubeadm-dind-net exists and is not dind-cluster's"},
		{name: "running with a snapshot: restore",
			state: complete(State{Nodes: all("running"), Snapshot: snapshot}), req: plain,
			action: Restore, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "paused: resume (thawed)",
			state: complete(State{Nodes: all("paused"), Snapshot: snapshot}), req: plain, action: Resume,
			nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "stopped, its network pruned, with a snapshot: restore",
			state: func() State {
				s := complete(State{Nodes: all("exited"), Snapshot: snapshot})
				s.Network = nil
				return s
			}(), req: plain, action: Restore, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "stopped, its network pruned, no snapshot: refused",
			state: func() State {
				s := complete(State{Nodes: all("exited"), Snapshot: noSnapshot})
				s.Network = nil
				return s
			}(), req: plain, refused: "cluster default lacks network kubeadm-dind-net"},
		{name: "running with a joined node the snapshot holds: restore, keeping it",
			state: complete(State{Nodes: nodes(map[int]string{0: "running", 1: "running", 2: "running", 3: "running"}),
				Snapshot: Snapshot{Dir: snapshot.Dir, Manifest: manifest{Nodes: []snapshotNode{
					{Name: "kube-master"}, {Name: "kube-node-1"}, {Name: "kube-node-2"}, {Name: "kube-node-3"}}}}}),
			req: plain, action: Restore, nodes: []string{"kube-master", "kube-node-1", "kube-node-2", "kube-node-3"}},
		{name: "running without a snapshot here: refused, left as it is",
			state: complete(State{Nodes: all("running"), Snapshot: noSnapshot}), req: plain,
			refused: "cluster default is running, and DIND_CACHE_DIR="},
		{name: "stopped, with or without snapshot: resume",
			state: complete(State{Nodes: all("exited"), Snapshot: noSnapshot}), req: plain,
			action: Resume, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "partly stopped: resume",
			state: complete(State{Nodes: nodes(map[int]string{0: "running", 1: "exited", 2: "running"})}), req: plain,
			action: Resume, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "stopped with a joined node: resume it too",
			state: complete(State{Nodes: nodes(map[int]string{0: "exited", 1: "exited", 2: "exited", 3: "exited"})}), req: plain,
			action: Resume, nodes: []string{"kube-master", "kube-node-1", "kube-node-2", "kube-node-3"}},
		{name: "running with a joined node: restore, dropping it",
			state: complete(State{Nodes: nodes(map[int]string{0: "running", 1: "running", 2: "running", 3: "running"}), Snapshot: snapshot}),
			req:   plain, action: Restore, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}, drop: []string{"kube-node-3"}},
		{name: "a node missing (interrupted restore): restore",
			state: complete(State{Nodes: nodes(map[int]string{0: "running", 2: "running"}), Snapshot: snapshot}), req: plain,
			action: Restore, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "a node never started (interrupted restore): restore",
			state: complete(State{Nodes: nodes(map[int]string{0: "running", 1: "created", 2: "exited"}), Snapshot: snapshot}), req: plain,
			action: Restore, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "a staged replacement left: restore",
			state: complete(State{Nodes: all("exited"), Staged: []docker.Container{{Name: "kube-node-1-restoring"}}, Snapshot: snapshot}),
			req:   plain, action: Restore, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "a node missing and no snapshot: refused",
			state: complete(State{Nodes: nodes(map[int]string{0: "running", 2: "running"}), Snapshot: noSnapshot}), req: plain,
			refused: "cluster default lacks kube-node-1"},
		{name: "restore needed but its node image is gone: refused",
			state: func() State {
				s := complete(State{Nodes: nodes(map[int]string{0: "running"}), Snapshot: snapshot})
				s.RecordImagePresent = false
				return s
			}(), req: plain, refused: "which is gone"},
		{name: "another version asked: refused",
			state: complete(State{Nodes: all("exited")}), req: Request{Workers: 2, Versions: v136, VersionGiven: true},
			refused: "cluster default runs Kubernetes v1.37.2 and DIND_K8S_VERSION=v1.36.3 asks for another"},
		{name: "no version asked: the cluster's is kept",
			state: func() State {
				s := complete(State{Nodes: all("exited")})
				s.Record = &Record{UID: "u", Kubernetes: "v1.36.3", NodeImage: image, Workers: 2}
				return s
			}(), req: plain, action: Resume, version: "v1.36.3", nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "more workers asked: refused, join named",
			state: complete(State{Nodes: all("exited")}), req: Request{Workers: 3, WorkersGiven: true, Versions: v137},
			refused: "cluster default has 2 workers and NUM_NODES=3 asks for more: `join` adds one worker"},
		{name: "fewer workers asked: refused",
			state: complete(State{Nodes: all("exited")}), req: Request{Workers: 1, WorkersGiven: true, Versions: v137},
			refused: "NUM_NODES=1 asks for fewer"},
		{name: "no worker count asked: the cluster's is kept",
			state: complete(State{Nodes: all("exited")}), req: Request{Workers: 5, Versions: v137},
			action: Resume, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "restore asked of nothing: refused", state: State{}, req: Request{Workers: 2, Versions: v137, ForceRestore: true},
			refused: "has no completed up to restore"},
		{name: "restore asked of a stopped cluster with a snapshot: restore",
			state: complete(State{Nodes: all("exited"), Snapshot: snapshot}), req: Request{Workers: 2, Versions: v137, ForceRestore: true},
			action: Restore, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "restore asked without a snapshot: refused",
			state: complete(State{Nodes: all("exited"), Snapshot: noSnapshot}), req: Request{Workers: 2, Versions: v137, ForceRestore: true},
			refused: "cluster default cannot be restored"},
		{name: "made before records (no creator label): complete, resumed",
			state: State{Nodes: all("exited"), MasterImage: image, Network: &docker.Network{Name: cfg.NetworkName()}}, req: plain,
			action: Resume, nodes: []string{"kube-master", "kube-node-1", "kube-node-2"}},
		{name: "a foreign container holds a node a restore remakes: refused",
			state: func() State {
				s := complete(State{Nodes: nodes(map[int]string{0: "running", 2: "running"}), Snapshot: snapshot})
				s.Others = map[string]bool{"kube-node-1": true}
				return s
			}(), req: plain, refused: "a container named kube-node-1 exists and is not one of cluster default's"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := Decide(cfg, c.state, c.req)
			if c.refused != "" {
				if err == nil || !strings.Contains(err.Error(), c.refused) {
					t.Fatalf("got %+v, %v; want a refusal saying %q", d, err, c.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != c.action || d.RemoveLeftovers != c.leftovers {
				t.Errorf("action %s (remove leftovers %v); want %s (%v)", d.Action, d.RemoveLeftovers, c.action, c.leftovers)
			}
			if got := nodeNames(d.Nodes); !slices.Equal(got, c.nodes) {
				t.Errorf("nodes %v; want %v", got, c.nodes)
			}
			if got := nodeNames(d.Drop); !slices.Equal(got, c.drop) {
				t.Errorf("dropped %v; want %v", got, c.drop)
			}
			want := c.version
			if want == "" {
				want = "v1.37.2"
			}
			if d.Versions.Kubernetes != want {
				t.Errorf("version %s; want %s", d.Versions.Kubernetes, want)
			}
		})
	}
}

// Every decision makes a plan the engine accepts: step names unique, every
// need in the plan, no cycle; with and without the registry.
func TestEveryDecisionMakesAValidPlan(t *testing.T) {
	for _, env := range []map[string]string{{"DIND_REGISTRY": "on"}, {"DIND_REGISTRY": "off"}, {"IP_MODE": "ipv6"},
		{"CNI_PLUGIN": "flannel"}, {"CNI_PLUGIN": "kube-router"}} {
		cfg := testConfig(t, env)
		record := Record{UID: "u", Kubernetes: "v1.37.2", NodeImage: "img", Workers: 2}
		nodes := nodesUpTo(cfg, 2)
		for _, d := range []Decision{
			{Action: Create, Nodes: nodes, Workers: 2, Versions: cfg.Versions},
			{Action: Create, Nodes: nodes, Workers: 2, Versions: cfg.Versions, RemoveLeftovers: true},
			{Action: Resume, Nodes: nodes, Record: record, NodeImage: "img", Versions: cfg.Versions},
			{Action: Restore, Nodes: nodes, Record: record, NodeImage: "img", Versions: cfg.Versions, Drop: nodesUpTo(cfg, 3)[3:]},
		} {
			r := &run{Cluster: New(cfg, nil), decision: d}
			r.state.RecordVolumeMissing = d.Action != Create
			plan, err := r.plan()
			if err == nil {
				_, err = steps.NewPlan(plan...)
			}
			if err != nil {
				t.Errorf("%v, %s (remove leftovers %v): %v", env, d.Action, d.RemoveLeftovers, err)
			}
		}
	}
}

// A cluster there keeps its node image: resuming or restoring it builds no
// node image, and no Kubernetes once its kubectl is in place.
func TestAClusterThereIsNotRebuilt(t *testing.T) {
	cfg := testConfig(t, map[string]string{})
	record := Record{UID: "u", Kubernetes: "v1.37.2", NodeImage: "img", Workers: 2}
	for _, action := range []Action{Resume, Restore} {
		for _, haveKubectl := range []bool{false, true} {
			r := &run{Cluster: New(cfg, nil), decision: Decision{Action: action, Nodes: nodesUpTo(cfg, 2), Record: record,
				NodeImage: "img", Versions: cfg.Versions}}
			os.Remove(r.installedKubectl())
			if haveKubectl {
				os.MkdirAll(cfg.CacheDir, 0o755)
				os.WriteFile(r.installedKubectl(), nil, 0o755)
			}
			plan, err := r.plan()
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, s := range plan {
				names[s.Name] = true
			}
			if names["node-image"] || names["rootfs-node"] || names["kubernetes"] == haveKubectl {
				t.Errorf("%s, kubectl in place %v: the plan builds %v", action, haveKubectl, names)
			}
		}
	}
}

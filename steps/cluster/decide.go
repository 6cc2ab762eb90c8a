package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/fixed"
)

// Action is what up does.
type Action string

const (
	Create  Action = "create"  // no cluster: bootstrap one
	Resume  Action = "resume"  // stopped by down: start it with all it holds
	Restore Action = "restore" // back to its snapshot: fresh again
)

// Request is what the user asked of up.
type Request struct {
	Workers      int // NUM_NODES
	WorkersGiven bool
	Versions     fixed.Set // DIND_K8S_VERSION
	VersionGiven bool
	// ForceRestore asks for the snapshot whatever the nodes' state (the
	// restore command).
	ForceRestore bool
}

// RequestOf is the request the configuration makes.
func RequestOf(cfg *config.Config) Request {
	return Request{Workers: cfg.NumNodes, WorkersGiven: cfg.NumNodesGiven, Versions: cfg.Versions, VersionGiven: cfg.VersionGiven}
}

// Decision is what up will do, and with what.
type Decision struct {
	Action Action
	// RemoveLeftovers: before creating, remove what an up that never
	// completed left.
	RemoveLeftovers bool
	Versions        fixed.Set
	Workers         int
	// Nodes are the nodes up makes, resumes or restores, master first.
	Nodes []Node
	// Drop are nodes a restore removes: joined after the snapshot.
	Drop []Node
	// NodeImage is the node image a resume or restore keeps using ("" for a
	// create, which uses the one it builds).
	NodeImage string
	// Record is what the cluster is made of, for a resume or restore: its
	// record, or what stands in for one.
	Record Record
	// Notes tell the user what up follows or keeps.
	Notes []string
}

// Decide maps what exists and what was asked to what up does. It never
// chooses to remove what a completed up made: a request that does not fit
// the cluster there is refused, saying what differs and what to do.
func Decide(cfg *config.Config, s State, r Request) (Decision, error) {
	name := cfg.ClusterName()
	if s.ForeignNetwork {
		return Decision{}, fmt.Errorf("a Docker network named %s exists and is not dind-cluster's: remove it (docker network rm %s) "+
			"or choose another CLUSTER_ID or DIND_LABEL", cfg.NetworkName(), cfg.NetworkName())
	}
	record := s.Record
	if record == nil && !s.hasCreator && s.MasterImage != "" {
		record = legacyRecord(cfg, s) // made by a dind-cluster from before records
	}
	if record == nil {
		return decideUnfinished(cfg, s, r)
	}

	if r.VersionGiven && r.Versions.Kubernetes != record.Kubernetes {
		return Decision{}, fmt.Errorf("cluster %s runs Kubernetes %s and DIND_K8S_VERSION=%s asks for another: "+
			"set DIND_K8S_VERSION=%s (or leave it unset) to keep this cluster, or run clean first to replace it",
			name, record.Kubernetes, r.Versions.Kubernetes, record.Kubernetes)
	}
	versions, err := fixed.Lookup(record.Kubernetes)
	if err != nil {
		return Decision{}, fmt.Errorf("cluster %s runs Kubernetes %q, which this dind-cluster does not pin: run clean, then up", name, record.Kubernetes)
	}
	if r.WorkersGiven && r.Workers != record.Workers {
		if r.Workers > record.Workers {
			return Decision{}, fmt.Errorf("cluster %s has %s and NUM_NODES=%d asks for more: `join` adds one worker to it "+
				"(run it %d times), or run clean first to replace it; leave NUM_NODES unset or set it to %d to keep it as it is",
				name, workers(record.Workers), r.Workers, r.Workers-record.Workers, record.Workers)
		}
		return Decision{}, fmt.Errorf("cluster %s has %s and NUM_NODES=%d asks for fewer: run clean first to replace it, "+
			"or leave NUM_NODES unset or set it to %d to keep it", name, workers(record.Workers), r.Workers, record.Workers)
	}
	d := Decision{Versions: versions, Workers: record.Workers, NodeImage: record.NodeImage, Nodes: nodesUpTo(cfg, record.Workers),
		Record: *record}
	if !r.VersionGiven && versions.Kubernetes != r.Versions.Kubernetes {
		d.Notes = append(d.Notes, fmt.Sprintf("cluster %s runs Kubernetes %s, as when it was made", name, versions.Kubernetes))
	}
	if !r.WorkersGiven && record.Workers != r.Workers {
		d.Notes = append(d.Notes, fmt.Sprintf("cluster %s has %s, as when it was made", name, workers(record.Workers)))
	}

	var missing, broken []string
	running := 0
	for _, n := range d.Nodes {
		ct, ok := s.Nodes[n.Index]
		switch {
		case !ok:
			missing = append(missing, n.Name)
		case ct.State == "running":
			running++
		case ct.State != "exited" && ct.State != "paused": // paused: resumed by a thaw
			broken = append(broken, n.Name+" ("+ct.State+")")
		}
	}
	if s.Network == nil {
		// Pruned while the nodes were stopped: they cannot start without it.
		missing = append(missing, "network "+cfg.NetworkName())
	}
	var joined []Node
	for i, ct := range s.Nodes {
		if i > record.Workers {
			joined = append(joined, Node{Index: i, Name: ct.Name, IP: cfg.NodeIP(i).String()})
		}
	}
	slices.SortFunc(joined, func(a, b Node) int { return a.Index - b.Index })
	if held := heldByOthers(s, d.Nodes); len(held) > 0 {
		return Decision{}, foreignNamesError(cfg, held)
	}

	needRestore := r.ForceRestore || len(missing) > 0 || len(broken) > 0 || len(s.Staged) > 0 || running == len(d.Nodes)
	if !needRestore {
		d.Action = Resume
		d.Nodes = append(d.Nodes, joined...)
		return d, nil
	}
	if !s.Snapshot.Verified() {
		return Decision{}, noSnapshotError(cfg, s, r, append(missing, broken...))
	}
	if !s.RecordImagePresent {
		return Decision{}, fmt.Errorf("cluster %s was made from node image %s, which is gone, and a restore needs it: "+
			"run clean, then up, for a fresh cluster", name, record.NodeImage)
	}
	// Nodes join added are dropped, unless a snapshot taken since holds
	// them.
	d.Action = Restore
	for _, n := range joined {
		if s.Snapshot.File(n.Name) == "" {
			d.Drop = append(d.Drop, n)
		}
	}
	for _, sn := range s.Snapshot.Manifest.Nodes {
		if i, ok := nodeIndex(cfg, sn.Name); ok && i > record.Workers {
			d.Nodes = append(d.Nodes, node(cfg, i))
		}
	}
	slices.SortFunc(d.Nodes, func(a, b Node) int { return a.Index - b.Index })
	return d, nil
}

// decideUnfinished decides for a cluster whose first up never completed:
// nothing there, or what an interrupted or failed up left.
func decideUnfinished(cfg *config.Config, s State, r Request) (Decision, error) {
	name := cfg.ClusterName()
	switch {
	case s.CreatorRunning != "":
		return Decision{}, fmt.Errorf("cluster %s is being made by another dind-cluster (%s): wait for it to finish, "+
			"or stop it and run clean", name, describeCreator(s.CreatorRunning))
	case s.CreatorElsewhere != "":
		return Decision{}, fmt.Errorf("cluster %s was left unfinished by a dind-cluster on another host (%s), which this "+
			"machine cannot ask whether it still runs: once it is over, run clean, then up", name, describeCreator(s.CreatorElsewhere))
	case r.ForceRestore:
		return Decision{}, fmt.Errorf("cluster %s has no completed up to restore: run up", name)
	}
	d := Decision{Action: Create, Versions: r.Versions, Workers: r.Workers, Nodes: nodesUpTo(cfg, r.Workers), RemoveLeftovers: !s.Empty()}
	if held := heldByOthers(s, d.Nodes); len(held) > 0 {
		return Decision{}, foreignNamesError(cfg, held)
	}
	if d.RemoveLeftovers {
		d.Notes = append(d.Notes, fmt.Sprintf("removing what an unfinished up of cluster %s left", name))
	}
	return d, nil
}

// legacyRecord stands in for the record of a cluster made before records:
// complete, as its node volumes say, with the workers it has.
func legacyRecord(cfg *config.Config, s State) *Record {
	version, _, _ := strings.Cut(strings.TrimPrefix(s.MasterImage, "dind-cluster/node:"), "-")
	workers := 0
	for i := range s.Nodes {
		workers = max(workers, i)
	}
	return &Record{Kubernetes: version, NodeImage: s.MasterImage, Workers: workers}
}

// heldByOthers are the names of nodes, and of their volumes, that
// containers and volumes of others hold.
func heldByOthers(s State, nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		if s.Others[n.Name] {
			out = append(out, n.Name)
		}
		for _, v := range slices.Sorted(maps.Values(volumeNames(n))) {
			if s.Others[v] {
				out = append(out, v)
			}
		}
	}
	return out
}

func foreignNamesError(cfg *config.Config, names []string) error {
	var containers, volumes []string
	for _, n := range names {
		if strings.HasPrefix(n, "kubeadm-dind-") {
			volumes = append(volumes, n)
		} else {
			containers = append(containers, n)
		}
	}
	var held, remove []string
	if len(containers) > 0 {
		held = append(held, "a container named "+strings.Join(containers, ", "))
		remove = append(remove, "docker rm -f "+strings.Join(containers, " "))
	}
	if len(volumes) > 0 {
		held = append(held, "a volume named "+strings.Join(volumes, ", "))
		remove = append(remove, "docker volume rm "+strings.Join(volumes, " "))
	}
	return fmt.Errorf("%s exists and is not one of cluster %s's: remove it (%s) or choose another CLUSTER_ID or DIND_LABEL",
		strings.Join(held, " and "), cfg.ClusterName(), strings.Join(remove, "; "))
}

func noSnapshotError(cfg *config.Config, s State, r Request, lacking []string) error {
	name, why := cfg.ClusterName(), s.Snapshot.Problem
	where := fmt.Sprintf("DIND_CACHE_DIR=%s holds no usable snapshot of it (%s)", cfg.CacheDir, why)
	switch {
	case len(lacking) > 0 || len(s.Staged) > 0:
		if len(lacking) == 0 {
			lacking = []string{"nodes a restore was replacing"}
		}
		return fmt.Errorf("cluster %s lacks %s (was a restore interrupted?), and %s to make them again: "+
			"run clean, then up, for a fresh cluster", name, strings.Join(lacking, ", "), where)
	case r.ForceRestore:
		return fmt.Errorf("cluster %s cannot be restored: %s. It is left as it is; `snapshot` makes its present state "+
			"the one restore returns to", name, where)
	}
	return fmt.Errorf("cluster %s is running, and %s: up has nothing to restore it to, and leaves it as it is. "+
		"Use it as it is; `down` then `up` restarts it with everything it holds; `snapshot` makes its present state "+
		"the one up returns to; clean then up makes a fresh cluster", name, where)
}

func workers(n int) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", n)
}

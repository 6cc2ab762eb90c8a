package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

// State is what exists of a cluster on the engine, gathered before anything
// is decided.
type State struct {
	EngineID string

	// Nodes are the cluster's node containers by node index; Staged the
	// replacements an interrupted restore left (NAME-restoring); Strays the
	// cluster's other containers.
	Nodes  map[int]docker.Container
	Staged []docker.Container
	Strays []docker.Container
	// Others are the names of every container and volume that is not the
	// cluster's.
	Others map[string]bool

	Volumes []docker.Volume
	// Network is the cluster's network; ForeignNetwork a network of that
	// name that dind-cluster did not make.
	Network        *docker.Network
	ForeignNetwork bool
	// NetworkID is the number in the cluster's management network: its
	// network's, or for a new DIND_LABEL cluster one no other cluster uses.
	NetworkID int

	// Record is there once the cluster's first up completed. When its
	// volume is gone, the master's copy is read, and RecordVolumeMissing
	// tells up to make the volume again.
	Record              *Record
	RecordVolumeMissing bool
	// MasterImage is the node image the master's volumes were made for
	// (legacy clusters, made before records, are known by it).
	MasterImage string
	// RecordImagePresent tells whether the node image of the record exists.
	RecordImagePresent bool

	// CreatorRunning: a process of this host that is making the cluster
	// still runs. CreatorElsewhere names one on another host, which this
	// machine cannot ask.
	CreatorRunning   string
	CreatorElsewhere string
	hasCreator       bool

	Snapshot Snapshot

	// MasterPort is the API server's port on the Docker host while the
	// master runs: a restore keeps it.
	MasterPort int
}

// Empty tells whether nothing of the cluster exists.
func (s State) Empty() bool {
	return len(s.Nodes) == 0 && len(s.Staged) == 0 && len(s.Strays) == 0 && len(s.Volumes) == 0 && s.Network == nil
}

// Containers are all of the cluster's containers, by name.
func (s State) Containers() []docker.Container {
	var out []docker.Container
	for _, c := range s.Nodes {
		out = append(out, c)
	}
	out = append(append(out, s.Staged...), s.Strays...)
	slices.SortFunc(out, func(a, b docker.Container) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Observe gathers what exists of the cluster.
func (c *Cluster) Observe(ctx context.Context) (State, error) {
	engine, err := c.Docker.Info(ctx)
	if err != nil {
		return State{}, err
	}
	s := State{EngineID: engineDir(engine.ID), Nodes: map[int]docker.Container{}, Others: map[string]bool{}}
	all, err := c.Docker.Containers(ctx, nil)
	if err != nil {
		return s, err
	}
	for _, ct := range all {
		if !c.isOurs(ct) {
			s.Others[ct.Name] = true
			continue
		}
		s.noteCreator(ct.Labels)
		if i, ok := nodeIndex(c.Cfg, ct.Name); ok {
			s.Nodes[i] = ct
		} else if strings.HasSuffix(ct.Name, stagedSuffix) {
			s.Staged = append(s.Staged, ct)
		} else {
			s.Strays = append(s.Strays, ct)
		}
	}
	if m, ok := s.Nodes[0]; ok && m.State == "running" {
		switch port, err := c.Docker.PublishedPort(ctx, m.Name, apiServerPort); {
		case err == nil:
			s.MasterPort = port
		case !errors.Is(err, docker.ErrNotFound):
			return s, err
		}
	}
	volumes, err := c.Docker.Volumes(ctx, nil)
	if err != nil {
		return s, err
	}
	for _, v := range volumes {
		if v.Labels[config.LabelCluster] == c.Cfg.ClusterName() {
			s.Volumes = append(s.Volumes, v)
		} else {
			s.Others[v.Name] = true
		}
	}
	for _, v := range s.Volumes {
		s.noteCreator(v.Labels)
		switch v.Name {
		case c.recordVolume():
			if s.Record, err = recordFrom(v); err != nil {
				return s, err
			}
		case volumeNames(node(c.Cfg, 0))["containerd"]:
			s.MasterImage = v.Labels[build.NodeImageLabel]
		}
	}
	if m, ok := s.Nodes[0]; ok && s.Record == nil {
		if s.Record, err = c.recordInMaster(ctx, m.Name); err != nil {
			return s, err
		}
		s.RecordVolumeMissing = s.Record != nil
	}
	switch n, err := c.Docker.Network(ctx, c.Cfg.NetworkName()); {
	case errors.Is(err, docker.ErrNotFound):
	case err != nil:
		return s, err
	case n.Labels[config.LabelCluster] != c.Cfg.ClusterName():
		s.ForeignNetwork = true
	default:
		s.Network = &n
		s.noteCreator(n.Labels)
	}
	if s.NetworkID, err = c.networkID(ctx, s.Network, s.Record); err != nil {
		return s, err
	}
	if s.Record != nil {
		if s.RecordImagePresent, err = c.Docker.ImageExists(ctx, s.Record.NodeImage); err != nil {
			return s, err
		}
		s.Snapshot = c.verifySnapshot(s.EngineID, s.Record)
	}
	return s, nil
}

// noteCreator records whether the process that made an object still runs.
func (s *State) noteCreator(labels docker.Labels) {
	who := labels[labelCreator]
	if who == "" {
		return
	}
	s.hasCreator = true
	if who == creator() {
		return // this very process
	}
	switch alive, known := creatorAlive(who); {
	case alive:
		s.CreatorRunning = who
	case !known:
		s.CreatorElsewhere = who
	}
}

// engineDir names an engine in paths.
func engineDir(id string) string { return strings.NewReplacer(":", "", "/", "").Replace(id) }

// describeCreator says who a creator label names, for a person.
func describeCreator(label string) string {
	f := strings.Split(label, "/")
	if len(f) != 3 {
		return label
	}
	return fmt.Sprintf("process %s on host %s", f[1], f[0])
}

// labelNetworkID is on a cluster's network: the network ID in its subnet.
const labelNetworkID = "dind-cluster.network-id"

// networkID is the cluster's network ID: the configured one, the one its
// network or its record has, or, for a DIND_LABEL cluster without either, the first of
// config.LabelNetworkIDs that no other cluster's network has.
func (c *Cluster) networkID(ctx context.Context, own *docker.Network, record *Record) (int, error) {
	if c.Cfg.NetworkIDFixed() {
		return c.Cfg.NetworkID(), nil
	}
	if own != nil {
		if id, err := strconv.Atoi(own.Labels[labelNetworkID]); err == nil {
			return id, nil
		}
		return c.Cfg.NetworkID(), nil // made before the label: with the provisional ID
	}
	if record != nil && record.NetworkID != 0 {
		return record.NetworkID, nil // its nodes' addresses are in its snapshot
	}
	networks, err := c.Docker.Networks(ctx, docker.Labels{config.LabelOwner: ""})
	if err != nil {
		return 0, err
	}
	used := map[int]bool{}
	for _, n := range networks {
		if id, err := strconv.Atoi(n.Labels[labelNetworkID]); err == nil {
			used[id] = true
		}
		for _, subnet := range n.Subnets {
			if p, err := netip.ParsePrefix(subnet); err == nil && p.Addr().Is4() && p.Bits() == 24 {
				used[int(p.Addr().As4()[2])] = true
			}
		}
	}
	var errs []error
	for _, id := range config.LabelNetworkIDs() {
		if used[id] {
			continue
		}
		if _, err := c.Cfg.WithNetworkID(id); err != nil {
			errs = append(errs, err)
			continue
		}
		return id, nil
	}
	return 0, fmt.Errorf("no network ID is free for DIND_LABEL=%s: the clusters of this engine use %v; set CLUSTER_ID "+
		"to a free number, or clean a cluster (%w)", c.Cfg.Label, slices.Sorted(maps.Keys(used)), errors.Join(errs...))
}

// clusterConfig is the configuration of the cluster s found: what it was
// made with where the user left a knob unset (a knob set otherwise is
// refused), with its network ID.
func (c *Cluster) clusterConfig(s State) (*config.Config, error) {
	cfg := c.Cfg
	if s.Record != nil {
		kept, err := cfg.Keeping(cfg.ClusterName(), s.Record.Shape)
		if err != nil {
			return nil, err
		}
		cfg = kept
	}
	if cfg.NetworkIDFixed() || s.NetworkID == cfg.NetworkID() {
		return cfg, nil
	}
	return cfg.WithNetworkID(s.NetworkID)
}

// isOurs tells whether a container is one of the cluster's: it has the
// cluster's labels and one of the names dind-cluster gives. Containers run
// from an image a user committed of a node carry the labels too, and are
// the user's.
func (c *Cluster) isOurs(ct docker.Container) bool {
	if ct.Labels[config.LabelCluster] != c.Cfg.ClusterName() || ct.Labels[config.LabelOwner] == "" {
		return false
	}
	name := strings.TrimSuffix(ct.Name, stagedSuffix)
	_, node := nodeIndex(c.Cfg, name)
	return node || ct.Name == dns64Name(c.Cfg) || ct.Name == nat64Name(c.Cfg)
}

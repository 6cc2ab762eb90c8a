package config

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
)

// The seed gives a DIND_LABEL cluster without CLUSTER_ID a pseudo-random
// network ID in this range, so that the default NAT64 prefix 172.18 plus the
// ID is still in 172.16.0.0/12.
const (
	firstLabelNetworkID = 1
	lastLabelNetworkID  = 13
)

// LabelNetworkIDs are the network IDs a DIND_LABEL cluster without
// CLUSTER_ID may take, in the order to try them.
func LabelNetworkIDs() []int {
	ids := make([]int, 0, lastLabelNetworkID-firstLabelNetworkID+1)
	for id := firstLabelNetworkID; id <= lastLabelNetworkID; id++ {
		ids = append(ids, id)
	}
	return ids
}

// NetworkID is the number injected into the cluster's networks: CLUSTER_ID,
// or, for a DIND_LABEL cluster without one, a provisional number 1..13
// derived from the label until WithNetworkID picks another.
func (c *Config) NetworkID() int { return c.networkID }

// NetworkIDFixed tells whether the configuration sets the network ID:
// CLUSTER_ID is given, or there is no label (the default cluster's 0).
// Otherwise the cluster code picks one of LabelNetworkIDs.
func (c *Config) NetworkIDFixed() bool { return c.ClusterID != 0 || c.Label == "" }

// WithNetworkID is a copy of c with network ID id and the networks derived
// from it, checked as Load checks them.
func (c *Config) WithNetworkID(id int) (*Config, error) {
	if c.settings == nil {
		return nil, errors.New("config: WithNetworkID needs a Config made by Load")
	}
	if c.NetworkIDFixed() && id != c.networkID {
		return nil, fmt.Errorf("network ID %d: cluster %s has network ID %d from its configuration; "+
			"only a DIND_LABEL cluster without CLUSTER_ID can be given another", id, c.ClusterName(), c.networkID)
	}
	if !c.NetworkIDFixed() && !slices.Contains(LabelNetworkIDs(), id) {
		return nil, fmt.Errorf("network ID %d: a DIND_LABEL cluster without CLUSTER_ID takes one from %d to %d",
			id, firstLabelNetworkID, lastLabelNetworkID)
	}
	out := *c
	out.Warnings = slices.Clone(c.Warnings)
	out.Kubeconfigs = slices.Clone(c.Kubeconfigs)
	out.KubeadmArgs = slices.Clone(c.KubeadmArgs)
	out.DNS64Prefix, out.NAT64Subnet = netip.Prefix{}, netip.Prefix{}
	out.networkID = id

	l := &loader{get: func(key string) string { return c.settings[key] }}
	l.networks(&out)
	l.numNodes(&out)
	if err := errors.Join(l.errs...); err != nil {
		return nil, err
	}
	return &out, nil
}

// labelNetworkID is the provisional network ID of a label cluster: it must
// come out the same in every process that handles the cluster, so that the
// configuration validates before any Docker network is looked at.
func labelNetworkID(label string) int {
	h := fnv.New32a()
	h.Write([]byte(label))
	return int(h.Sum32()%lastLabelNetworkID) + firstLabelNetworkID
}

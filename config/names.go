package config

import "strconv"

// Labels put on every Docker object dind-cluster creates.
const (
	LabelOwner   = "dind-cluster"         // value "1"
	LabelCluster = "dind-cluster.cluster" // value ClusterName()
)

// Suffix tells the cluster's resources apart, following the seed: "" for
// the default cluster, "-cluster-ID" for a CLUSTER_ID, "-LABEL" for a
// DIND_LABEL and "-LABEL-ID" for both.
func (c *Config) Suffix() string {
	switch {
	case c.Label == "" && c.ClusterID == 0:
		return ""
	case c.Label == "":
		return "-cluster-" + strconv.Itoa(c.ClusterID)
	case c.ClusterID == 0:
		return "-" + c.Label
	}
	return "-" + c.Label + "-" + strconv.Itoa(c.ClusterID)
}

// ClusterName is a short name unique to the cluster: "default", or the
// suffix without its dash.
func (c *Config) ClusterName() string {
	if s := c.Suffix(); s != "" {
		return s[1:]
	}
	return "default"
}

// MasterName is the master's container name.
func (c *Config) MasterName() string { return "kube-master" + c.Suffix() }

// NodeName is the container name of node i: the master for 0, worker i for
// i >= 1, so that it matches NodeIP and PodSubnet.
func (c *Config) NodeName(i int) string {
	if i == 0 {
		return c.MasterName()
	}
	return "kube-node-" + strconv.Itoa(i) + c.Suffix()
}

// NodeNames are the container names of all nodes, master first.
func (c *Config) NodeNames() []string {
	names := make([]string, 0, c.NumNodes+1)
	for i := 0; i <= c.NumNodes; i++ {
		names = append(names, c.NodeName(i))
	}
	return names
}

// ContextName is the cluster's kubectl context: dind, dind-cluster-10, dind-foo.
func (c *Config) ContextName() string { return "dind" + c.Suffix() }

// NetworkName is the cluster's Docker network.
func (c *Config) NetworkName() string { return "kubeadm-dind-net" + c.Suffix() }

// Labels are the labels to put on the cluster's Docker objects, as "key=value".
func (c *Config) Labels() []string {
	return []string{LabelOwner + "=1", LabelCluster + "=" + c.ClusterName()}
}

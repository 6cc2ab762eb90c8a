package config

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// shapeKnobs shape a cluster's networks when it is made. A made cluster
// keeps them: up restores, resumes and joins it with them, not with today's
// defaults.
var shapeKnobs = []string{"IP_MODE", "CNI_PLUGIN", "MGMT_CIDRS", "DIND_SUBNET", "DIND_SUBNET_SIZE",
	"SERVICE_CIDR", "POD_NETWORK_CIDR", "DNS64_PREFIX", "NAT64_V4_SUBNET_PREFIX",
	"EXTRA_PORTS", "DIND_MASTER_CPUS", "DIND_MASTER_MEMORY", "DIND_NODE_CPUS", "DIND_NODE_MEMORY"}

// Shape is what a cluster made with this configuration keeps: the values of
// the knobs that shape its networks, as given ("" for a default).
func (c *Config) Shape() map[string]string {
	out := map[string]string{}
	for _, k := range shapeKnobs {
		if v := c.settings[k]; v != "" {
			out[k] = v
		}
	}
	return out
}

// Keeping is the configuration for a cluster made with shape: a shaping
// knob left unset takes the cluster's value. One set to something else
// than the cluster has is refused, naming the knob, the cluster's value and
// what to do.
func (c *Config) Keeping(cluster string, shape map[string]string) (*Config, error) {
	if c.settings == nil {
		return nil, errors.New("config: Keeping needs a Config made by Load")
	}
	settings := maps.Clone(c.settings)
	for _, k := range shapeKnobs {
		settings[k] = shape[k]
	}
	out := *c
	out.Warnings = slices.Clone(c.Warnings)
	out.Kubeconfigs = slices.Clone(c.Kubeconfigs)
	out.KubeadmArgs = slices.Clone(c.KubeadmArgs)
	out.DNS64Prefix, out.NAT64Subnet = netip.Prefix{}, netip.Prefix{}
	out.settings = settings
	l := &loader{get: func(key string) string { return settings[key] }}
	out.IPMode = l.choice("IP_MODE", ipModes, ipModes)
	out.CNIPlugin = l.choice("CNI_PLUGIN", cniPlugins, cniPlugins)
	l.networks(&out)
	l.sizesAndPorts(&out)
	if err := errors.Join(l.errs...); err != nil {
		return nil, fmt.Errorf("cluster %s was made with settings this dind-cluster refuses (%w): run clean, then up", cluster, err)
	}
	var conflicts []error
	for _, k := range shapeKnobs {
		if given := c.settings[k]; given != "" && shapeOf(k, c) != shapeOf(k, &out) {
			was := shape[k]
			if was == "" {
				was = "its default, " + shapeOf(k, &out)
				if shapeOf(k, &out) == "" {
					was = "none"
				}
			}
			conflicts = append(conflicts, fmt.Errorf("%s=%s: cluster %s was made with %s; leave %s unset or set it so to keep "+
				"the cluster, or run clean first to make it anew", k, given, cluster, was, k))
		}
	}
	if err := errors.Join(conflicts...); err != nil {
		return nil, err
	}
	return &out, nil
}

// shapeOf is what knob k comes to in c, for comparing clusters.
func shapeOf(k string, c *Config) string {
	switch k {
	case "IP_MODE":
		return c.IPMode
	case "CNI_PLUGIN":
		return c.CNIPlugin
	case "MGMT_CIDRS", "DIND_SUBNET", "DIND_SUBNET_SIZE":
		return joined(c.mgmt)
	case "SERVICE_CIDR":
		return joined(c.service)
	case "POD_NETWORK_CIDR":
		return joined(c.pod)
	case "DNS64_PREFIX":
		return c.DNS64Prefix.String()
	case "NAT64_V4_SUBNET_PREFIX":
		return c.NAT64Subnet.String()
	}
	return c.settings[k]
}

func joined(nets []netip.Prefix) string {
	var out []string
	for _, p := range nets {
		out = append(out, p.String())
	}
	return strings.Join(out, ",")
}

// Package fixed holds the pinned version sets dind-cluster builds from: one
// entry per supported Kubernetes minor, with the etcd, CoreDNS and pause
// versions that kubeadm of that release asks for (read from
// cmd/kubeadm/app/constants), and the node runtime built beside them.
package fixed

import (
	"fmt"
	"strings"
)

// Set is everything a node and its cluster images are built from.
type Set struct {
	Kubernetes string // k8s.io/kubernetes module version, e.g. v1.37.2
	Etcd       string // go.etcd.io/etcd/server/v3 version, e.g. v3.7.0
	EtcdImage  string // the etcd image tag kubeadm asks for, e.g. 3.7.0-0
	CoreDNS    string // github.com/coredns/coredns version, also its image tag
	Pause      string // pause image tag
	Containerd string // github.com/containerd/containerd/v2 version
	Runc       string // github.com/opencontainers/runc version
	CNIPlugins string // github.com/containernetworking/plugins version
}

// Runtime versions shared by every set: the node's container runtime does not
// follow the Kubernetes minor.
const (
	containerd = "v2.2.9"
	runc       = "v1.5.2"
	cniPlugins = "v1.9.1"
)

// Registry is the github.com/distribution/distribution/v3 version the local
// registry is built from.
const Registry = "v3.1.2"

// Addons' versions: github.com/rancher/local-path-provisioner,
// sigs.k8s.io/metrics-server, and github.com/derailed/k9s for the dashboard
// command.
const (
	LocalPathProvisioner = "v0.0.30"
	MetricsServer        = "v0.8.0"
	K9s                  = "v0.50.16"
)

// The pod network add-ons that route between nodes themselves, each built
// from its Go module: github.com/flannel-io/flannel and
// github.com/cloudnativelabs/kube-router/v2 (the only version the module
// proxy serves).
const (
	Flannel    = "v0.28.11"
	KubeRouter = "v2.1.0"
)

// Sets are the supported version sets, newest first.
var Sets = []Set{
	{Kubernetes: "v1.37.2", Etcd: "v3.7.0", EtcdImage: "3.7.0-0", CoreDNS: "v1.14.6", Pause: "3.10.2",
		Containerd: containerd, Runc: runc, CNIPlugins: cniPlugins},
	{Kubernetes: "v1.36.3", Etcd: "v3.6.8", EtcdImage: "3.6.8-0", CoreDNS: "v1.14.2", Pause: "3.10.2",
		Containerd: containerd, Runc: runc, CNIPlugins: cniPlugins},
	{Kubernetes: "v1.35.4", Etcd: "v3.6.6", EtcdImage: "3.6.6-0", CoreDNS: "v1.13.1", Pause: "3.10.1",
		Containerd: containerd, Runc: runc, CNIPlugins: cniPlugins},
}

// Default is the version set used when none is asked for.
var Default = Sets[0]

// Lookup finds the set for a Kubernetes version given as v1.37.2, 1.37.2,
// v1.37 or 1.37.
func Lookup(version string) (Set, error) {
	v := strings.TrimSpace(version)
	if v != "" && !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	for _, s := range Sets {
		if s.Kubernetes == v || s.Minor() == v {
			return s, nil
		}
	}
	return Set{}, fmt.Errorf("Kubernetes version %q is not one dind-cluster pins; use one of %s",
		version, strings.Join(Supported(), ", "))
}

// Supported lists the pinned Kubernetes versions, newest first.
func Supported() []string {
	var out []string
	for _, s := range Sets {
		out = append(out, s.Kubernetes)
	}
	return out
}

// Minor is the Kubernetes version without its patch number, e.g. v1.37.
func (s Set) Minor() string {
	parts := strings.SplitN(s.Kubernetes, ".", 3)
	if len(parts) < 2 {
		return s.Kubernetes
	}
	return parts[0] + "." + parts[1]
}

// StagingVersion is the version of the published staging modules
// (k8s.io/api, k8s.io/client-go, ...) that match this release: v1.37.2 -> v0.37.2.
func (s Set) StagingVersion() string {
	return "v0" + strings.TrimPrefix(s.Kubernetes, "v1")
}

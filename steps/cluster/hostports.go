package cluster

import "github.com/dind-cluster/dind-cluster/steps/docker"

// sizeAndPorts gives node n's container its CPU and memory limits, and the
// master the ports EXTRA_PORTS publishes. The node's entrypoint reads the
// limits back and reserves the rest of the machine from its kubelet, so that
// the node's allocatable resources are the limits.
func (r *run) sizeAndPorts(spec *docker.ContainerSpec, n Node) {
	size := r.Cfg.Addons.Size(n.Index)
	spec.CPUs, spec.MemoryBytes = size.CPUs, size.MemoryBytes
	if n.Index != 0 {
		return
	}
	for _, p := range r.Cfg.Addons.ExtraPorts {
		spec.Publish = append(spec.Publish, p.Publish())
	}
}

package cluster

import (
	"bytes"
	"context"

	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/registry"
)

// localRegistry is the engine's local registry, on the configured port.
func (c *Cluster) localRegistry() registry.Registry {
	return registry.Registry{Docker: c.Docker, Port: c.Cfg.RegistryPort}
}

// registryStep runs the local registry, once step after is done, and
// attaches it to the cluster's network; none when it is turned off.
func (r *run) registryStep(after string) []steps.Step {
	if !r.Cfg.Registry {
		return nil
	}
	return []steps.Step{{Name: stepRegistry, Needs: []string{after, build.StepRegistryImage}, Run: func(ctx context.Context) error {
		reg := r.localRegistry()
		if err := reg.Ensure(ctx, r.builder.RegistryImage); err != nil {
			return err
		}
		return reg.Connect(ctx, r.Cfg.NetworkName(), strs(r.Cfg.RegistryIPs())...)
	}}}
}

// registryFiles point a node's containerd at the local registry.
func (r *run) registryFiles() ([]embed.File, error) {
	if !r.Cfg.Registry {
		return nil, nil
	}
	return r.localRegistry().NodeFiles(r.Cfg.RegistryMirror)
}

// advertiseRegistry tells tools where the registry is (KEP-1755), once the
// API server answers.
func (r *run) advertiseRegistry(ctx context.Context) error {
	cm, err := r.localRegistry().ConfigMap()
	if err != nil {
		return err
	}
	return steps.Poll(ctx, readyLimit, "the local-registry-hosting ConfigMap", func() error {
		if err := apiServerAnswers(ctx, r.port); err != nil {
			return err
		}
		return r.k.cmd("apply", "--filename=-").WithStdin(bytes.NewReader(cm)).Run(ctx)
	})
}

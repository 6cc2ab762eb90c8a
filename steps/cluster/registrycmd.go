package cluster

import (
	"context"
	"fmt"

	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/cache"
	"github.com/dind-cluster/dind-cluster/steps/registry"
)

// Registry starts the local registry, building its image if need be, and
// attaches it to the cluster's network when the cluster has one; it
// returns where the registry is.
func (c *Cluster) Registry(ctx context.Context) (string, error) {
	if !c.Cfg.Registry {
		return "", fmt.Errorf("DIND_REGISTRY=off: the local registry is turned off")
	}
	b := build.New(c.Cfg.Versions, cache.Cache{Dir: c.Cfg.CacheDir, Waiting: c.Out}, c.Out)
	b.Docker, b.WithRegistry = c.Docker, true
	plan, err := steps.NewPlan(b.RegistrySteps()...)
	if err != nil {
		return "", err
	}
	if _, err := plan.Run(ctx, c.Out); err != nil {
		return "", err
	}
	reg := c.localRegistry()
	if err := reg.Ensure(ctx, b.RegistryImage); err != nil {
		return "", err
	}
	s, err := c.Observe(ctx)
	if err != nil {
		return "", err
	}
	if s.Network != nil {
		cfg, err := c.clusterConfig(s)
		if err != nil {
			return "", err
		}
		if err := reg.Connect(ctx, s.Network.Name, strs(cfg.RegistryIPs())...); err != nil {
			return "", err
		}
	}
	return reg.Status(ctx)
}

// RemoveRegistry removes the local registry's container, and withImages
// the volume of its images. No cluster is touched: a cluster's nodes fall
// back to the registries themselves.
func (c *Cluster) RemoveRegistry(ctx context.Context, withImages bool) error {
	return registry.Remove(ctx, c.Docker, withImages)
}

// Push copies an image of the Docker engine into the local registry, under
// the name pods pull it by: as it is for localhost:PORT/NAME, and under its
// mirrored name otherwise (which mirror mode serves). It returns that name.
func (c *Cluster) Push(ctx context.Context, image string) (string, error) {
	if _, err := c.Registry(ctx); err != nil {
		return "", err
	}
	if have, err := c.Docker.ImageExists(ctx, image); err != nil {
		return "", err
	} else if !have {
		return "", fmt.Errorf("no image %s in the Docker engine: build or tag it first", image)
	}
	return c.localRegistry().Push(ctx, image)
}

// Package registry runs the local registry: one container of the CNCF
// distribution registry per Docker engine, shared by its clusters, with its
// images on a volume that outlives the container, the clusters and a
// restart of the engine. The Docker host pushes to it at localhost:PORT;
// nodes pull from it on their cluster's network, to which it is attached,
// through containerd's registry host configuration.
package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

const (
	// Container is the registry's container, and its name on the clusters'
	// networks.
	Container = "dind-registry"
	// Volume holds its images.
	Volume = "dind-registry-data"
	// Label marks both; they carry no cluster's label, so that no cluster's
	// clean removes them.
	Label = "dind-cluster.registry"
	// listens is its port inside its container and on the networks.
	listens = 5000
)

// Mirrored are the registries whose images nodes ask the local registry
// for first in mirror mode, with their servers.
var Mirrored = map[string]string{"registry.k8s.io": "https://registry.k8s.io", "docker.io": "https://registry-1.docker.io"}

// Registry is the local registry of an engine.
type Registry struct {
	Docker docker.Provider
	Port   int // on the Docker host's 127.0.0.1
}

// Host is where the Docker host pushes to it.
func (r Registry) Host() string { return "localhost:" + strconv.Itoa(r.Port) }

// Ensure runs the registry from image, or starts the one there is, which
// must publish Port.
func (r Registry) Ensure(ctx context.Context, image string) error {
	ct, found, err := r.container(ctx)
	if err != nil {
		return err
	}
	if !found {
		err := r.run(ctx, image)
		if !errors.Is(err, docker.ErrNameInUse) {
			return err
		}
		// Another cluster's up made it meanwhile: that one is used.
		if ct, found, err = r.container(ctx); err != nil || !found {
			return errors.Join(err, fmt.Errorf("the local registry %s vanished as it was made: run up again", Container))
		}
	}
	if ct.State != "running" {
		if err := r.Docker.Start(ctx, Container); err != nil {
			return r.portError(err)
		}
	}
	port, err := r.Docker.PublishedPort(ctx, Container, listens)
	if err != nil {
		return err
	}
	if port != r.Port {
		return fmt.Errorf("DIND_REGISTRY_PORT=%d: the local registry runs on port %d; set DIND_REGISTRY_PORT=%d, "+
			"or run registry-remove (its images stay) and then up", r.Port, port, port)
	}
	return nil
}

// container finds the registry's container; a container of that name that
// is not the registry is refused.
func (r Registry) container(ctx context.Context) (docker.Container, bool, error) {
	all, err := r.Docker.Containers(ctx, nil)
	if err != nil {
		return docker.Container{}, false, err
	}
	for _, ct := range all {
		if ct.Name != Container {
			continue
		}
		if ct.Labels[Label] == "" {
			return ct, false, fmt.Errorf("a container named %s exists and is not dind-cluster's registry: "+
				"remove it, or set DIND_REGISTRY=off", Container)
		}
		return ct, true, nil
	}
	return docker.Container{}, false, nil
}

func (r Registry) run(ctx context.Context, image string) error {
	labels := docker.Labels{config.LabelOwner: "1", Label: "1"}
	if err := r.Docker.CreateVolume(ctx, Volume, labels); err != nil {
		return err
	}
	err := r.Docker.Run(ctx, docker.ContainerSpec{Name: Container, Image: image, Labels: labels,
		Volumes: []string{Volume + ":/var/lib/registry"}, Restart: "always",
		Publish: []string{fmt.Sprintf("127.0.0.1:%d:%d", r.Port, listens)}}, true)
	if errors.Is(err, docker.ErrPortTaken) {
		// The container is made before its port is taken: leave none behind.
		r.Docker.Remove(context.WithoutCancel(ctx), Container)
	}
	return r.portError(err)
}

func (r Registry) portError(err error) error {
	if errors.Is(err, docker.ErrPortTaken) {
		return fmt.Errorf("DIND_REGISTRY_PORT=%d is taken on the Docker host: choose another port, or DIND_REGISTRY=off (%w)", r.Port, err)
	}
	return err
}

// Connect attaches the registry to a cluster's network at addresses no
// node takes, one per family of the network.
func (r Registry) Connect(ctx context.Context, network string, ips ...string) error {
	return r.Docker.Connect(ctx, network, Container, ips...)
}

// Disconnect detaches the registry from a cluster's network, if it runs
// and is attached.
func Disconnect(ctx context.Context, d docker.Provider, network string) error {
	return d.Disconnect(ctx, network, Container)
}

// Remove removes the registry's container and, withImages, the volume of
// its images.
func Remove(ctx context.Context, d docker.Provider, withImages bool) error {
	containers, err := d.Containers(ctx, docker.Labels{Label: "1"})
	if err != nil {
		return err
	}
	var names []string
	for _, ct := range containers {
		names = append(names, ct.Name)
	}
	if err := d.Remove(ctx, names...); err != nil {
		return err
	}
	if !withImages {
		return nil
	}
	volumes, err := d.Volumes(ctx, docker.Labels{Label: "1"})
	if err != nil {
		return err
	}
	names = nil
	for _, v := range volumes {
		names = append(names, v.Name)
	}
	return d.RemoveVolumes(ctx, names...)
}

// Status tells where the registry is, for a person.
func (r Registry) Status(ctx context.Context) (string, error) {
	ct, found, err := r.container(ctx)
	if err != nil || !found {
		return "local registry: not running (up or registry starts it)\n", err
	}
	port, _ := r.Docker.PublishedPort(ctx, Container, listens)
	return fmt.Sprintf("local registry: %s, container %s (%s), images on volume %s\n"+
		"  docker tag IMAGE localhost:%d/NAME && docker push localhost:%d/NAME\n",
		"localhost:"+strconv.Itoa(port), Container, ct.State, Volume, port, port), nil
}

// NodeFiles are the containerd registry host configurations of a node:
// localhost:PORT is the registry, and in mirror mode the mirrored
// registries ask it first.
func (r Registry) NodeFiles(mirror bool) ([]embed.File, error) {
	v := embed.Values{Registry: embed.RegistryValues{Host: r.Host(), Container: Container}}
	hosts, err := embed.Render("registry/hosts.toml.tmpl", v)
	if err != nil {
		return nil, err
	}
	files := []embed.File{{Path: certsDir + r.Host() + "/hosts.toml", Mode: 0o644, Content: hosts}}
	if !mirror {
		return files, nil
	}
	for _, upstream := range slices.Sorted(maps.Keys(Mirrored)) {
		v.Registry.Upstream, v.Registry.UpstreamServer = upstream, Mirrored[upstream]
		content, err := embed.Render("registry/mirror-hosts.toml.tmpl", v)
		if err != nil {
			return nil, err
		}
		files = append(files, embed.File{Path: certsDir + upstream + "/hosts.toml", Mode: 0o644, Content: content})
	}
	return files, nil
}

// certsDir is containerd's registry host configuration folder (config_path).
const certsDir = "/etc/containerd/certs.d/"

// ConfigMap is the local-registry-hosting ConfigMap of KEP-1755, by which
// tools find the registry.
func (r Registry) ConfigMap() ([]byte, error) {
	return embed.Render("registry/local-registry-hosting.yaml.tmpl",
		embed.Values{Registry: embed.RegistryValues{Host: r.Host(), Container: Container}})
}

// MirrorName is the name under which image, named as pods name it, is kept
// in the local registry so that mirror mode serves it: localhost:PORT/
// followed by the image's full name (registry host included).
func (r Registry) MirrorName(image string) string {
	return r.Host() + "/" + fullName(image)
}

// fullName spells an image name with its registry, as Docker reads it:
// busybox is docker.io/library/busybox.
func fullName(image string) string {
	first, rest, found := strings.Cut(image, "/")
	if !found {
		return "docker.io/library/" + image
	}
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io/" + image
	}
	if first == "index.docker.io" {
		return "docker.io/" + rest
	}
	return image
}

// Push copies an image of the Docker engine into the registry: as it is
// when it is named localhost:PORT/..., else under its MirrorName. It
// returns the name pushed.
func (r Registry) Push(ctx context.Context, image string) (string, error) {
	name := image
	if !strings.HasPrefix(image, r.Host()+"/") {
		name = r.MirrorName(image)
		if err := r.Docker.Tag(ctx, image, name); err != nil {
			return name, err
		}
	}
	return name, r.Docker.Push(ctx, name)
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

// createNetwork makes the management network, or checks that the one of the
// same name has the configured subnet.
func (r *run) createNetwork(ctx context.Context) error {
	name, subnets := r.Cfg.NetworkName(), strs(r.Cfg.MgmtCIDRs())
	have, err := r.Docker.Network(ctx, name)
	if err == nil {
		if have.Labels[config.LabelCluster] != r.Cfg.ClusterName() {
			return fmt.Errorf("a Docker network named %s exists and is not dind-cluster's: remove it or set CLUSTER_ID or DIND_LABEL", name)
		}
		for _, subnet := range subnets {
			if !slices.Contains(have.Subnets, subnet) {
				return fmt.Errorf("network %s has subnets %s, but MGMT_CIDRS asks for %s: run clean first",
					name, strings.Join(have.Subnets, " "), strings.Join(subnets, ","))
			}
		}
		return nil
	}
	if !errors.Is(err, docker.ErrNotFound) {
		return err
	}
	err = r.Docker.CreateNetwork(ctx, docker.NetworkSpec{Name: name, Subnets: strs(r.Cfg.NetworkSubnets()), Gateways: strs(r.Cfg.Gateways()),
		Labels: r.objectLabels(docker.Labels{labelNetworkID: strconv.Itoa(r.Cfg.NetworkID())})})
	if errors.Is(err, docker.ErrOverlap) {
		return fmt.Errorf("MGMT_CIDRS=%s overlaps a Docker network that exists: choose another MGMT_CIDRS or CLUSTER_ID (%w)",
			strings.Join(subnets, ","), err)
	}
	return err
}

// volumePrefix names node n's volumes, as the seed named them.
func volumePrefix(n Node) string { return "kubeadm-dind-" + n.Name }

// volumeNames are node n's volumes, one per folder of docker.NodeVolumes.
func volumeNames(n Node) map[string]string {
	out := map[string]string{}
	for kind := range docker.NodeVolumes {
		out[kind] = volumePrefix(n) + "-" + kind
	}
	return out
}

// startNew creates node n's container with its volumes and its own files,
// and starts it. all are the nodes of the cluster, n among them.
func (r *run) startNew(ctx context.Context, n Node, all []Node) error {
	files, err := r.nodeFiles(n, all)
	if err != nil {
		return err
	}
	registryFiles, err := r.registryFiles()
	if err != nil {
		return err
	}
	files = append(files, registryFiles...)
	if err := r.createNode(ctx, n, n.Name); err != nil {
		return err
	}
	if err := copyFiles(ctx, r.Docker, n.Name, files); err != nil {
		return fmt.Errorf("placing the files of %s: %w", n.Name, err)
	}
	return r.startNode(ctx, n)
}

// createNode creates the container of node n under the name container,
// with its volumes; it has n's address and port once started.
func (r *run) createNode(ctx context.Context, n Node, container string) error {
	existing := map[string]docker.Volume{}
	for _, v := range r.state.Volumes {
		existing[v.Name] = v
	}
	for _, name := range volumeNames(n) {
		// A restored node keeps its own, made for the node image it uses:
		// containerd's volume refers to its layers. The others are made with
		// the container.
		if v, ok := existing[name]; ok {
			if made := v.Labels[build.NodeImageLabel]; made != r.nodeImage {
				return fmt.Errorf("volume %s of node %s was made for node image %q, not %s, which the cluster uses: "+
					"run clean, then up, for a fresh cluster", name, n.Name, made, r.nodeImage)
			}
		}
	}
	spec := docker.ContainerSpec{Name: container, Hostname: n.Name, Image: r.nodeImage,
		Labels:  r.objectLabels(docker.Labels{labelNode: n.Name}),
		Network: r.Cfg.NetworkName(),
		Volumes: []string{build.LayersVolume(r.nodeImage) + ":" + build.LayersDir + ":ro"},
	}
	for _, ip := range r.Cfg.NodeIPs(n.Index) {
		if ip.Is6() {
			spec.IP6 = ip.String()
		} else {
			spec.IP = ip.String()
		}
	}
	if n.Index == 0 {
		spec.Labels[labelCA] = r.record.CA
		publish := "127.0.0.1::" + strconv.Itoa(apiServerPort)
		if r.port != 0 {
			publish = fmt.Sprintf("127.0.0.1:%d:%d", r.port, apiServerPort)
		}
		spec.Publish = []string{publish}
		// The control plane is on the path of every step after boot: workers
		// booting beside it (and any other container, at Docker's default
		// 1024) get a quarter of its share of the CPU.
		spec.CPUShares = 4096
		// etcd's data is on a volume of the container's own, made with it and
		// removed with it, so that a restore starts from an empty one. On the
		// node's root file system (fuse-overlayfs here) etcd's writes, its 64
		// MB of preallocated WAL among them, went through FUSE.
		spec.Mounts = []string{docker.VolumeMount("", "/var/lib/etcd", r.objectLabels(nil))}
	}
	r.sizeAndPorts(&spec, n)
	spec = r.engine.AsNode(spec, volumePrefix(n), r.objectLabels(docker.Labels{build.NodeImageLabel: r.nodeImage}))
	if err := r.Docker.Create(ctx, spec); err != nil {
		return fmt.Errorf("creating node %s: %w", n.Name, err)
	}
	return nil
}

// startNode starts the container of node n.
func (r *run) startNode(ctx context.Context, n Node) error {
	err := r.Docker.Start(ctx, n.Name)
	if errors.Is(err, docker.ErrPortTaken) && n.Index == 0 && len(r.Cfg.Addons.ExtraPorts) > 0 {
		return fmt.Errorf("APISERVER_PORT=%d or a host port of EXTRA_PORTS is taken on the Docker host: choose others (%w)", r.port, err)
	}
	if errors.Is(err, docker.ErrPortTaken) {
		return fmt.Errorf("APISERVER_PORT=%d is taken on the Docker host: choose another or leave it empty for a free one (%w)", r.port, err)
	}
	if errors.Is(err, docker.ErrAddressTaken) {
		return fmt.Errorf("an address of node %s (%s) is taken on network %s by a container that is not the node: "+
			"docker network inspect %s tells which (%w)", n.Name, strings.Join(strs(r.Cfg.NodeIPs(n.Index)), ", "), r.Cfg.NetworkName(), r.Cfg.NetworkName(), err)
	}
	if err != nil {
		return fmt.Errorf("starting node %s: %w", n.Name, err)
	}
	return nil
}

// resumeNode starts a node down stopped, or thaws one pause froze, with
// its registry configuration as configured now.
func (r *run) resumeNode(ctx context.Context, n Node) error {
	if err := r.placeRegistryFiles(ctx, n.Name); err != nil {
		return err
	}
	switch r.state.Nodes[n.Index].State {
	case "running":
		return nil
	case "paused":
		return r.Docker.Unpause(ctx, n.Name)
	}
	return r.startNode(ctx, n)
}

// placeRegistryFiles copies the registry configuration into a container,
// running or not.
func (r *run) placeRegistryFiles(ctx context.Context, container string) error {
	files, err := r.registryFiles()
	if err != nil || len(files) == 0 {
		return err
	}
	return copyFiles(ctx, r.Docker, container, files)
}

// dropStagedAndJoined removes, before a restore, the replacements an
// interrupted restore staged and the nodes join added after the snapshot,
// with their volumes.
func (r *run) dropStagedAndJoined(ctx context.Context) error {
	var names, volumes []string
	for _, ct := range r.state.Staged {
		names = append(names, ct.Name)
	}
	for _, n := range r.decision.Drop {
		r.logf("removing %s, which join added after the snapshot", n.Name)
		names = append(names, n.Name)
		for _, v := range volumeNames(n) {
			volumes = append(volumes, v)
		}
	}
	if err := r.Docker.Remove(ctx, names...); err != nil {
		return err
	}
	return r.Docker.RemoveVolumes(ctx, volumes...)
}

// restoreNode replaces node n by a fresh container of the node image with
// its snapshot in place. The node keeps its volumes: kubelet removes the
// pods that the snapshot does not know, and the preloaded images need no
// copying. The replacement is made, under the name stagedName(n), while the
// old container goes; only its start waits for the old one's address and
// port.
func (r *run) restoreNode(ctx context.Context, n Node) error {
	staged := stagedName(n)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if _, ok := r.state.Nodes[n.Index]; !ok {
			return nil // an interrupted restore removed it
		}
		return r.Docker.Remove(gctx, n.Name)
	})
	g.Go(func() error {
		if err := r.createNode(gctx, n, staged); err != nil {
			return err
		}
		f, err := os.Open(r.state.Snapshot.File(n.Name))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := r.Docker.CopyIn(gctx, staged, "/", f); err != nil {
			return fmt.Errorf("placing the snapshot of %s: %w", n.Name, err)
		}
		return r.placeRegistryFiles(gctx, staged)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if err := r.Docker.Rename(ctx, staged, n.Name); err != nil {
		return err
	}
	return r.startNode(ctx, n)
}

// waitContainerd waits until the node has booted far enough to run kubeadm:
// its containerd serves, with the CRI plugin kubelet talks to.
func (c *Cluster) waitContainerd(ctx context.Context, n Node) error {
	return steps.Poll(ctx, 2*time.Minute, "containerd on "+n.Name, func() error {
		plugins, err := c.Docker.ExecOutput(ctx, n.Name, "ctr", "--timeout", "2s", "plugins", "ls")
		if err != nil {
			if state, _ := c.Docker.State(ctx, n.Name); state != "running" {
				logs, _ := c.Docker.Logs(ctx, n.Name, 20)
				return steps.Permanent(fmt.Errorf("node %s stopped while booting (%s); its last words:\n%s", n.Name, state, logs))
			}
			return err
		}
		switch criStatus(strings.Split(plugins, "\n")) {
		case "ok":
			return nil
		case "error":
			why, _ := c.Docker.ExecOutput(ctx, n.Name, "sh", "-c",
				`journalctl --no-pager -o cat -u containerd | grep 'failed to load plugin' | tail -n 3`)
			return steps.Permanent(fmt.Errorf("containerd on %s could not start its CRI plugin, which kubelet needs:\n%s", n.Name, why))
		}
		return fmt.Errorf("containerd on %s has not loaded its CRI plugin yet", n.Name)
	})
}

// criStatus is the status `ctr plugins ls` gives the CRI plugin: ok, error,
// or "" while it is not listed.
func criStatus(plugins []string) string {
	for _, l := range plugins {
		if f := strings.Fields(l); len(f) >= 4 && f[0] == "io.containerd.grpc.v1" && f[1] == "cri" {
			return f[len(f)-1]
		}
	}
	return ""
}

// copyFiles streams files into a container, which works on a created
// container and against a remote engine.
func copyFiles(ctx context.Context, d docker.Provider, container string, files []embed.File) error {
	return build.StreamInto(ctx, d, func(w io.Writer) error { return build.WriteFiles(w, files) }, container, "/")
}

// Load copies an image of the Docker engine into every running node's
// containerd, so that pods can use it without a registry.
func (c *Cluster) Load(ctx context.Context, image string) error {
	s, err := c.Observe(ctx)
	if err != nil {
		return err
	}
	nodes := s.running()
	if len(nodes) == 0 {
		return fmt.Errorf("cluster %s has no running node: run up first", c.Cfg.ClusterName())
	}
	if have, err := c.Docker.ImageExists(ctx, image); err != nil {
		return err
	} else if !have {
		return fmt.Errorf("no image %s in the Docker engine: build or tag it first", image)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, name := range nodes {
		g.Go(func() error {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(c.Docker.Save(gctx, image, pw)) }()
			err := c.Docker.Exec(gctx, name, []string{"ctr", "-n", "k8s.io", "images", "import", "--local", "-"}, pr, nil)
			pr.CloseWithError(io.ErrClosedPipe)
			if err != nil {
				return fmt.Errorf("loading %s into %s: %w", image, name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

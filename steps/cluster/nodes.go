package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/engine"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// createNetwork makes the management network, or checks that the one of the
// same name is ours and has the configured subnet.
func (c *Cluster) createNetwork(ctx context.Context) error {
	name, subnet := c.Cfg.NetworkName(), c.Cfg.MgmtCIDR().String()
	have, err := shell.Docker("network", "inspect", "--format",
		`{{range .IPAM.Config}}{{.Subnet}} {{end}}|{{index .Labels "`+config.LabelOwner+`"}}`, name).Output(ctx)
	if err == nil {
		subnets, owner, _ := strings.Cut(have, "|")
		if owner == "" {
			return fmt.Errorf("a Docker network named %s exists and is not dind-cluster's: remove it or set CLUSTER_ID or DIND_LABEL", name)
		}
		if !strings.Contains(" "+subnets, " "+subnet+" ") {
			return fmt.Errorf("network %s has subnet %s, but MGMT_CIDRS asks for %s: run clean first", name, strings.TrimSpace(subnets), subnet)
		}
		return nil
	}
	args := append([]string{"network", "create", "--driver", "bridge", "--subnet", subnet,
		"--gateway", c.Cfg.Gateway().String()}, c.labelFlags()...)
	if err := shell.Docker(append(args, name)...).Run(ctx); err != nil {
		if strings.Contains(err.Error(), "overlap") {
			return fmt.Errorf("MGMT_CIDRS=%s overlaps a Docker network that exists: choose another MGMT_CIDRS or CLUSTER_ID (%w)", subnet, err)
		}
		return err
	}
	return nil
}

// nodeImageLabel tells on a node's volumes the node image they were made for.
const nodeImageLabel = "dind-cluster.node-image"

// volumePrefix names node n's volumes, as the seed named them.
func volumePrefix(n Node) string { return "kubeadm-dind-" + n.Name }

// volumeNames are node n's volumes, one per folder of engine.NodeVolumes.
func volumeNames(n Node) map[string]string {
	out := map[string]string{}
	for kind := range engine.NodeVolumes {
		out[kind] = volumePrefix(n) + "-" + kind
	}
	return out
}

// madeFrom is the node image the cluster's master volumes were made for
// ("" for volumes older than that label); an error when there are none.
func (c *Cluster) madeFrom(ctx context.Context) (string, error) {
	return shell.Docker("volume", "inspect", "--format", `{{index .Labels "`+nodeImageLabel+`"}}`,
		volumeNames(c.Master())["containerd"]).Output(ctx)
}

// runNode creates node n's container from the node image, lets place put
// the node's own files into it, and starts it. port is the API server's host
// port for the master, 0 for a free one.
func (c *Cluster) runNode(ctx context.Context, n Node, port int, place func(context.Context) error) error {
	if err := c.createNode(ctx, n, n.Name, port); err != nil {
		return err
	}
	if err := place(ctx); err != nil {
		return fmt.Errorf("placing the files of %s: %w", n.Name, err)
	}
	return c.startNode(ctx, n, port)
}

// createNode creates the container of node n under the name container,
// with its volumes; it has n's address and port once started.
func (c *Cluster) createNode(ctx context.Context, n Node, container string, port int) error {
	args := []string{"create", "--name", container, "--hostname", n.Name,
		"--network", c.Cfg.NetworkName(), "--ip", n.IP, "--label", "dind-cluster.node=" + n.Name}
	args = append(args, c.labelFlags()...)
	for _, name := range volumeNames(n) {
		// A restored node keeps its own. The node image is noted:
		// containerd's volume refers to its layers.
		if c.volumes[name] {
			continue
		}
		create := append([]string{"volume", "create", "--label", nodeImageLabel + "=" + c.NodeImage}, c.labelFlags()...)
		if err := shell.Docker(append(create, name)...).Run(ctx); err != nil {
			return err
		}
	}
	args = append(args, c.Engine.NodeFlags(volumePrefix(n))...)
	args = append(args, "--volume", build.LayersVolume(c.NodeImage)+":"+build.LayersDir+":ro")
	if n.Index == 0 {
		publish := "127.0.0.1::" + strconv.Itoa(apiServerPort)
		if port != 0 {
			publish = fmt.Sprintf("127.0.0.1:%d:%d", port, apiServerPort)
		}
		// The control plane is on the path of every step after boot: workers
		// booting beside it (and any other container, at Docker's default
		// 1024) get a quarter of its share of the CPU.
		args = append(args, "--publish", publish, "--cpu-shares", "4096")
		// etcd's data is on a volume of the container's own, made with it and
		// removed with it (rm --volumes), so that a restore starts from an empty
		// one. On the node's root file system (fuse-overlayfs here) etcd's
		// writes, its 64 MB of preallocated WAL among them, went through FUSE.
		mount := "type=volume,dst=/var/lib/etcd"
		for _, l := range c.Cfg.Labels() {
			mount += ",volume-label=" + l
		}
		args = append(args, "--mount", mount)
	}
	if err := shell.Docker(append(args, c.NodeImage)...).Run(ctx); err != nil {
		return fmt.Errorf("creating node %s: %w", n.Name, err)
	}
	return nil
}

// startNode starts the container of node n; port is as for runNode.
func (c *Cluster) startNode(ctx context.Context, n Node, port int) error {
	if err := shell.Docker("start", n.Name).Run(ctx); err != nil {
		if strings.Contains(err.Error(), "port is already allocated") {
			return fmt.Errorf("APISERVER_PORT=%d is taken on the Docker host: choose another or leave it empty for a free one (%w)", port, err)
		}
		return fmt.Errorf("starting node %s: %w", n.Name, err)
	}
	return nil
}

// waitContainerd waits until the node has booted far enough to run kubeadm:
// its containerd serves, with the CRI plugin kubelet talks to.
func (c *Cluster) waitContainerd(ctx context.Context, n Node) error {
	return steps.Poll(ctx, 2*time.Minute, "containerd on "+n.Name, func() error {
		plugins, err := shell.Docker("exec", n.Name, "ctr", "--timeout", "2s", "plugins", "ls").Lines(ctx)
		if err != nil {
			if state, _ := shell.Docker("inspect", "--format", "{{.State.Status}}", n.Name).Output(ctx); state != "running" {
				logs, _ := shell.Docker("logs", "--tail", "20", n.Name).Output(ctx)
				return steps.Permanent(fmt.Errorf("node %s stopped while booting (%s); its last words:\n%s", n.Name, state, logs))
			}
			return err
		}
		switch criStatus(plugins) {
		case "ok":
			return nil
		case "error":
			why, _ := shell.Docker("exec", n.Name, "sh", "-c",
				`journalctl --no-pager -o cat -u containerd | grep 'failed to load plugin' | tail -n 3`).Output(ctx)
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

// nodeFiles are the files that make node n part of this cluster: its pod
// subnet, the routes to the others' and its kubeadm configuration.
// all are the cluster's nodes, n among them.
func (c *Cluster) nodeFiles(n Node, all []Node) ([]embed.File, error) {
	v := c.values(n)
	cni, err := embed.Render("cni/bridge.conflist.tmpl", v)
	if err != nil {
		return nil, err
	}
	files := []embed.File{
		{Path: "/etc/cni/net.d/10-dindnet.conflist", Mode: 0o644, Content: cni},
		{Path: "/etc/dind/network.env", Mode: 0o644, Content: []byte(fmt.Sprintf(
			"POD_SUBNET=%s\nPOD_NETWORK_CIDR=%s\n", v.PodSubnet, v.PodNetworkCIDR))},
		{Path: "/etc/dind/routes", Mode: 0o644, Content: []byte(c.routes(n, all))},
	}
	kubeadm := map[string]string{"/etc/kubeadm/join.yaml": "kubeadm/v1beta4/join.yaml.tmpl",
		"/etc/kubeadm/discovery.conf":  "kubeadm/discovery.conf.tmpl",
		"/etc/kubernetes/kubelet.conf": "kubeadm/kubelet.conf.tmpl"}
	if n.Index != 0 {
		now := time.Now()
		creds, err := c.ca.kubeletCredentials(n.Name, now)
		if err != nil {
			return nil, fmt.Errorf("making the kubelet credentials of %s: %w", n.Name, err)
		}
		// As kubelet keeps them: the "current" pair is a link, which kubelet
		// points at the pair it renews the credentials into.
		pair := "/var/lib/kubelet/pki/kubelet-client-" + now.UTC().Format("2006-01-02-15-04-05") + ".pem"
		files = append(files, embed.File{Path: pair, Mode: 0o600, Content: creds},
			embed.File{Path: "/var/lib/kubelet/pki/kubelet-client-current.pem", Mode: 0o777, Link: pair})
	} else {
		kubeadm = map[string]string{"/etc/kubeadm/init.yaml": "kubeadm/v1beta4/init.yaml.tmpl",
			"/etc/kubeadm/patches/corednsdeployment+strategic.yaml": "kubeadm/patches/corednsdeployment+strategic.yaml.tmpl"}
		files = append(files,
			embed.File{Path: "/etc/kubernetes/pki/ca.crt", Mode: 0o644, Content: c.ca.Cert},
			embed.File{Path: "/etc/kubernetes/pki/ca.key", Mode: 0o600, Content: c.ca.Key})
	}
	for path, tmpl := range kubeadm {
		content, err := embed.Render(tmpl, v)
		if err != nil {
			return nil, err
		}
		files = append(files, embed.File{Path: path, Mode: 0o600, Content: content})
	}
	slices.SortFunc(files, func(a, b embed.File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// routes lead from node n to the pod subnet of every other of all.
func (c *Cluster) routes(n Node, all []Node) string {
	var b strings.Builder
	for _, other := range all {
		if other.Index != n.Index {
			fmt.Fprintf(&b, "%s via %s\n", c.Cfg.PodSubnet(other.Index), other.IP)
		}
	}
	return b.String()
}

// copyFiles streams files into a container with `docker cp`, which works on
// a created container and against a remote engine.
func copyFiles(ctx context.Context, container string, files []embed.File) error {
	return build.StreamInto(ctx, func(w io.Writer) error { return build.WriteFiles(w, files) }, container, "/")
}

// Load copies an image of the Docker engine into every node's containerd,
// so that pods can use it without a registry.
func (c *Cluster) Load(ctx context.Context, image string) error {
	containers, err := c.Containers(ctx)
	if err != nil {
		return err
	}
	if len(containers) == 0 {
		return fmt.Errorf("cluster %s has no nodes: run up first", c.Cfg.ClusterName())
	}
	if err := shell.Docker("image", "inspect", "--format", "{{.Id}}", image).Run(ctx); err != nil {
		return fmt.Errorf("no image %s in the Docker engine: build or tag it first", image)
	}
	errs := make(chan error, len(containers))
	for _, ct := range containers {
		go func() {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(shell.Docker("save", image).WithStdout(pw).Run(ctx)) }()
			err := shell.Docker("exec", "-i", ct.Name, "ctr", "-n", "k8s.io", "images", "import", "--local", "-").WithStdin(pr).Run(ctx)
			pr.Close()
			if err != nil {
				err = fmt.Errorf("loading %s into %s: %w", image, ct.Name, err)
			}
			errs <- err
		}()
	}
	var all []error
	for range containers {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

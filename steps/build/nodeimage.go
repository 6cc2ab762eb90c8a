package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/cache"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

// ArtifactLabel marks the images the supply chain makes (not cluster objects).
const ArtifactLabel = "dind-cluster.artifact"

func (b *Builder) baseImageDone(ctx context.Context) (bool, error) {
	b.BaseImage = "dind-cluster/base:" + b.key("rootfs-node")
	return b.Docker.ImageExists(ctx, b.BaseImage)
}

func (b *Builder) buildBaseImage(ctx context.Context) error {
	unlock, err := b.Cache.Lock(ctx, "image-base")
	if err != nil {
		return err
	}
	defer unlock()
	if have, err := b.Docker.ImageExists(ctx, b.BaseImage); have || err != nil {
		return err
	}
	tar, err := os.Open(filepath.Join(b.dir("rootfs-node"), "rootfs.tar"))
	if err != nil {
		return err
	}
	defer tar.Close()
	return b.Docker.Import(ctx, tar, b.BaseImage, "LABEL "+ArtifactLabel+"=base")
}

// nodeRecipe changes when the way the node image is assembled changes.
const nodeRecipe = "2" // 2: image layers on a shared volume

// nodeKey covers everything the node image is made of.
func (b *Builder) nodeKey() (string, error) {
	files, err := b.nodeFiles()
	if err != nil {
		return "", err
	}
	in := []string{"recipe=" + recipe, "node-recipe=" + nodeRecipe, "node", b.BaseImage}
	for _, c := range []string{"kubernetes", "containerd", "runc", "cni-plugins", "cluster-images"} {
		in = append(in, c+"="+b.key(c))
	}
	for _, f := range files {
		in = append(in, f.Path, cache.Key(string(f.Content), f.Link, fmt.Sprint(f.Mode)))
	}
	return cache.Key(in...), nil
}

func (b *Builder) nodeImageDone(ctx context.Context) (bool, error) {
	key, err := b.nodeKey()
	if err != nil {
		return false, err
	}
	b.NodeImage = "dind-cluster/node:" + b.Set.Kubernetes + "-" + key
	have, err := b.Docker.ImageExists(ctx, b.NodeImage)
	if !have || err != nil {
		return false, err
	}
	return LayersVolumeExists(ctx, b.Docker, LayersVolume(b.NodeImage)), nil
}

// LayersVolume holds the unpacked layers of the cluster images preloaded in
// nodeImage. Nodes mount it read-only at LayersDir, and their containerd
// finds each layer there through a symbolic link: the image layers are
// shared, not copied into each node's containerd volume (about 480 MB, which
// took seconds per node to start).
func LayersVolume(nodeImage string) string {
	return "dind-cluster-layers-" + strings.NewReplacer("dind-cluster/node:", "", ".", "-").Replace(nodeImage)
}

// LayersDir is where a node mounts the layers volume.
const LayersDir = "/var/lib/dind-layers"

// LayersVolumeExists tells whether the layers volume name was made by a
// build: `docker run --volume` makes an empty one, without the label, where
// a volume is missing.
func LayersVolumeExists(ctx context.Context, d docker.Provider, name string) bool {
	labels, err := d.VolumeLabels(ctx, name)
	return err == nil && labels[ArtifactLabel] == "layers"
}

// nodeFiles is what goes into the node's file system on top of the base.
func (b *Builder) nodeFiles() ([]layerEntry, error) {
	rendered, err := embed.NodeFiles(embed.Values{Kubernetes: b.Set.Kubernetes, Images: Images(b.Set)})
	if err != nil {
		return nil, err
	}
	var out []layerEntry
	for _, f := range rendered {
		out = append(out, layerEntry{Path: strings.TrimPrefix(f.Path, "/"), Mode: f.Mode, Content: f.Content})
	}
	for _, unit := range []string{"containerd", "kubelet", "dindnet"} {
		out = append(out, layerEntry{Path: "etc/systemd/system/multi-user.target.wants/" + unit + ".service",
			Link: "/etc/systemd/system/" + unit + ".service"})
	}
	for _, unit := range bootMasked {
		out = append(out, layerEntry{Path: "etc/systemd/system/" + unit, Link: "/dev/null"})
	}
	// A slice, not a map: the order goes into the image's cache key.
	for _, bin := range [][2]string{
		{"kubernetes", "kubeadm"}, {"kubernetes", "kubelet"}, {"kubernetes", "kubectl"},
		{"containerd", "containerd"}, {"containerd", "containerd-shim-runc-v2"}, {"containerd", "ctr"},
		{"runc", "runc"},
	} {
		out = append(out, layerEntry{Path: "usr/local/bin/" + bin[1], Mode: 0o755, From: b.bin(bin[0], bin[1])})
	}
	for _, n := range []string{"bridge", "ptp", "loopback", "host-local", "portmap"} {
		out = append(out, layerEntry{Path: "opt/cni/bin/" + n, Mode: 0o755, From: b.bin("cni-plugins", n)})
	}
	return out, nil
}

// bootMasked are units a node has no use for; left in, they double its boot time.
var bootMasked = []string{
	"modprobe@.service", "systemd-sysusers.service", "systemd-update-utmp.service",
	"systemd-update-utmp-runlevel.service", "systemd-tmpfiles-setup-dev.service", "systemd-journal-flush.service",
	"systemd-random-seed.service", "systemd-pstore.service", "ldconfig.service", "e2scrub_reap.service",
	"systemd-hwdb-update.service", "systemd-journal-catalog-update.service", "systemd-update-done.service",
	"systemd-machine-id-commit.service", "systemd-logind.service", "getty.target",
}

// buildNodeImage puts the node files on the base image, then preloads the
// cluster images into the node's containerd, so that no `up` imports or
// pulls anything.
func (b *Builder) buildNodeImage(ctx context.Context) error {
	unlock, err := b.Cache.Lock(ctx, "image-node-"+b.NodeImage)
	if err != nil {
		return err
	}
	defer unlock()
	layers := LayersVolume(b.NodeImage)
	if have, err := b.Docker.ImageExists(ctx, b.NodeImage); err != nil {
		return err
	} else if have {
		if LayersVolumeExists(ctx, b.Docker, layers) {
			return nil
		}
		// The layers volume was removed (docker volume prune): make both again.
		if err := b.Docker.RemoveImages(ctx, false, b.NodeImage); err != nil {
			return fmt.Errorf("node image %s has lost its layers volume %s and cannot be rebuilt: %w", b.NodeImage, layers, err)
		}
	}
	id := strings.ReplaceAll(strings.TrimPrefix(b.NodeImage, "dind-cluster/node:"), ".", "-")
	stage, preload, final := "dind-build-stage-"+id, "dind-build-preload-"+id, "dind-build-final-"+id
	stageImage := "dind-cluster/node-stage:" + id
	defer func() {
		// The plan's context may be cancelled: clean up regardless.
		cleanup, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b.Docker.Remove(cleanup, stage, preload, final)
		b.Docker.RemoveImages(cleanup, true, stageImage)
	}()
	label := docker.Labels{ArtifactLabel: "build"}

	files, err := b.nodeFiles()
	if err != nil {
		return err
	}
	if err := b.Docker.Create(ctx, docker.ContainerSpec{Name: stage, Labels: label, Image: b.BaseImage, Cmd: []string{"/sbin/init"}}); err != nil {
		return err
	}
	if err := StreamInto(ctx, b.Docker, func(w io.Writer) error { return writeLayer(w, files) }, stage, "/"); err != nil {
		return fmt.Errorf("copying node files: %w", err)
	}
	if err := b.Docker.Commit(ctx, stage, stageImage); err != nil {
		return err
	}

	b.Engine.Privileged = b.Docker.CanRunPrivileged(ctx, stageImage)
	spec := b.Engine.AsNode(docker.ContainerSpec{Name: preload, Labels: label, Image: stageImage,
		Entrypoint: "/usr/local/bin/containerd"}, "", nil)
	if err := b.Docker.Run(ctx, spec, true); err != nil {
		return fmt.Errorf("starting containerd to preload images: %w", err)
	}
	if err := steps.Poll(ctx, 60*time.Second, "containerd in "+preload, func() error {
		_, err := b.Docker.ExecOutput(ctx, preload, "ctr", "version")
		return err
	}); err != nil {
		return err
	}
	oci := filepath.Join(b.dir("cluster-images"), "oci")
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(pw, oci)) }()
	err = b.Docker.Exec(ctx, preload, []string{"ctr", "-n", "k8s.io", "images", "import", "--local", "--discard-unpacked-layers", "-"}, pr, nil)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return fmt.Errorf("importing cluster images: %w", err)
	}
	out, err := b.Docker.ExecOutput(ctx, preload, "ctr", "-n", "k8s.io", "images", "list", "--quiet")
	if err != nil {
		return err
	}
	listed := strings.Fields(out)
	for _, want := range append(Images(b.Set).All(), b.addonImageNames()...) {
		if !slices.Contains(listed, want) {
			return fmt.Errorf("image %s is missing from the node's containerd after import (have %s)", want, strings.Join(listed, ", "))
		}
	}
	if err := b.Docker.Stop(ctx, preload, 10); err != nil {
		return err
	}
	if err := b.moveLayers(ctx, preload, stageImage, layers); err != nil {
		return fmt.Errorf("moving the image layers to volume %s: %w", layers, err)
	}
	if err := b.Docker.Create(ctx, docker.ContainerSpec{Name: final, Labels: label, Image: stageImage}); err != nil {
		return err
	}
	if err := StreamInto(ctx, b.Docker, func(w io.Writer) error {
		return b.Docker.CopyOut(ctx, preload, "/var/lib/containerd", w)
	}, final, "/var/lib/"); err != nil {
		return fmt.Errorf("copying the preloaded containerd state: %w", err)
	}
	if err := b.Docker.Commit(ctx, final, b.NodeImage,
		`ENTRYPOINT ["/usr/local/bin/dind-entrypoint"]`,
		`CMD ["/sbin/init"]`,
		"ENV container=docker",
		"LABEL "+ArtifactLabel+"=node",
		"LABEL dind-cluster.kubernetes="+b.Set.Kubernetes); err != nil {
		return err
	}
	b.PruneNodeImages(ctx)
	return nil
}

// NodeImageLabel is on every volume of a cluster that depends on a node
// image: the image's name.
const NodeImageLabel = "dind-cluster.node-image"

// PruneNodeImages removes the node images of the same Kubernetes version
// that this one replaces, with their layers volumes, unless a cluster still
// refers to them (a stopped one, or one a restore will make again) or a
// container still uses them (the engine refuses then).
func (b *Builder) PruneNodeImages(ctx context.Context) {
	repo, _, _ := strings.Cut(b.NodeImage, ":")
	images, err := b.Docker.Images(ctx, docker.Labels{ArtifactLabel: "node", "dind-cluster.kubernetes": b.Set.Kubernetes})
	if err != nil {
		return
	}
	volumes, err := b.Docker.Volumes(ctx, docker.Labels{NodeImageLabel: ""})
	if err != nil {
		return
	}
	referenced := map[string]bool{}
	for _, v := range volumes {
		referenced[v.Labels[NodeImageLabel]] = true
	}
	for _, image := range images {
		tag := image.Ref
		if tag == b.NodeImage || !strings.HasPrefix(tag, repo+":") || referenced[tag] {
			continue
		}
		if b.Docker.RemoveImages(ctx, false, tag) == nil {
			b.Docker.RemoveVolumes(ctx, LayersVolume(tag))
			if b.Log != nil {
				fmt.Fprintf(b.Log, "removed %s, which %s replaces\n", tag, b.NodeImage)
			}
		}
	}
}

// moveLayers moves the unpacked layers out of the stopped preload
// container's containerd into the volume layers, and leaves a symbolic link
// to each in its place.
func (b *Builder) moveLayers(ctx context.Context, preload, image, layers string) error {
	b.Docker.RemoveVolumes(ctx, layers) // a half-filled one from a failed build
	if err := b.Docker.CreateVolume(ctx, layers, docker.Labels{ArtifactLabel: "layers"}); err != nil {
		return err
	}
	script := `set -o errexit -o nounset
cd /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots
for id in *; do
  mv "$id/fs" "` + LayersDir + `/$id"
  ln -s "` + LayersDir + `/$id" "$id/fs"
done`
	err := b.Docker.Run(ctx, docker.ContainerSpec{Remove: true, VolumesFrom: []string{preload},
		Volumes: []string{layers + ":" + LayersDir}, Entrypoint: "bash", Image: image, Cmd: []string{"-c", script}}, false)
	if err != nil {
		b.Docker.RemoveVolumes(context.WithoutCancel(ctx), layers)
	}
	return err
}

// StreamInto copies the tar that write produces into container:dir, which
// works against a remote engine too, and on a container that is created and
// not yet started.
func StreamInto(ctx context.Context, d docker.Provider, write func(io.Writer) error, container, dir string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	err := d.CopyIn(ctx, container, dir, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	return err
}

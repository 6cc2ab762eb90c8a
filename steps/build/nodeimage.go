package build

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/cache"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// ArtifactLabel marks the images the supply chain makes (not cluster objects).
const ArtifactLabel = "dind-cluster.artifact"

func imageExists(ctx context.Context, tag string) bool {
	return shell.Docker("image", "inspect", "--format", "{{.Id}}", tag).Run(ctx) == nil
}

func (b *Builder) baseImageDone(ctx context.Context) (bool, error) {
	b.BaseImage = "dind-cluster/base:" + b.key("rootfs-node")
	return imageExists(ctx, b.BaseImage), nil
}

func (b *Builder) buildBaseImage(ctx context.Context) error {
	unlock, err := b.Cache.Lock(ctx, "image-base")
	if err != nil {
		return err
	}
	defer unlock()
	if imageExists(ctx, b.BaseImage) {
		return nil
	}
	tar := filepath.Join(b.dir("rootfs-node"), "rootfs.tar")
	return shell.Docker("import", "--change", "LABEL "+ArtifactLabel+"=base", tar, b.BaseImage).Run(ctx)
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
	return imageExists(ctx, b.NodeImage) && layersVolumeExists(ctx, LayersVolume(b.NodeImage)), nil
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

// layersVolumeExists tells whether the layers volume name was made by a
// build: `docker run --volume` makes an empty one, without the label, where
// a volume is missing.
func layersVolumeExists(ctx context.Context, name string) bool {
	label, err := shell.Docker("volume", "inspect", "--format", `{{index .Labels "`+ArtifactLabel+`"}}`, name).Output(ctx)
	return err == nil && label == "layers"
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
	if imageExists(ctx, b.NodeImage) {
		if layersVolumeExists(ctx, layers) {
			return nil
		}
		// The layers volume was removed (docker volume prune): make both again.
		if err := shell.Docker("rmi", b.NodeImage).Run(ctx); err != nil {
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
		shell.Docker("rm", "--force", "--volumes", stage, preload, final).Run(cleanup)
		shell.Docker("rmi", "--force", stageImage).Run(cleanup)
	}()
	label := "--label=" + ArtifactLabel + "=build"

	files, err := b.nodeFiles()
	if err != nil {
		return err
	}
	if err := shell.Docker("create", "--name", stage, label, b.BaseImage, "/sbin/init").Run(ctx); err != nil {
		return err
	}
	if err := StreamInto(ctx, func(w io.Writer) error { return writeLayer(w, files) }, stage, "/"); err != nil {
		return fmt.Errorf("copying node files: %w", err)
	}
	if err := shell.Docker("commit", stage, stageImage).Run(ctx); err != nil {
		return err
	}

	b.Engine.ProbePrivileged(ctx, stageImage)
	run := append([]string{"run", "--detach", "--name", preload, label}, b.Engine.NodeFlags("")...)
	run = append(run, "--entrypoint", "/usr/local/bin/containerd", stageImage)
	if err := shell.Docker(run...).Run(ctx); err != nil {
		return fmt.Errorf("starting containerd to preload images: %w", err)
	}
	if err := steps.Poll(ctx, 60*time.Second, "containerd in "+preload, func() error {
		return shell.Docker("exec", preload, "ctr", "version").Run(ctx)
	}); err != nil {
		return err
	}
	oci := filepath.Join(b.dir("cluster-images"), "oci")
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(pw, oci)) }()
	if err := shell.Docker("exec", "-i", preload, "ctr", "-n", "k8s.io", "images", "import", "--local", "--discard-unpacked-layers", "-").WithStdin(pr).Run(ctx); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("importing cluster images: %w", err)
	}
	listed, err := shell.Docker("exec", preload, "ctr", "-n", "k8s.io", "images", "list", "--quiet").Lines(ctx)
	if err != nil {
		return err
	}
	for _, want := range Images(b.Set).All() {
		if !contains(listed, want) {
			return fmt.Errorf("image %s is missing from the node's containerd after import (have %s)", want, strings.Join(listed, ", "))
		}
	}
	if err := shell.Docker("stop", preload).Run(ctx); err != nil {
		return err
	}
	if err := b.moveLayers(ctx, preload, stageImage, layers); err != nil {
		return fmt.Errorf("moving the image layers to volume %s: %w", layers, err)
	}
	if err := shell.Docker("create", "--name", final, label, stageImage).Run(ctx); err != nil {
		return err
	}
	if err := StreamInto(ctx, func(w io.Writer) error {
		return shell.Docker("cp", "--archive", preload+":/var/lib/containerd", "-").WithStdout(w).Run(ctx)
	}, final, "/var/lib/"); err != nil {
		return fmt.Errorf("copying the preloaded containerd state: %w", err)
	}
	if err := shell.Docker("commit",
		"--change", `ENTRYPOINT ["/usr/local/bin/dind-entrypoint"]`,
		"--change", `CMD ["/sbin/init"]`,
		"--change", "ENV container=docker",
		"--change", "LABEL "+ArtifactLabel+"=node",
		"--change", "LABEL dind-cluster.kubernetes="+b.Set.Kubernetes,
		final, b.NodeImage).Run(ctx); err != nil {
		return err
	}
	b.PruneNodeImages(ctx)
	return nil
}

// PruneNodeImages removes the node images of the same Kubernetes version
// that this one replaces, with their layers volumes, unless a node still
// uses them (the engine refuses then, and they stay).
func (b *Builder) PruneNodeImages(ctx context.Context) {
	repo, _, _ := strings.Cut(b.NodeImage, ":")
	tags, err := shell.Docker("images", "--filter", "label="+ArtifactLabel+"=node",
		"--filter", "label=dind-cluster.kubernetes="+b.Set.Kubernetes, "--format", "{{.Repository}}:{{.Tag}}").Lines(ctx)
	if err != nil {
		return
	}
	for _, tag := range tags {
		if tag == b.NodeImage || !strings.HasPrefix(tag, repo+":") {
			continue
		}
		if shell.Docker("rmi", tag).Run(ctx) == nil {
			shell.Docker("volume", "rm", LayersVolume(tag)).Run(ctx)
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
	shell.Docker("volume", "rm", "--force", layers).Run(ctx) // a half-filled one from a failed build
	if err := shell.Docker("volume", "create", "--label", ArtifactLabel+"=layers", layers).Run(ctx); err != nil {
		return err
	}
	script := `set -o errexit -o nounset
cd /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots
for id in *; do
  mv "$id/fs" "` + LayersDir + `/$id"
  ln -s "` + LayersDir + `/$id" "$id/fs"
done`
	err := shell.Docker("run", "--rm", "--volumes-from", preload, "--volume", layers+":"+LayersDir,
		"--entrypoint", "bash", image, "-c", script).Run(ctx)
	if err != nil {
		shell.Docker("volume", "rm", "--force", layers).Run(context.WithoutCancel(ctx))
	}
	return err
}

// StreamInto copies the tar that write produces into container:dir with
// `docker cp`, which works against a remote engine too, and on a container
// that is created and not yet started.
func StreamInto(ctx context.Context, write func(io.Writer) error, container, dir string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	err := shell.Docker("cp", "--archive", "-", container+":"+dir).WithStdin(pr).Run(ctx)
	pr.CloseWithError(io.ErrClosedPipe)
	return err
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

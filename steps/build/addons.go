package build

import (
	"path/filepath"
	"strings"

	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/fixed"
)

// Where a node keeps the folders of local-path volumes: on its kubelet
// volume (docker.NodeVolumes), which outlives the container.
const localPathStorage = "/var/lib/kubelet-root/local-path"

var (
	localPathBuild = goBuild{Module: "github.com/rancher/local-path-provisioner", Version: fixed.LocalPathProvisioner,
		Packages: []string{"github.com/rancher/local-path-provisioner"},
		LDFlags:  []string{"-X", "main.VERSION=" + fixed.LocalPathProvisioner}}
	metricsBuild = goBuild{Module: "sigs.k8s.io/metrics-server", Version: fixed.MetricsServer,
		Packages: []string{"sigs.k8s.io/metrics-server/cmd/metrics-server"},
		LDFlags:  []string{"-X", "k8s.io/client-go/pkg/version.gitVersion=" + fixed.MetricsServer}}
)

// AddonImages are the names of the addons' images in the node's containerd,
// and where the storage addon keeps its volumes. The provisioner and
// metrics-server go by their upstream names, so that manifests written for
// those find them here.
func AddonImages() embed.AddonValues {
	return embed.AddonValues{
		ProvisionerImage: "docker.io/rancher/local-path-provisioner:" + fixed.LocalPathProvisioner,
		HelperImage:      "localhost/dind-cluster/local-path-helper:" + suite,
		StoragePath:      localPathStorage,
		MetricsImage:     "registry.k8s.io/metrics-server/metrics-server:" + fixed.MetricsServer,
	}
}

// addonComponents are the builds of the addons that are turned on.
func (b *Builder) addonComponents() []goComponent {
	var out []goComponent
	if b.WithStorage {
		out = append(out, goComponent{"local-path-provisioner", localPathBuild})
	}
	if b.WithMetrics {
		out = append(out, goComponent{"metrics-server", metricsBuild})
	}
	return out
}

// addonInputs are what the addons add to the cluster images' cache key.
func (b *Builder) addonInputs() []string {
	var in []string
	for _, c := range b.addonComponents() {
		in = append(in, c.name+"="+b.key(c.name))
	}
	if len(in) > 0 {
		in = append(in, "addon-images="+strings.Join(b.addonImageNames(), ","))
	}
	return in
}

// addonImageSpecs are the addons' images, preloaded beside the cluster's.
// The helper pods of local-path-provisioner run a shell: the Debian
// userland kube-proxy's image is made of, one shared layer for both.
func (b *Builder) addonImageSpecs() []imageSpec {
	names := AddonImages()
	tmp := layerEntry{Path: "tmp", Mode: 0o1777, Dir: true}
	var specs []imageSpec
	if b.WithStorage {
		specs = append(specs,
			imageSpec{Name: names.ProvisionerImage, Files: []layerEntry{tmp,
				{Path: "local-path-provisioner", Mode: 0o755, From: b.bin("local-path-provisioner", "local-path-provisioner")}},
				Entrypoint: []string{"/local-path-provisioner"}},
			imageSpec{Name: names.HelperImage, BaseTar: filepath.Join(b.dir("rootfs-kube-proxy"), "rootfs.tar")})
	}
	if b.WithMetrics {
		specs = append(specs, imageSpec{Name: names.MetricsImage, Files: []layerEntry{tmp,
			{Path: "metrics-server", Mode: 0o755, From: b.bin("metrics-server", "metrics-server")}},
			Entrypoint: []string{"/metrics-server"}})
	}
	return specs
}

func (b *Builder) addonImageNames() []string {
	var out []string
	for _, s := range b.addonImageSpecs() {
		out = append(out, s.Name)
	}
	return out
}

// addonNeeds are the steps the cluster images wait for besides their own.
func (b *Builder) addonNeeds() []string {
	var out []string
	for _, c := range b.addonComponents() {
		out = append(out, c.name)
	}
	return out
}

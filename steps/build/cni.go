package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/fixed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/cache"
)

// A cniAddon is a pod network add-on that runs as a DaemonSet: its binary,
// built from its Go module, in an image of its own on the Debian userland
// it calls, which a cluster of that CNI imports into its nodes.
type cniAddon struct {
	build  goBuild
	binary string   // the built binary's name
	start  string   // a script of embed/cni/NAME/ that is the entrypoint, or ""
	entry  []string // the image's entrypoint
}

// cniRootfs is what the add-ons call: iptables and ipset for their rules,
// ip for routes and rules (kube-router runs it), conntrack.
var cniRootfs = rootfs{Name: "cni", Variant: "essential",
	Packages: []string{"iptables", "nftables", "ipset", "iproute2", "conntrack"}}

var cniAddons = map[string]cniAddon{
	"flannel": {
		// cgo: flannel's UDP backend, which upstream builds on amd64 only.
		build: goBuild{Module: "github.com/flannel-io/flannel", Version: fixed.Flannel,
			Packages: []string{"github.com/flannel-io/flannel"}, CGO: true, Static: true,
			// The SDK release flannel's Tencent Cloud backend asks for is not
			// served by the module proxy; an older one is, with the same API.
			Replaces: []string{"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc => " +
				"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc v1.1.0"},
			Tags:    []string{"netgo", "osusergo"},
			LDFlags: []string{"-X", "github.com/flannel-io/flannel/pkg/version.Version=" + fixed.Flannel},
			Rename:  map[string]string{"flannel": "flanneld"}},
		binary: "flanneld", start: "start", entry: []string{"/usr/local/bin/start"},
	},
	"kube-router": {
		build: goBuild{Module: "github.com/cloudnativelabs/kube-router/v2", Version: fixed.KubeRouter,
			Packages: []string{"github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"},
			LDFlags:  []string{"-X", "github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=" + fixed.KubeRouter}},
		binary: "kube-router", entry: []string{"/usr/local/bin/kube-router"},
	},
}

// CNIRoutes tells whether the pod network add-on plugin routes between
// nodes itself, from a DaemonSet, rather than through the static routes and
// per-node CNI configuration dind-cluster gives bridge and ptp.
func CNIRoutes(plugin string) bool {
	_, ok := cniAddons[plugin]
	return ok
}

// CNIImage is the name of plugin's image in the nodes.
func CNIImage(plugin string) string {
	version := map[string]string{"flannel": fixed.Flannel, "kube-router": fixed.KubeRouter}[plugin]
	return "dind-cluster.local/" + plugin + ":" + version
}

// StepCNIImage makes the image of the add-on the builder's CNI names.
func StepCNIImage(plugin string) string { return "cni-image-" + plugin }

// CNIImageLayout is the OCI layout holding the add-on's image, for
// `ctr images import`; valid once its step ran.
func (b *Builder) CNIImageLayout() string {
	return filepath.Join(b.dir(StepCNIImage(b.CNI)), "oci")
}

// cniSteps build the add-on's binary and image, when the builder's CNI is one.
func (b *Builder) cniSteps() []steps.Step {
	addon, ok := cniAddons[b.CNI]
	if !ok {
		return nil
	}
	name := b.CNI
	script := []byte(nil)
	if addon.start != "" {
		var err error
		if script, err = embed.CNIFile(name + "/" + addon.start); err != nil {
			return []steps.Step{{Name: StepCNIImage(name), Run: func(context.Context) error { return err }}}
		}
	}
	needs := []string{StepEngine}
	if addon.build.CGO {
		needs = append(needs, "host-tools")
	}
	return []steps.Step{
		b.cached(name, needs, addon.build.inputs, func(ctx context.Context, dir string) error {
			return addon.build.build(ctx, dir, b.Engine.Arch)
		}),
		b.rootfsStep(cniRootfs),
		b.cached(StepCNIImage(name), []string{name, "rootfs-" + cniRootfs.Name}, func(arch string) []string {
			return []string{"cni-image", CNIImage(name), b.key(name), b.key("rootfs-" + cniRootfs.Name),
				cache.Key(string(script)), fmt.Sprint(addon.entry)}
		}, func(ctx context.Context, dir string) error {
			layout, err := newOCILayout(filepath.Join(dir, "oci"), b.Engine.Arch)
			if err != nil {
				return err
			}
			files := []layerEntry{
				{Path: "tmp", Mode: 0o1777, Dir: true},
				{Path: "usr/local/bin/" + addon.binary, Mode: 0o755, From: b.bin(name, addon.binary)},
			}
			if script != nil {
				files = append(files, layerEntry{Path: "usr/local/bin/" + addon.start, Mode: 0o755, Content: script})
			}
			if _, err := os.Stat(b.bin(name, addon.binary)); err != nil {
				return err
			}
			err = layout.add(imageSpec{Name: CNIImage(name), BaseTar: filepath.Join(b.dir("rootfs-"+cniRootfs.Name), "rootfs.tar"),
				Files: files, Entrypoint: addon.entry})
			if err != nil {
				return err
			}
			return layout.finish()
		}),
	}
}

// WriteCNIImage writes the OCI layout of the add-on's image as a tar, for
// `ctr images import`.
func (b *Builder) WriteCNIImage(w io.Writer) error { return tarDir(w, b.CNIImageLayout()) }

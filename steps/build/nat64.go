package build

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/dind-cluster/dind-cluster/steps"
)

// Steps of the IPv6 mode's images.
const (
	StepDNS64Image = "dns64-image"
	StepNAT64Image = "nat64-image"
)

// nat64Rootfs is the NAT64 gateway's userland: tayga, which translates in
// user space (the host's kernel loads no module, so no Jool), and what sets
// up its routes and masquerading.
var nat64Rootfs = rootfs{Name: "nat64", Variant: "essential", Packages: []string{"tayga", "iproute2", "iptables"}}

// nat64Steps make the image of the DNS64 server (the CoreDNS of the
// version set, whose dns64 plugin synthesizes AAAA records) and of the
// NAT64 gateway. Each cluster gives them their configuration.
func (b *Builder) nat64Steps() []steps.Step {
	return []steps.Step{
		b.rootfsStep(nat64Rootfs),
		{Name: StepNAT64Image, Needs: []string{"rootfs-" + nat64Rootfs.Name}, Done: func(ctx context.Context) (bool, error) {
			b.NAT64Image = "dind-cluster/nat64:" + b.key("rootfs-"+nat64Rootfs.Name)
			return b.Docker.ImageExists(ctx, b.NAT64Image)
		}, Run: func(ctx context.Context) error {
			f, err := os.Open(filepath.Join(b.dir("rootfs-"+nat64Rootfs.Name), "rootfs.tar"))
			if err != nil {
				return err
			}
			defer f.Close()
			return b.Docker.Import(ctx, f, b.NAT64Image, `ENTRYPOINT ["/bin/bash", "/etc/nat64/start"]`,
				"LABEL "+ArtifactLabel+"=nat64")
		}},
		{Name: StepDNS64Image, Needs: []string{"coredns"}, Done: func(ctx context.Context) (bool, error) {
			b.DNS64Image = "dind-cluster/dns64:" + b.key("coredns")
			return b.Docker.ImageExists(ctx, b.DNS64Image)
		}, Run: func(ctx context.Context) error {
			entries := []layerEntry{
				{Path: "coredns", Mode: 0o755, From: b.bin("coredns", "coredns")},
				{Path: "etc/coredns", Mode: 0o755, Dir: true},
				{Path: "tmp", Mode: 0o1777, Dir: true},
			}
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(writeLayer(pw, entries)) }()
			err := b.Docker.Import(ctx, pr, b.DNS64Image, `ENTRYPOINT ["/coredns", "-conf", "/etc/coredns/Corefile"]`,
				"LABEL "+ArtifactLabel+"=dns64")
			pr.CloseWithError(io.ErrClosedPipe)
			return err
		}},
	}
}

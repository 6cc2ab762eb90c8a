package build

import (
	"context"
	"io"
	"os"

	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/fixed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/cache"
)

// StepRegistryImage makes the local registry's image.
const StepRegistryImage = "registry-image"

var registryBuild = goBuild{Module: "github.com/distribution/distribution/v3", Version: fixed.Registry,
	Packages: []string{"github.com/distribution/distribution/v3/cmd/registry"}}

// RegistrySteps are the steps that make the local registry's image alone.
func (b *Builder) RegistrySteps() []steps.Step {
	return append([]steps.Step{{Name: StepEngine, Run: b.probeEngine}}, b.registrySteps()...)
}

// registrySteps build the CNCF distribution registry from its Go module and
// make an image of it, whose name goes to RegistryImage.
func (b *Builder) registrySteps() []steps.Step {
	return []steps.Step{
		b.cached("registry", []string{StepEngine}, registryBuild.inputs, func(ctx context.Context, dir string) error {
			return registryBuild.build(ctx, dir, b.Engine.Arch)
		}),
		{Name: StepRegistryImage, Needs: []string{"registry"}, Done: b.registryImageDone, Run: b.buildRegistryImage},
	}
}

func (b *Builder) registryImageDone(ctx context.Context) (bool, error) {
	b.RegistryImage = "dind-cluster/registry:" + cache.Key(b.key("registry"), string(embed.RegistryConfig()))
	return b.Docker.ImageExists(ctx, b.RegistryImage)
}

func (b *Builder) buildRegistryImage(ctx context.Context) error {
	entries := []layerEntry{
		{Path: "bin/registry", Mode: 0o755, From: b.bin("registry", "registry")},
		{Path: "etc/distribution/config.yml", Mode: 0o644, Content: embed.RegistryConfig()},
		{Path: "var/lib/registry", Mode: 0o755, Dir: true},
		{Path: "tmp", Mode: 0o1777, Dir: true},
	}
	if _, err := os.Stat(b.bin("registry", "registry")); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeLayer(pw, entries)) }()
	err := b.Docker.Import(ctx, pr, b.RegistryImage,
		`ENTRYPOINT ["/bin/registry"]`, `CMD ["serve", "/etc/distribution/config.yml"]`, "EXPOSE 5000",
		"LABEL "+ArtifactLabel+"=registry")
	pr.CloseWithError(io.ErrClosedPipe)
	return err
}

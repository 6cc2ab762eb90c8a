package docker

import (
	"context"
	"io"
)

// Provider is everything dind-cluster asks of a Docker engine. CLI is the
// real one; unit tests of the decisions above it use a fake.
type Provider interface {
	Info(ctx context.Context) (Engine, error)
	CanRunPrivileged(ctx context.Context, image string) bool

	Containers(ctx context.Context, labels Labels) ([]Container, error)
	Create(ctx context.Context, s ContainerSpec) error
	Run(ctx context.Context, s ContainerSpec, detach bool) error
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string, timeout int) error
	Remove(ctx context.Context, names ...string) error
	Rename(ctx context.Context, from, to string) error
	Pause(ctx context.Context, names ...string) error
	Unpause(ctx context.Context, names ...string) error
	State(ctx context.Context, name string) (string, error)
	Addresses(ctx context.Context, name string) ([]string, error)
	Logs(ctx context.Context, name string, tail int) (string, error)
	Exec(ctx context.Context, name string, cmd []string, stdin io.Reader, stdout io.Writer) error
	ExecOutput(ctx context.Context, name string, cmd ...string) (string, error)
	CopyIn(ctx context.Context, name, dir string, archive io.Reader) error
	CopyOut(ctx context.Context, name, path string, w io.Writer) error
	PublishedPort(ctx context.Context, name string, port int) (int, error)
	BoundPort(ctx context.Context, name string, port int) (int, error)
	MemoryUsage(ctx context.Context, names ...string) (map[string]float64, error)

	Volumes(ctx context.Context, labels Labels) ([]Volume, error)
	VolumeLabels(ctx context.Context, name string) (Labels, error)
	CreateVolume(ctx context.Context, name string, labels Labels) error
	RemoveVolumes(ctx context.Context, names ...string) error

	Networks(ctx context.Context, labels Labels) ([]Network, error)
	Network(ctx context.Context, name string) (Network, error)
	CreateNetwork(ctx context.Context, s NetworkSpec) error
	RemoveNetworks(ctx context.Context, names ...string) error
	Connect(ctx context.Context, network, container string, ips ...string) error
	Disconnect(ctx context.Context, network, container string) error

	ImageExists(ctx context.Context, ref string) (bool, error)
	Images(ctx context.Context, labels Labels) ([]Image, error)
	RemoveImages(ctx context.Context, force bool, refs ...string) error
	Import(ctx context.Context, archive io.Reader, ref string, changes ...string) error
	Commit(ctx context.Context, container, ref string, changes ...string) error
	Save(ctx context.Context, ref string, w io.Writer) error
	Tag(ctx context.Context, src, dst string) error
	Push(ctx context.Context, ref string) error
}

var _ Provider = CLI{}

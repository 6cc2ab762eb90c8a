package cluster

import (
	"archive/tar"
	"context"
	"io"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

// fakeDocker is an engine in memory, for tests of what the cluster code
// decides and asks: it holds containers, volumes and networks, and records
// every call that changes something. Methods it does not implement panic.
type fakeDocker struct {
	docker.Provider
	mu         sync.Mutex
	containers []docker.Container
	volumes    []docker.Volume
	networks   []docker.Network
	images     map[string]bool
	ports      map[string]int    // published API server ports by container
	files      map[string][]byte // by CONTAINER:PATH
	created    []docker.ContainerSpec
	calls      []string
}

func (f *fakeDocker) record(call ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, strings.Join(call, " "))
}

func matches(have, want docker.Labels) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

func (f *fakeDocker) Info(context.Context) (docker.Engine, error) {
	return docker.Engine{ID: "fake-engine", Arch: "amd64", CgroupVersion: "2", StorageDriver: "overlay2"}, nil
}

func (f *fakeDocker) Containers(_ context.Context, labels docker.Labels) ([]docker.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []docker.Container
	for _, c := range f.containers {
		if matches(c.Labels, labels) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeDocker) Volumes(_ context.Context, labels docker.Labels) ([]docker.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []docker.Volume
	for _, v := range f.volumes {
		if matches(v.Labels, labels) {
			out = append(out, v)
		}
	}
	return out, nil
}

func (f *fakeDocker) Networks(_ context.Context, labels docker.Labels) ([]docker.Network, error) {
	var out []docker.Network
	for _, n := range f.networks {
		if matches(n.Labels, labels) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *fakeDocker) Network(_ context.Context, name string) (docker.Network, error) {
	for _, n := range f.networks {
		if n.Name == name {
			return n, nil
		}
	}
	return docker.Network{}, &docker.Error{Op: "inspecting network " + name, Kind: docker.ErrNotFound, Err: io.EOF}
}

func (f *fakeDocker) PublishedPort(_ context.Context, name string, _ int) (int, error) {
	if p, ok := f.ports[name]; ok {
		return p, nil
	}
	return 0, &docker.Error{Op: "reading the port of " + name, Kind: docker.ErrNotFound, Err: io.EOF}
}

func (f *fakeDocker) ImageExists(_ context.Context, ref string) (bool, error) {
	return f.images[ref], nil
}

func (f *fakeDocker) CreateVolume(_ context.Context, name string, labels docker.Labels) error {
	f.record("volume create", name)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.volumes = append(f.volumes, docker.Volume{Name: name, Labels: labels})
	return nil
}

func (f *fakeDocker) Create(_ context.Context, s docker.ContainerSpec) error {
	f.record("create", s.Name)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, s)
	f.containers = append(f.containers, docker.Container{Name: s.Name, State: "created", Image: s.Image, Labels: s.Labels})
	return nil
}

func (f *fakeDocker) Remove(_ context.Context, names ...string) error {
	f.record(append([]string{"rm"}, names...)...)
	return nil
}

func (f *fakeDocker) RemoveVolumes(_ context.Context, names ...string) error {
	f.record(append([]string{"volume rm"}, names...)...)
	return nil
}

func (f *fakeDocker) Rename(_ context.Context, from, to string) error {
	f.record("rename", from, to)
	return nil
}

func (f *fakeDocker) Start(_ context.Context, name string) error {
	f.record("start", name)
	return nil
}

// CopyIn keeps the regular files of the archive as the container's.
func (f *fakeDocker) CopyIn(_ context.Context, name, dir string, archive io.Reader) error {
	f.record("cp", name, dir)
	tr := tar.NewReader(archive)
	for {
		h, err := tr.Next()
		if err != nil {
			io.Copy(io.Discard, archive)
			return nil
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		body, _ := io.ReadAll(tr)
		f.mu.Lock()
		if f.files == nil {
			f.files = map[string][]byte{}
		}
		f.files[name+":"+path.Join(dir, h.Name)] = body
		f.mu.Unlock()
	}
}

// CopyOut gives a file CopyIn placed, as a tar.
func (f *fakeDocker) CopyOut(_ context.Context, name, file string, w io.Writer) error {
	f.mu.Lock()
	body, ok := f.files[name+":"+file]
	f.mu.Unlock()
	if !ok {
		return &docker.Error{Op: "copying " + name + ":" + file, Kind: docker.ErrNotFound, Err: io.EOF}
	}
	tw := tar.NewWriter(w)
	tw.WriteHeader(&tar.Header{Name: path.Base(file), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	return tw.Close()
}

// container is a node container of the cluster of cfg, in state.
func container(cfg *config.Config, name, state string) docker.Container {
	return docker.Container{Name: name, State: state, Labels: docker.Labels{
		config.LabelOwner: "1", config.LabelCluster: cfg.ClusterName()}}
}

func testConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	env["HOME"] = t.TempDir()
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Exec answers every command with a tar of one file named after the node.
func (f *fakeDocker) Exec(_ context.Context, name string, cmd []string, _ io.Reader, stdout io.Writer) error {
	f.record("exec", name, cmd[0])
	if stdout == nil {
		return nil
	}
	tw := tar.NewWriter(stdout)
	body := []byte("the files of " + name)
	tw.WriteHeader(&tar.Header{Name: "etc/kubernetes/" + name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	return tw.Close()
}

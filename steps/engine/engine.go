// Package engine describes the Docker engine nodes run on: what it is, and
// how a node container must be started on it.
package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// Engine is what dind-cluster needs to know of a Docker engine.
type Engine struct {
	ID            string
	Arch          string // Go/Debian architecture name: amd64, arm64
	CgroupVersion string // "1" or "2"
	StorageDriver string
	// Privileged is whether `docker run --privileged` works; where the
	// daemon's capability set is short it does not.
	Privileged bool
}

// Probe asks the engine (local or DOCKER_HOST) what it is.
func Probe(ctx context.Context) (Engine, error) {
	out, err := shell.Docker("info", "--format",
		"{{.ID}}|{{.Architecture}}|{{.CgroupVersion}}|{{.Driver}}").Output(ctx)
	if err != nil {
		return Engine{}, fmt.Errorf("cannot reach a Docker engine: start dockerd, or point DOCKER_HOST at one (%w)", err)
	}
	f := strings.Split(strings.TrimSpace(out), "|")
	if len(f) != 4 {
		return Engine{}, fmt.Errorf("unexpected `docker info` answer %q", out)
	}
	arch, err := goArch(f[1])
	if err != nil {
		return Engine{}, err
	}
	return Engine{ID: f[0], Arch: arch, CgroupVersion: f[2], StorageDriver: f[3]}, nil
}

func goArch(machine string) (string, error) {
	switch machine {
	case "x86_64", "amd64":
		return "amd64", nil
	case "aarch64", "arm64":
		return "arm64", nil
	}
	return "", fmt.Errorf("the Docker engine runs on %s; dind-cluster builds nodes for x86_64 and aarch64 only", machine)
}

// ProbePrivileged finds out whether the engine can run a privileged
// container of image, and records it in e.
func (e *Engine) ProbePrivileged(ctx context.Context, image string) {
	err := shell.Docker("run", "--rm", "--privileged", "--entrypoint", "/bin/true", image).Run(ctx)
	e.Privileged = err == nil
}

// NodeVolumes are the folders of a node that live on Docker volumes: the
// nested containerd's overlay snapshots and kubelet's pods cannot live on an
// overlay or FUSE root file system.
var NodeVolumes = map[string]string{"containerd": "/var/lib/containerd", "kubelet": "/var/lib/kubelet-root"}

// NodeFlags are the `docker run` flags that let systemd, containerd and
// kubelet run inside a container on this engine. With volumePrefix set the
// node's volumes are the named volumes volumePrefix-containerd and
// volumePrefix-kubelet, which outlive the container; otherwise they are
// anonymous.
func (e Engine) NodeFlags(volumePrefix string) []string {
	flags := []string{
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--cgroupns=private", "--tmpfs", "/run", "--tmpfs", "/tmp", "--device", "/dev/kmsg",
		"--env", "container=docker",
		// systemd shuts down in order on this signal; `docker commit` of
		// older engines cannot set it in the image.
		"--stop-signal", "SIGRTMIN+3",
	}
	for _, name := range []string{"containerd", "kubelet"} {
		v := NodeVolumes[name]
		if volumePrefix != "" {
			v = volumePrefix + "-" + name + ":" + v
		}
		flags = append(flags, "--volume", v)
	}
	if e.Privileged {
		return append([]string{"--privileged"}, flags...)
	}
	// The daemon lacks CAP_SYS_RESOURCE: take every other capability, and
	// open what --privileged would have opened.
	return append([]string{"--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
		"--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm"}, flags...)
}

package docker

import (
	"context"
	"fmt"
	"strings"
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

// Info asks the engine (local or DOCKER_HOST) what it is.
func (d CLI) Info(ctx context.Context) (Engine, error) {
	out, err := d.output(ctx, "asking the Docker engine what it is", "info", "--format",
		"{{.ID}}|{{.Architecture}}|{{.CgroupVersion}}|{{.Driver}}")
	if err != nil && ctx.Err() != nil {
		return Engine{}, ctx.Err()
	}
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

// CanRunPrivileged tells whether the engine runs a privileged container of
// image.
func (d CLI) CanRunPrivileged(ctx context.Context, image string) bool {
	return d.Run(ctx, ContainerSpec{Image: image, Privileged: true, Entrypoint: "/bin/true", Remove: true}, false) == nil
}

// NodeVolumes are the folders of a node that live on Docker volumes: the
// nested containerd's overlay snapshots and kubelet's pods cannot live on an
// overlay or FUSE root file system.
var NodeVolumes = map[string]string{"containerd": "/var/lib/containerd", "kubelet": "/var/lib/kubelet-root"}

// AsNode adds to s what lets systemd, containerd and kubelet run inside a
// container on this engine. With volumePrefix set the node's volumes are
// the named volumes volumePrefix-containerd and volumePrefix-kubelet, which
// outlive the container, and which the engine makes with volumeLabels when
// they do not exist; otherwise they are anonymous.
func (e Engine) AsNode(s ContainerSpec, volumePrefix string, volumeLabels Labels) ContainerSpec {
	s.SecurityOpt = append(s.SecurityOpt, "seccomp=unconfined", "apparmor=unconfined")
	s.PrivateCgroupNS = true
	s.Tmpfs = append(s.Tmpfs, "/run", "/tmp")
	s.Devices = append(s.Devices, "/dev/kmsg")
	s.Env = append(s.Env, "container=docker")
	// systemd shuts down in order on this signal; `docker commit` of older
	// engines cannot set it in the image.
	s.StopSignal = "SIGRTMIN+3"
	for _, name := range []string{"containerd", "kubelet"} {
		if volumePrefix == "" {
			s.Volumes = append(s.Volumes, NodeVolumes[name])
			continue
		}
		s.Mounts = append(s.Mounts, VolumeMount(volumePrefix+"-"+name, NodeVolumes[name], volumeLabels))
	}
	if e.Privileged {
		s.Privileged = true
		return s
	}
	// The daemon lacks CAP_SYS_RESOURCE: take every other capability, and
	// open what --privileged would have opened.
	s.CapAdd = append(s.CapAdd, "ALL")
	s.CapDrop = append(s.CapDrop, "SYS_RESOURCE")
	s.SecurityOpt = append(s.SecurityOpt, "systempaths=unconfined")
	s.DeviceCgroupRules = append(s.DeviceCgroupRules, "a *:* rwm")
	return s
}

// VolumeMount mounts volume name (anonymous when "") at dir, made with
// labels if it does not exist: a volume that the engine makes for a
// container, even one created after the volume was removed, is labelled as
// its owner's.
func VolumeMount(name, dir string, labels Labels) string {
	m := "type=volume,dst=" + dir
	if name != "" {
		m += ",src=" + name
	}
	for _, kv := range labels.Pairs() {
		m += ",volume-label=" + kv
	}
	return m
}

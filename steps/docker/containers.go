package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Container is a container as the engine lists it.
type Container struct {
	ID     string
	Name   string
	State  string // created, running, paused, restarting, exited, dead
	Image  string
	Labels Labels
}

// ContainerSpec is what a container is created with.
type ContainerSpec struct {
	Name     string
	Hostname string
	Image    string
	Labels   Labels

	Network string
	IP      string // fixed address on Network, "" for any
	IP6     string
	Publish []string // host-ip:host-port:container-port; an empty host port takes a free one

	Volumes     []string // NAME:PATH[:ro], or PATH for an anonymous volume
	Mounts      []string // --mount specifications
	VolumesFrom []string
	Tmpfs       []string

	Privileged        bool
	CapAdd, CapDrop   []string
	SecurityOpt       []string
	Devices           []string
	DeviceCgroupRules []string
	PrivateCgroupNS   bool
	CPUShares         int
	CPUs              float64  // --cpus: a limit in CPUs, 0 for none
	MemoryBytes       int64    // --memory: a limit, 0 for none
	Sysctls           []string // KEY=VALUE of the container's namespaces
	Env               []string
	StopSignal        string

	Entrypoint string   // "" keeps the image's
	Cmd        []string // empty keeps the image's
	Remove     bool     // remove the container when it exits (Run only)
	Restart    string   // restart policy: "always" starts it again with the engine
}

func (s ContainerSpec) args() []string {
	var a []string
	add := func(flag string, values ...string) {
		for _, v := range values {
			a = append(a, flag, v)
		}
	}
	if s.Name != "" {
		add("--name", s.Name)
	}
	if s.Hostname != "" {
		add("--hostname", s.Hostname)
	}
	a = append(a, labelArgs("--label", s.Labels)...)
	if s.Privileged {
		a = append(a, "--privileged")
	}
	add("--cap-add", s.CapAdd...)
	add("--cap-drop", s.CapDrop...)
	add("--security-opt", s.SecurityOpt...)
	add("--device", s.Devices...)
	add("--device-cgroup-rule", s.DeviceCgroupRules...)
	if s.PrivateCgroupNS {
		a = append(a, "--cgroupns=private")
	}
	add("--tmpfs", s.Tmpfs...)
	add("--sysctl", s.Sysctls...)
	add("--env", s.Env...)
	if s.StopSignal != "" {
		add("--stop-signal", s.StopSignal)
	}
	if s.Network != "" {
		add("--network", s.Network)
	}
	if s.IP != "" {
		add("--ip", s.IP)
	}
	if s.IP6 != "" {
		add("--ip6", s.IP6)
	}
	add("--publish", s.Publish...)
	if s.CPUShares != 0 {
		add("--cpu-shares", strconv.Itoa(s.CPUShares))
	}
	if s.CPUs > 0 {
		add("--cpus", strconv.FormatFloat(s.CPUs, 'f', -1, 64))
	}
	if s.MemoryBytes > 0 {
		add("--memory", strconv.FormatInt(s.MemoryBytes, 10))
	}
	add("--volume", s.Volumes...)
	add("--mount", s.Mounts...)
	add("--volumes-from", s.VolumesFrom...)
	if s.Entrypoint != "" {
		add("--entrypoint", s.Entrypoint)
	}
	if s.Remove {
		a = append(a, "--rm")
	}
	if s.Restart != "" {
		add("--restart", s.Restart)
	}
	return append(append(a, s.Image), s.Cmd...)
}

// Containers lists the containers carrying all of labels (all containers
// with none), whatever their state, by name.
func (d CLI) Containers(ctx context.Context, labels Labels) ([]Container, error) {
	args := append([]string{"ps", "--all", "--no-trunc", "--format", "{{.ID}}\t{{.Names}}\t{{.State}}\t{{.Image}}\t{{.Labels}}"},
		labels.filterArgs()...)
	lines, err := d.lines(ctx, "listing containers", args...)
	if err != nil {
		return nil, err
	}
	var out []Container
	for _, l := range lines {
		f := strings.SplitN(l, "\t", 5)
		if len(f) < 4 {
			return nil, errorf("listing containers", "unexpected line %q", l)
		}
		c := Container{ID: f[0], Name: f[1], State: f[2], Image: f[3], Labels: Labels{}}
		if len(f) == 5 {
			c.Labels = parseLabels(f[4])
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Create creates a container without starting it.
func (d CLI) Create(ctx context.Context, s ContainerSpec) error {
	return d.run(ctx, "creating container "+s.Name, append([]string{"create"}, s.args()...)...)
}

// Run runs a container: in the background with detach, else until it exits.
func (d CLI) Run(ctx context.Context, s ContainerSpec, detach bool) error {
	args := []string{"run"}
	if detach {
		args = append(args, "--detach")
	}
	return d.run(ctx, "running container "+s.Name, append(args, s.args()...)...)
}

// Start starts a created or stopped container.
func (d CLI) Start(ctx context.Context, name string) error {
	return d.run(ctx, "starting "+name, "start", name)
}

// Stop stops a container, killing it after timeout seconds.
func (d CLI) Stop(ctx context.Context, name string, timeout int) error {
	return d.run(ctx, "stopping "+name, "stop", "--time", strconv.Itoa(timeout), name)
}

// Remove removes containers, running or not, with their anonymous volumes.
func (d CLI) Remove(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	op := "removing " + strings.Join(names, ", ")
	err := d.run(ctx, op, append([]string{"rm", "--force", "--volumes"}, names...)...)
	if !errors.Is(err, errRemovalInProgress) {
		return err
	}
	// A removal that a killed docker CLI asked for goes on in the engine:
	// wait for it to end.
	for deadline := time.Now().Add(time.Minute); ; {
		all, err := d.Containers(ctx, nil)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(all, func(ct Container) bool { return slices.Contains(names, ct.Name) }) {
			return nil
		}
		if time.Now().After(deadline) {
			return errorf(op, "the engine is still removing them after a minute")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Rename renames a container.
func (d CLI) Rename(ctx context.Context, from, to string) error {
	return d.run(ctx, "renaming "+from+" to "+to, "rename", from, to)
}

// Pause freezes containers.
func (d CLI) Pause(ctx context.Context, names ...string) error {
	return d.run(ctx, "pausing "+strings.Join(names, ", "), append([]string{"pause"}, names...)...)
}

// Unpause thaws containers.
func (d CLI) Unpause(ctx context.Context, names ...string) error {
	return d.run(ctx, "unpausing "+strings.Join(names, ", "), append([]string{"unpause"}, names...)...)
}

// State is a container's state: running, exited, ...
func (d CLI) State(ctx context.Context, name string) (string, error) {
	return d.output(ctx, "inspecting "+name, "inspect", "--type", "container", "--format", "{{.State.Status}}", name)
}

// Addresses are a container's IPv4 and IPv6 addresses on its networks.
func (d CLI) Addresses(ctx context.Context, name string) ([]string, error) {
	out, err := d.output(ctx, "inspecting "+name, "inspect", "--type", "container", "--format",
		`{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.GlobalIPv6Address}} {{end}}`, name)
	return strings.Fields(out), err
}

// Logs are the last tail lines a container wrote to its stdout and stderr.
func (d CLI) Logs(ctx context.Context, name string, tail int) (string, error) {
	return d.output(ctx, "reading the logs of "+name, "logs", "--tail", strconv.Itoa(tail), name)
}

// Exec runs cmd in a running container, with stdin and stdout streamed when
// not nil. The command's own failure is an *Error of no kind, with its exit
// status and stderr.
func (d CLI) Exec(ctx context.Context, name string, cmd []string, stdin io.Reader, stdout io.Writer) error {
	args := []string{"exec"}
	if stdin != nil {
		args = append(args, "--interactive")
	}
	op := "running " + cmd[0] + " in " + name
	c := d.cmd(append(append(args, name), cmd...), stdin, stdout)
	return classifyExec(op, c.Run(ctx))
}

// ExecOutput runs cmd in a running container and returns its output.
func (d CLI) ExecOutput(ctx context.Context, name string, cmd ...string) (string, error) {
	out, err := d.cmd(append([]string{"exec", name}, cmd...), nil, nil).Output(ctx)
	return out, classifyExec("running "+cmd[0]+" in "+name, err)
}

// CopyIn extracts the tar stream archive into dir of a container, which may
// be created and not yet started.
func (d CLI) CopyIn(ctx context.Context, name, dir string, archive io.Reader) error {
	return d.stream(ctx, "copying into "+name+":"+dir, archive, nil, "cp", "--archive", "-", name+":"+dir)
}

// CopyOut writes path of a container, running or not, as a tar stream to w.
func (d CLI) CopyOut(ctx context.Context, name, path string, w io.Writer) error {
	return d.stream(ctx, "copying "+name+":"+path, nil, w, "cp", "--archive", name+":"+path, "-")
}

// PublishedPort is the host port a container's TCP port is published on.
func (d CLI) PublishedPort(ctx context.Context, name string, port int) (int, error) {
	op := fmt.Sprintf("reading the published port %d of %s", port, name)
	lines, err := d.lines(ctx, op, "port", name, strconv.Itoa(port)+"/tcp")
	if err != nil {
		return 0, err
	}
	for _, l := range lines {
		if i := strings.LastIndex(l, ":"); i >= 0 {
			if p, err := strconv.Atoi(l[i+1:]); err == nil {
				return p, nil
			}
		}
	}
	return 0, &Error{Op: op, Kind: ErrNotFound, Err: fmt.Errorf("port %d of %s is not published", port, name)}
}

// BoundPort is the host port a container asks for its TCP port, 0 when it
// asks for a free one or none.
func (d CLI) BoundPort(ctx context.Context, name string, port int) (int, error) {
	out, err := d.output(ctx, "inspecting "+name, "inspect", "--type", "container", "--format",
		`{{range (index .HostConfig.PortBindings "`+strconv.Itoa(port)+`/tcp")}}{{.HostPort}}{{end}}`, name)
	if err != nil {
		return 0, err
	}
	p, _ := strconv.Atoi(strings.TrimSpace(out))
	return p, nil
}

// MemoryUsage is what each of the named running containers uses, in bytes.
func (d CLI) MemoryUsage(ctx context.Context, names ...string) (map[string]float64, error) {
	lines, err := d.lines(ctx, "reading memory use", append([]string{"stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"}, names...)...)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, l := range lines {
		name, usage, _ := strings.Cut(l, "\t")
		used, _, _ := strings.Cut(usage, "/")
		b, err := parseSize(strings.TrimSpace(used))
		if err != nil {
			return nil, err
		}
		out[name] = b
	}
	return out, nil
}

// parseSize reads docker's human sizes: 512KiB, 1.5GiB, 200MB.
func parseSize(s string) (float64, error) {
	units := []struct {
		suffix string
		factor float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil {
				return 0, fmt.Errorf("docker stats size %q: %w", s, err)
			}
			return v * u.factor, nil
		}
	}
	return 0, fmt.Errorf("docker stats size %q has no unit", s)
}

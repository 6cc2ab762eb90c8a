package docker

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// Volume is a named volume.
type Volume struct {
	Name   string
	Labels Labels
}

// Volumes lists the volumes carrying all of labels.
func (d CLI) Volumes(ctx context.Context, labels Labels) ([]Volume, error) {
	args := append([]string{"volume", "ls", "--format", "{{.Name}}\t{{.Labels}}"}, labels.filterArgs()...)
	lines, err := d.lines(ctx, "listing volumes", args...)
	if err != nil {
		return nil, err
	}
	var out []Volume
	for _, l := range lines {
		name, labels, _ := strings.Cut(l, "\t")
		out = append(out, Volume{Name: name, Labels: parseLabels(labels)})
	}
	return out, nil
}

// VolumeLabels are the labels of volume name; ErrNotFound when there is none.
func (d CLI) VolumeLabels(ctx context.Context, name string) (Labels, error) {
	out, err := d.output(ctx, "inspecting volume "+name, "volume", "inspect", "--format", "{{json .Labels}}", name)
	if err != nil {
		return nil, err
	}
	labels := Labels{}
	if err := json.Unmarshal([]byte(out), &labels); err != nil && out != "null" {
		return nil, errorf("inspecting volume "+name, "unexpected labels %q: %v", out, err)
	}
	return labels, nil
}

// CreateVolume creates volume name with labels; it is no error when it
// exists.
func (d CLI) CreateVolume(ctx context.Context, name string, labels Labels) error {
	args := append(append([]string{"volume", "create"}, labelArgs("--label", labels)...), name)
	return d.run(ctx, "creating volume "+name, args...)
}

// RemoveVolumes removes volumes; ErrInUse while a container uses one.
func (d CLI) RemoveVolumes(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	return d.run(ctx, "removing volumes "+strings.Join(names, ", "), append([]string{"volume", "rm", "--force"}, names...)...)
}

// Network is a network with its subnets.
type Network struct {
	Name    string
	Subnets []string
	Labels  Labels
}

// NetworkSpec is what a bridge network is created with.
type NetworkSpec struct {
	Name     string
	Subnets  []string // one per address family; an IPv6 one enables IPv6
	Gateways []string // one per subnet, in the same order; "" lets Docker choose
	Labels   Labels
}

// Networks lists the networks carrying all of labels, with their subnets.
func (d CLI) Networks(ctx context.Context, labels Labels) ([]Network, error) {
	args := append([]string{"network", "ls", "--format", "{{.Name}}"}, labels.filterArgs()...)
	names, err := d.lines(ctx, "listing networks", args...)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	var out []Network
	for _, name := range names {
		n, err := d.Network(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue // removed since it was listed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// Network inspects network name; ErrNotFound when there is none.
func (d CLI) Network(ctx context.Context, name string) (Network, error) {
	out, err := d.output(ctx, "inspecting network "+name, "network", "inspect", "--format",
		`{{json .Labels}}|{{range .IPAM.Config}}{{.Subnet}} {{end}}`, name)
	if err != nil {
		return Network{}, err
	}
	labelJSON, subnets, _ := strings.Cut(out, "|")
	labels := Labels{}
	if err := json.Unmarshal([]byte(labelJSON), &labels); err != nil && labelJSON != "null" {
		return Network{}, errorf("inspecting network "+name, "unexpected labels %q: %v", labelJSON, err)
	}
	return Network{Name: name, Subnets: strings.Fields(subnets), Labels: labels}, nil
}

// CreateNetwork creates a bridge network; ErrOverlap when a subnet overlaps
// another network's, ErrNameInUse when the name is taken.
func (d CLI) CreateNetwork(ctx context.Context, s NetworkSpec) error {
	args := []string{"network", "create", "--driver", "bridge"}
	for i, subnet := range s.Subnets {
		if strings.Contains(subnet, ":") {
			args = append(args, "--ipv6")
		}
		args = append(args, "--subnet", subnet)
		if i < len(s.Gateways) && s.Gateways[i] != "" {
			args = append(args, "--gateway", s.Gateways[i])
		}
	}
	args = append(append(args, labelArgs("--label", s.Labels)...), s.Name)
	return d.run(ctx, "creating network "+s.Name, args...)
}

// RemoveNetworks removes networks; ErrInUse while a container is attached.
func (d CLI) RemoveNetworks(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	return d.run(ctx, "removing networks "+strings.Join(names, ", "), append([]string{"network", "rm"}, names...)...)
}

// Connect attaches a container to a network, at the given addresses (one
// per family at most; none lets Docker choose); it is no error when it is
// attached already.
func (d CLI) Connect(ctx context.Context, network, container string, ips ...string) error {
	args := []string{"network", "connect"}
	for _, ip := range ips {
		if strings.Contains(ip, ":") {
			args = append(args, "--ip6", ip)
		} else {
			args = append(args, "--ip", ip)
		}
	}
	err := d.run(ctx, "connecting "+container+" to network "+network, append(args, network, container)...)
	if errors.Is(err, ErrNameInUse) {
		return nil // "endpoint with name ... already exists in network"
	}
	return err
}

// Disconnect detaches a container from a network; it is no error when it
// is not attached.
func (d CLI) Disconnect(ctx context.Context, network, container string) error {
	err := d.run(ctx, "disconnecting "+container+" from network "+network, "network", "disconnect", "--force", network, container)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

package cluster

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

// An IPv6 cluster's pods reach IPv4-only names through two containers of
// the cluster beside its nodes, as in the seed: a DNS64 server, which
// answers for IPv4-only names with addresses in DNS64_PREFIX, and a NAT64
// gateway, to which the nodes route that prefix, and which translates to
// IPv4 behind its own address. down keeps them; clean removes them.

// Step names of the IPv6 mode.
const (
	stepDNS64 = "dns64"
	stepNAT64 = "nat64"
)

// labelRole tells a cluster container that is no node what it is.
const labelRole = "dind-cluster.role"

func dns64Name(cfg *config.Config) string { return "dns64" + cfg.Suffix() }
func nat64Name(cfg *config.Config) string { return "nat64" + cfg.Suffix() }

// podResolvConf is, in IPv6 mode, the resolv.conf of pods with dnsPolicy
// Default: CoreDNS's upstream is the DNS64 server.
const podResolvConf = "/etc/dind/pod-resolv.conf"

func (r *run) nat64Values() embed.NAT64Values {
	pool := r.Cfg.NAT64Subnet
	return embed.NAT64Values{Prefix: r.Cfg.DNS64Prefix.String(), Pool: pool.String(),
		Gateway: pool.Addr().Next().String(), AllowAAAA: r.Cfg.AllowAAAA}
}

// nat64Steps run the DNS64 server and the NAT64 gateway of an IPv6 cluster
// once step after is done; none in the other modes.
func (r *run) nat64Steps(after string) []steps.Step {
	if r.Cfg.IPMode != config.IPv6 {
		return nil
	}
	return []steps.Step{
		{Name: stepDNS64, Needs: []string{after, build.StepDNS64Image}, Run: func(ctx context.Context) error {
			corefile, err := embed.Render("nat64/Corefile.tmpl", embed.Values{NAT64: r.nat64Values()})
			if err != nil {
				return err
			}
			return r.ensureHelper(ctx, docker.ContainerSpec{Name: dns64Name(r.Cfg), Image: r.builder.DNS64Image},
				"dns64", r.Cfg.DNS64IP(), []embed.File{{Path: "/etc/coredns/Corefile", Mode: 0o644, Content: corefile}})
		}},
		{Name: stepNAT64, Needs: []string{after, build.StepNAT64Image}, Run: func(ctx context.Context) error {
			v := embed.Values{NAT64: r.nat64Values()}
			conf, err := embed.Render("nat64/tayga.conf.tmpl", v)
			if err != nil {
				return err
			}
			start, err := embed.Render("nat64/start.tmpl", v)
			if err != nil {
				return err
			}
			spec := docker.ContainerSpec{Name: nat64Name(r.Cfg), Image: r.builder.NAT64Image,
				CapAdd: []string{"NET_ADMIN"}, Devices: []string{"/dev/net/tun"},
				Sysctls: []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.all.disable_ipv6=0"}}
			return r.ensureHelper(ctx, spec, "nat64", r.Cfg.NAT64IP(), []embed.File{
				{Path: "/etc/nat64/tayga.conf", Mode: 0o644, Content: conf},
				{Path: "/etc/nat64/start", Mode: 0o755, Content: start},
			})
		}},
	}
}

// ensureHelper starts the cluster's helper container spec, making it, with
// files, at address ip of the cluster's network if it is not there.
func (r *run) ensureHelper(ctx context.Context, spec docker.ContainerSpec, role string, ip netip.Addr, files []embed.File) error {
	for _, ct := range r.state.Strays {
		if ct.Name != spec.Name {
			continue
		}
		if ct.State == "running" {
			return nil
		}
		return r.Docker.Start(ctx, spec.Name)
	}
	spec.Labels = r.objectLabels(docker.Labels{labelRole: role})
	spec.Network, spec.IP6, spec.Restart = r.Cfg.NetworkName(), ip.String(), "unless-stopped"
	if err := r.Docker.Create(ctx, spec); err != nil {
		return fmt.Errorf("creating the %s of cluster %s: %w", role, r.Cfg.ClusterName(), err)
	}
	if err := copyFiles(ctx, r.Docker, spec.Name, files); err != nil {
		return err
	}
	return r.Docker.Start(ctx, spec.Name)
}

// nat64NodeFiles are what makes a node of an IPv6 cluster use them: the
// pods' resolv.conf, and a route to the DNS64 prefix (see routes).
func (r *run) nat64NodeFiles() []embed.File {
	if r.Cfg.IPMode != config.IPv6 {
		return nil
	}
	return []embed.File{{Path: podResolvConf, Mode: 0o644, Content: []byte("nameserver " + r.Cfg.DNS64IP().String() + "\n")}}
}

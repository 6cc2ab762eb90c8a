package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// byFamily holds one network per address family.
type byFamily struct{ v4, v6 netip.Prefix }

func (f byFamily) get(is6 bool) netip.Prefix {
	if is6 {
		return f.v6
	}
	return f.v4
}

var (
	defaultMgmt    = byFamily{netip.MustParsePrefix("10.192.0.0/24"), netip.MustParsePrefix("fd00:20::/64")}
	defaultService = byFamily{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("fd00:30::/110")}
	defaultPod     = byFamily{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:40::/72")}
	calicoPod      = netip.MustParsePrefix("192.168.0.0/16")
)

const (
	defaultDNS64 = "fd00:10:64:ff9b::"
	defaultNAT64 = "172.18"

	// The service network must hold the DNS service, its 10th address, and
	// be no larger than kubeadm's MaximumBitsForServiceSubnet, which the API
	// server enforces too.
	minServiceHostBits = 4
	maxServiceHostBits = 20
)

// families lists the address families a mode uses, as is-IPv6 flags; the
// first is the one node addresses come from.
func families(mode string) []bool {
	switch mode {
	case IPv6:
		return []bool{true}
	case DualStack:
		return []bool{false, true}
	}
	return []bool{false}
}

func familyName(is6 bool) string {
	if is6 {
		return "IPv6"
	}
	return "IPv4"
}

func (l *loader) networks(c *Config) {
	var mgmtName string
	c.mgmt, mgmtName = l.mgmtNetworks(c)
	c.service = l.serviceNetworks(c)
	c.pod = l.podNetworks(c)
	l.nat64(c)

	type named struct {
		what, name string
		net        netip.Prefix
	}
	var nets []named
	for _, p := range c.mgmt {
		nets = append(nets, named{"management", mgmtName, p})
	}
	for _, p := range c.service {
		nets = append(nets, named{"service", "SERVICE_CIDR", p})
	}
	for _, p := range c.pod {
		nets = append(nets, named{"pod", "POD_NETWORK_CIDR", p})
	}
	for j, b := range nets {
		for _, a := range nets[:j] {
			if a.net.IsValid() && b.net.IsValid() && a.net.Overlaps(b.net) {
				l.fail(b.name, b.net.String(), "overlaps the %s network %s (%s); the management, service and pod networks must not overlap",
					a.what, a.net, a.name)
			}
		}
	}
}

// mgmtNetworks returns the management networks with the network ID injected
// and the name of the variable they came from, or nil after an error.
func (l *loader) mgmtNetworks(c *Config) ([]netip.Prefix, string) {
	name, value := "MGMT_CIDRS", l.get("MGMT_CIDRS")
	if value == "" {
		subnet, size := l.get("DIND_SUBNET"), l.get("DIND_SUBNET_SIZE")
		switch {
		case subnet != "" && size != "":
			name, value = "DIND_SUBNET/DIND_SUBNET_SIZE", subnet+"/"+size
		case subnet != "":
			l.fail("DIND_SUBNET", subnet, "is only used together with DIND_SUBNET_SIZE; set MGMT_CIDRS instead, e.g. MGMT_CIDRS=%s",
				defaultMgmt.get(strings.Contains(subnet, ":")))
			return nil, name
		case size != "":
			l.fail("DIND_SUBNET_SIZE", size, "is only used together with DIND_SUBNET; set MGMT_CIDRS instead, e.g. MGMT_CIDRS=%s",
				defaultMgmt.v4)
			return nil, name
		}
	}
	before := len(l.errs)

	var given byFamily
	for _, s := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, ok := l.prefix(name, s, defaultMgmt)
		if !ok {
			continue
		}
		slot := &given.v4
		if p.Addr().Is6() {
			slot = &given.v6
		}
		if slot.IsValid() {
			l.fail(name, value, "at most one IPv4 and one IPv6 CIDR, separated by a comma, e.g. %s,%s", defaultMgmt.v4, defaultMgmt.v6)
		}
		*slot = p
	}
	var nets []netip.Prefix
	modeFamilies := families(c.IPMode)
	for _, is6 := range modeFamilies {
		p := given.get(is6)
		if !p.IsValid() {
			if len(modeFamilies) == 1 && given.get(!is6).IsValid() {
				l.fail(name, value, "IP_MODE=%s needs an %s management network, e.g. %s", c.IPMode, familyName(is6), defaultMgmt.get(is6))
				continue
			}
			p = defaultMgmt.get(is6)
		}
		withID, err := withNetworkID(p, c.networkID)
		if err != nil {
			l.fail(name, p.String(), "%v", err)
			continue
		}
		nets = append(nets, withID)
	}
	if len(l.errs) > before {
		return nil, name
	}
	return nets, name
}

// withNetworkID puts the network ID into a management network: into the third
// octet of an IPv4 /24, or into the hextet just before the "::" of an IPv6
// network, with the ID's decimal digits read as hex digits (ID 10 -> :10:),
// as the seed does.
func withNetworkID(p netip.Prefix, id int) (netip.Prefix, error) {
	b := p.Addr().AsSlice()
	if p.Addr().Is4() {
		if p.Bits() != 24 {
			return netip.Prefix{}, fmt.Errorf("an IPv4 management network must be a /24, e.g. %s", defaultMgmt.v4)
		}
		if b[2] != 0 {
			return netip.Prefix{}, fmt.Errorf("the third octet is reserved for the cluster ID and must be 0, e.g. %d.%d.0.0/24", b[0], b[1])
		}
		b[2] = byte(id)
	} else {
		if p.Bits() > 112 {
			return netip.Prefix{}, fmt.Errorf("an IPv6 management network must leave at least 16 bits for hosts, e.g. %s", defaultMgmt.v6)
		}
		slot := 0 // the hextet after the last non-zero one
		for i := 7; i >= 0; i-- {
			if b[2*i] != 0 || b[2*i+1] != 0 {
				slot = i + 1
				break
			}
		}
		if (slot+1)*16 > p.Bits() {
			return netip.Prefix{}, fmt.Errorf("no room for the cluster ID, which goes into the hextet just before \"::\": "+
				"that hextet must be zero and lie within the /%d network part, e.g. %s", p.Bits(), defaultMgmt.v6)
		}
		hex, _ := strconv.ParseUint(strconv.Itoa(id), 16, 16)
		b[2*slot], b[2*slot+1] = byte(hex>>8), byte(hex)
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, p.Bits()), nil
}

// familyNetworks reads a variable holding a network per address family of
// the IP mode (in dual-stack a comma-separated pair; a family not given takes
// its default), each checked by valid; nil after an error.
func (l *loader) familyNetworks(c *Config, name string, defaults byFamily, valid func(value string, p netip.Prefix) bool) []netip.Prefix {
	value := l.get(name)
	var given byFamily
	for _, s := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, ok := l.prefix(name, s, defaults)
		if !ok {
			return nil
		}
		slot := &given.v4
		if p.Addr().Is6() {
			slot = &given.v6
		}
		if slot.IsValid() {
			l.fail(name, value, "at most one IPv4 and one IPv6 CIDR, separated by a comma, e.g. %s,%s", defaults.v4, defaults.v6)
			return nil
		}
		*slot = p
	}
	modeFamilies := families(c.IPMode)
	for _, is6 := range []bool{false, true} {
		if p := given.get(is6); p.IsValid() && !slices.Contains(modeFamilies, is6) {
			other := defaults.get(!is6)
			l.fail(name, value, "IP_MODE=%s needs an %s network, e.g. %s", c.IPMode, familyName(!is6), other)
			return nil
		}
	}
	var out []netip.Prefix
	for _, is6 := range modeFamilies {
		p := given.get(is6)
		if !p.IsValid() {
			p = defaults.get(is6)
		} else if !valid(value, p) {
			return nil
		}
		out = append(out, p)
	}
	return out
}

func (l *loader) serviceNetworks(c *Config) []netip.Prefix {
	return l.familyNetworks(c, "SERVICE_CIDR", defaultService, func(v string, p netip.Prefix) bool {
		bitLen, hostBits, example := p.Addr().BitLen(), p.Addr().BitLen()-p.Bits(), defaultService.get(p.Addr().Is6())
		switch {
		case hostBits < minServiceHostBits:
			l.fail("SERVICE_CIDR", v, "too small to hold the DNS service address (the 10th); use at most a /%d, e.g. %s",
				bitLen-minServiceHostBits, example)
		case hostBits > maxServiceHostBits:
			l.fail("SERVICE_CIDR", v, "too large for kubeadm and the API server, which take at most %d host bits; "+
				"use at least a /%d, e.g. %s", maxServiceHostBits, bitLen-maxServiceHostBits, example)
		default:
			return true
		}
		return false
	})
}

func (l *loader) podNetworks(c *Config) []netip.Prefix {
	defaults := defaultPod
	if c.CNIPlugin == "calico" {
		defaults.v4 = calicoPod
	}
	return l.familyNetworks(c, "POD_NETWORK_CIDR", defaults, func(v string, p netip.Prefix) bool {
		switch {
		case p.Addr().Is4() && p.Bits() != 16:
			l.fail("POD_NETWORK_CIDR", v, "an IPv4 pod network must be a /16, split into a /24 per node, e.g. %s", defaultPod.v4)
		case p.Addr().Is6() && (p.Bits()%8 != 0 || p.Bits() > 120):
			l.fail("POD_NETWORK_CIDR", v, "an IPv6 pod network's prefix length must be a multiple of 8 and at most 120, "+
				"as each node gets a subnet 8 bits longer, e.g. %s", defaultPod.v6)
		default:
			return true
		}
		return false
	})
}

func (l *loader) prefix(name, value string, examples byFamily) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(value)
	switch {
	case err != nil:
		l.fail(name, value, "not a CIDR; use ADDRESS/LENGTH, e.g. %s or %s", examples.v4, examples.v6)
	case p.Addr().Is4In6():
		l.fail(name, value, "write an IPv4 network in dotted form, e.g. %s", examples.v4)
	case p != p.Masked():
		l.fail(name, value, "has address bits set after the /%d prefix; use %s", p.Bits(), p.Masked())
	default:
		return p, true
	}
	return netip.Prefix{}, false
}

// nat64 checks DNS64_PREFIX and NAT64_V4_SUBNET_PREFIX, and in IPv6 mode,
// the only one that uses them, sets them with the network ID added.
func (l *loader) nat64(c *Config) {
	dns64 := l.get("DNS64_PREFIX")
	if dns64 == "" {
		dns64 = defaultDNS64
	}
	a, err := netip.ParseAddr(dns64)
	if b := a.As16(); err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" || slices.ContainsFunc(b[12:], func(x byte) bool { return x != 0 }) {
		l.fail("DNS64_PREFIX", dns64, "must be an IPv6 address whose last 32 bits are zero, used as a /96 prefix, e.g. %s", defaultDNS64)
	} else if c.IPMode == IPv6 {
		c.DNS64Prefix = netip.PrefixFrom(a, 96)
	}

	nat64 := l.get("NAT64_V4_SUBNET_PREFIX")
	if nat64 == "" {
		nat64 = defaultNAT64
	}
	first, second, ok := twoOctets(nat64)
	switch {
	case !ok:
		l.fail("NAT64_V4_SUBNET_PREFIX", nat64, "must be the first two octets of an IPv4 /16, e.g. %s", defaultNAT64)
		return
	case first != 10 && (first != 172 || second < 16 || second > 31):
		l.fail("NAT64_V4_SUBNET_PREFIX", nat64, "must lie in the private network 10.0.0.0/8 or 172.16.0.0/12, e.g. %s or 10.100", defaultNAT64)
		return
	case c.IPMode != IPv6:
		return
	}
	id := fmt.Sprintf("cluster ID %d", c.networkID)
	if !c.NetworkIDFixed() {
		id = fmt.Sprintf("network ID %d of the DIND_LABEL=%s cluster", c.networkID, c.Label)
	}
	second += c.networkID
	switch {
	case first == 172 && second > 31:
		fix := fmt.Sprintf("use a prefix in 10.0.0.0/8 up to 10.%d", 255-c.networkID)
		if highest := 31 - c.networkID; highest >= 16 {
			fix = fmt.Sprintf("use at most 172.%d, or %s", highest, strings.TrimPrefix(fix, "use "))
		}
		l.fail("NAT64_V4_SUBNET_PREFIX", nat64, "with the %s added to its second octet it becomes 172.%d, outside 172.16.0.0/12; %s",
			id, second, fix)
	case first == 10 && second > 255:
		l.fail("NAT64_V4_SUBNET_PREFIX", nat64, "with the %s added to its second octet it becomes 10.%d, which is not an octet; "+
			"use at most 10.%d", id, second, 255-c.networkID)
	default:
		c.NAT64Subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(first), byte(second)}), 16)
	}
}

func twoOctets(s string) (first, second int, ok bool) {
	a, b, found := strings.Cut(s, ".")
	if !found || !digits.MatchString(a) || !digits.MatchString(b) {
		return 0, 0, false
	}
	first, errA := strconv.Atoi(a)
	second, errB := strconv.Atoi(b)
	return first, second, errA == nil && errB == nil && first <= 255 && second <= 255
}

// MgmtCIDR is the management network node addresses come from (the IPv4 one
// in dual-stack mode), with the network ID injected.
func (c *Config) MgmtCIDR() netip.Prefix {
	if len(c.mgmt) == 0 {
		return netip.Prefix{}
	}
	return c.mgmt[0]
}

// MgmtCIDRs are all management networks: one per address family in use.
func (c *Config) MgmtCIDRs() []netip.Prefix { return slices.Clone(c.mgmt) }

// ServiceCIDR is the Kubernetes service network (the IPv4 one in
// dual-stack mode).
func (c *Config) ServiceCIDR() netip.Prefix { return first(c.service) }

// ServiceCIDRs are the service networks: one per address family in use.
func (c *Config) ServiceCIDRs() []netip.Prefix { return slices.Clone(c.service) }

// PodCIDR is the cluster's pod network (the IPv4 one in dual-stack mode),
// split into PodSubnet per node.
func (c *Config) PodCIDR() netip.Prefix { return first(c.pod) }

// PodCIDRs are the pod networks: one per address family in use.
func (c *Config) PodCIDRs() []netip.Prefix { return slices.Clone(c.pod) }

// Gateway is the management network's gateway, its first address.
func (c *Config) Gateway() netip.Addr { return addrPlus(c.MgmtCIDR().Addr(), 1) }

// Gateways are the gateways of every management network.
func (c *Config) Gateways() []netip.Addr {
	return eachOf(c.mgmt, func(p netip.Prefix) netip.Addr { return addrPlus(p.Addr(), 1) })
}

// NodeIP is the management address of node i: 0 is the master (.2), i >= 1
// the workers (.2+i).
func (c *Config) NodeIP(i int) netip.Addr { return addrPlus(c.MgmtCIDR().Addr(), 2+i) }

// NodeIPs are node i's addresses, one per management network.
func (c *Config) NodeIPs(i int) []netip.Addr {
	return eachOf(c.mgmt, func(p netip.Prefix) netip.Addr { return addrPlus(p.Addr(), 2+i) })
}

// DNSServiceIP is the cluster DNS service address, the 10th of the service
// network.
func (c *Config) DNSServiceIP() netip.Addr { return addrPlus(c.ServiceCIDR().Addr(), 10) }

// PodSubnet is the pod network of node i (0 is the master): 8 bits longer
// than PodCIDR, with 2+i in those 8 bits (10.244.0.0/16 -> 10.244.2.0/24 for
// the master; fd00:40::/72 -> fd00:40:0:0:2::/80).
func (c *Config) PodSubnet(i int) netip.Prefix { return podSubnet(c.PodCIDR(), i) }

// PodSubnets are node i's pod subnets, one per pod network.
func (c *Config) PodSubnets(i int) []netip.Prefix {
	return eachOf(c.pod, func(p netip.Prefix) netip.Prefix { return podSubnet(p, i) })
}

func podSubnet(pod netip.Prefix, i int) netip.Prefix {
	if !pod.IsValid() {
		return netip.Prefix{}
	}
	b := pod.Addr().AsSlice()
	b[pod.Bits()/8] = byte(2 + i)
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, pod.Bits()+8)
}

func first(p []netip.Prefix) netip.Prefix {
	if len(p) == 0 {
		return netip.Prefix{}
	}
	return p[0]
}

func eachOf[T any](nets []netip.Prefix, f func(netip.Prefix) T) []T {
	var out []T
	for _, p := range nets {
		out = append(out, f(p))
	}
	return out
}

// MaxNodeIndex is the highest node index (0 is the master, i kube-node-i)
// that has a management address (NodeIP) and a pod subnet (PodSubnet).
func (c *Config) MaxNodeIndex() int {
	last := 255 - 2 // PodSubnet puts 2+i in 8 bits
	for _, p := range c.mgmt {
		last = min(last, lastHost(p)-reservedHosts-2) // NodeIP is host 2+i
	}
	return last
}

// The last hosts of each management network are the registry's, the DNS64
// server's and the NAT64 gateway's, so that no node ever takes them.
const (
	registryHost = iota
	dns64Host
	nat64Host
	reservedHosts
)

func (c *Config) reserved(host int) []netip.Addr {
	return eachOf(c.mgmt, func(p netip.Prefix) netip.Addr { return addrPlus(p.Addr(), lastHost(p)-host) })
}

// DNS64IP is the address of the cluster's DNS64 server (IPv6 mode).
func (c *Config) DNS64IP() netip.Addr { return c.reserved(dns64Host)[0] }

// NAT64IP is the address of the cluster's NAT64 gateway (IPv6 mode).
func (c *Config) NAT64IP() netip.Addr { return c.reserved(nat64Host)[0] }

// NetworkSubnets are the subnets of the cluster's Docker network: the
// management networks, and in IPv6 mode also the IPv4 one Docker would
// otherwise pick from its pools, which may be the NAT64 subnet.
func (c *Config) NetworkSubnets() []netip.Prefix {
	if c.IPMode != IPv6 {
		return slices.Clone(c.mgmt)
	}
	v4, _ := withNetworkID(defaultMgmt.v4, c.networkID)
	return append(slices.Clone(c.mgmt), v4)
}

// RegistryIP is the local registry's address on the management network:
// its last host address, which no node takes. Fixed, so that the registry
// never takes the address of a node being made.
func (c *Config) RegistryIP() netip.Addr { return c.RegistryIPs()[0] }

// RegistryIPs are the local registry's addresses, one per management
// network.
func (c *Config) RegistryIPs() []netip.Addr { return c.reserved(registryHost) }

// lastHost is the offset of p's last host address: IPv4 keeps its last
// address for broadcast. It is capped, as nodes are far fewer.
func lastHost(p netip.Prefix) int {
	hostBits := min(p.Addr().BitLen()-p.Bits(), 16)
	last := 1<<hostBits - 1
	if p.Addr().Is4() {
		last--
	}
	return last
}

func addrPlus(a netip.Addr, n int) netip.Addr {
	if !a.IsValid() {
		return a
	}
	b := a.AsSlice()
	carry := uint(n)
	for i := len(b) - 1; i >= 0 && carry > 0; i-- {
		sum := uint(b[i]) + carry
		b[i], carry = byte(sum), sum>>8
	}
	out, _ := netip.AddrFromSlice(b)
	return out
}

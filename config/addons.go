package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Addons are what a new cluster gets besides Kubernetes itself, and what its
// nodes are given of the Docker host.
type Addons struct {
	Storage bool // DIND_STORAGE: local-path-provisioner and the default StorageClass
	Metrics bool // DIND_METRICS: metrics-server, for kubectl top and autoscaling

	// ExtraPorts (EXTRA_PORTS) are published from the master on the Docker
	// host, in `docker run --publish` form.
	ExtraPorts []PortMapping

	Master, Worker NodeSize // DIND_MASTER_CPUS/MEMORY, DIND_NODE_CPUS/MEMORY
}

// PortMapping publishes a port of a node on the Docker host.
type PortMapping struct {
	HostIP   string // "" for every address of the host
	HostPort int
	NodePort int
	Protocol string // tcp or udp
}

// Publish is the mapping as `docker run --publish` takes it.
func (p PortMapping) Publish() string {
	s := fmt.Sprintf("%d:%d/%s", p.HostPort, p.NodePort, p.Protocol)
	if p.HostIP != "" {
		host := p.HostIP
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		s = host + ":" + s
	}
	return s
}

// NodeSize limits a node container; zero values leave it unlimited.
type NodeSize struct {
	CPUs        float64 // docker --cpus
	MemoryBytes int64   // docker --memory
}

// Size is node index's size: the master's for 0, the workers' otherwise.
func (a Addons) Size(index int) NodeSize {
	if index == 0 {
		return a.Master
	}
	return a.Worker
}

func (l *loader) addons(c *Config) {
	c.Addons.Storage = l.onOff("DIND_STORAGE")
	c.Addons.Metrics = l.onOff("DIND_METRICS")
	l.sizesAndPorts(c)
}

// sizesAndPorts reads the knobs of a cluster's containers, which it keeps
// from its making (shapeKnobs): restore makes them again alike.
func (l *loader) sizesAndPorts(c *Config) {
	c.Addons.ExtraPorts = l.extraPorts(c.APIServerPort)
	c.Addons.Master = NodeSize{CPUs: l.cpus("DIND_MASTER_CPUS"), MemoryBytes: l.memory("DIND_MASTER_MEMORY")}
	c.Addons.Worker = NodeSize{CPUs: l.cpus("DIND_NODE_CPUS"), MemoryBytes: l.memory("DIND_NODE_MEMORY")}
}

var portMapping = regexp.MustCompile(`^(?:(\[[0-9a-fA-F:.]+\]|[0-9.]+):)?([0-9]+):([0-9]+)(?:/(tcp|udp))?$`)

const extraPortsForm = "a comma-separated list of HOST_PORT:NODE_PORT[/tcp|/udp], each optionally prefixed by HOST_IP:, e.g. 8080:30080,127.0.0.1:8443:30443"

func (l *loader) extraPorts(apiServerPort int) []PortMapping {
	const name = "EXTRA_PORTS"
	v := l.get(name)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	var out []PortMapping
	taken := map[string]bool{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		m := portMapping.FindStringSubmatch(item)
		if m == nil {
			l.fail(name, v, "%q is not a port mapping: use %s", item, extraPortsForm)
			return nil
		}
		host, _ := strconv.Atoi(m[2])
		node, _ := strconv.Atoi(m[3])
		if host < 1 || host > 65535 || node < 1 || node > 65535 {
			l.fail(name, v, "%q: ports are numbers from 1 to 65535; use %s", item, extraPortsForm)
			return nil
		}
		p := PortMapping{HostIP: strings.Trim(m[1], "[]"), HostPort: host, NodePort: node, Protocol: m[4]}
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		key := fmt.Sprintf("%d/%s", host, p.Protocol)
		if taken[key] {
			l.fail(name, v, "host port %s is given twice; publish each host port once", key)
			return nil
		}
		taken[key] = true
		if p.Protocol == "tcp" && host == apiServerPort {
			l.fail(name, v, "host port %d is APISERVER_PORT's; choose another", host)
			return nil
		}
		out = append(out, p)
	}
	return out
}

var decimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

func (l *loader) cpus(name string) float64 {
	v := l.get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseFloat(v, 64)
	if !decimal.MatchString(v) || err != nil || n < 0.1 || n > 1024 {
		l.fail(name, v, "must be a number of CPUs of at least 0.1, e.g. 1 or 1.5, or empty for no limit")
		return 0
	}
	return n
}

var memorySize = regexp.MustCompile(`^([0-9]+)([kKmMgG]?)[iI]?[bB]?$`)

// minNodeMemory is what a node needs to boot systemd, containerd and kubelet
// and run a pod or two.
const minNodeMemory = 512 << 20

func (l *loader) memory(name string) int64 {
	v := l.get(name)
	if v == "" {
		return 0
	}
	m := memorySize.FindStringSubmatch(v)
	var n int64
	if m != nil {
		n, _ = strconv.ParseInt(m[1], 10, 64)
		shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30}[strings.ToLower(m[2])]
		if n > math.MaxInt64>>shift {
			m = nil
		}
		n <<= shift
	}
	if m == nil || n < minNodeMemory {
		l.fail(name, v, "must be a memory size of at least 512m, in bytes or with a k, m or g suffix, e.g. 2g or 1536m, "+
			"or empty for no limit")
		return 0
	}
	return n
}

package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dind-cluster/dind-cluster/fixed"
)

// Knob is a setting dind-cluster reads from the environment or the config
// file.
type Knob struct {
	Name    string
	Default string // as README.md shows it; "" for none
	Meaning string
}

// Knobs are all the settings, in the order of README.md's table. Load reads
// no other variable but HOME.
var Knobs = []Knob{
	{"DIND_K8S_VERSION", fixed.Default.Kubernetes, "Kubernetes release of a pinned version set"},
	{"NUM_NODES", "2", "worker nodes besides the master"},
	{"CLUSTER_ID", "0", "1..254 for another cluster side by side, injected into its names and networks"},
	{"DIND_LABEL", "", "another cluster side by side, named after the label"},
	{"MGMT_CIDRS", defaultMgmt.v4.String(), "node network; the cluster ID goes in its third octet"},
	{"SERVICE_CIDR", defaultService.v4.String(), "service network"},
	{"POD_NETWORK_CIDR", defaultPod.v4.String(), "pod network, split into a subnet per node"},
	{"CNI_PLUGIN", "bridge", "CNI plugin"},
	{"IP_MODE", IPv4, "ipv4, ipv6 or dual-stack"},
	{"APISERVER_PORT", "free port", "API server port on the Docker host's 127.0.0.1"},
	{"DIND_PORT_FORWARDER", "", "executable run with the API server port once the context is written"},
	{"RUN_ON_BTRFS_ANYWAY", "", "non-empty: accept a Docker engine storing on btrfs"},
	{"DIND_CACHE_DIR", "~/.kubeadm-dind-cluster", "built artifacts, locks and kubectl"},
	{"KUBECONFIG", "~/.kube/config", "kubeconfig files, ':'-separated; the context goes into the first"},
	{"DIND_APT_MIRROR", "host's apt sources", "Debian mirror for the node root file system"},
	{"DIND_KUBEADM_ARGS", "", "extra arguments of kubeadm init and join"},
	{"DIND_DEBUG", "", "non-empty: show every command line run"},
	{"DIND_CONFIG", "~/.kubeadm-dind-cluster/config.sh", "the config file, read if it exists; environment only"},
	{"DNS64_PREFIX", defaultDNS64, "IPv6 mode: /96 prefix DNS64 synthesizes addresses in"},
	{"NAT64_V4_SUBNET_PREFIX", defaultNAT64, "IPv6 mode: first two octets of the IPv4 /16 NAT64 maps to"},
	{"DIND_ALLOW_AAAA_USE", "", "IPv6 mode, non-empty: DNS64 answers with a name's own IPv6 addresses where it has some"},
	{"DIND_SUBNET", "", "legacy management network address, with DIND_SUBNET_SIZE"},
	{"DIND_SUBNET_SIZE", "", "legacy management network prefix length, with DIND_SUBNET"},
	{"DIND_REGISTRY", "on", "run the local registry, shared by the engine's clusters, and point the nodes at it"},
	{"DIND_REGISTRY_PORT", "5001", "the local registry's port on the Docker host's 127.0.0.1"},
	{"DIND_REGISTRY_MIRROR", "off", "on: nodes ask the local registry first for registry.k8s.io and docker.io images"},
	{"E2E_SKIP", "", "e2e: regular expression of spec names to skip, besides [Serial] for e2e"},
	{"E2E_PARALLEL", "6", "e2e: ginkgo processes running specs in parallel (e2e-serial runs one)"},
	{"E2E_TIMEOUT", "4h", "e2e: the suite's timeout, a Go duration"},
	{"E2E_REPORT_DIR", "$DIND_CACHE_DIR/e2e-results", "e2e: a folder per run gets the JUnit XML and ginkgo's report"},
	{"DIND_STORAGE", "on", "a default StorageClass provisioning node-local volumes (local-path-provisioner)"},
	{"DIND_METRICS", "on", "metrics-server, for kubectl top and HorizontalPodAutoscalers"},
	{"EXTRA_PORTS", "", "master's ports published on the Docker host: HOST_PORT:NODE_PORT[/udp],..., e.g. 8080:30080"},
	{"DIND_MASTER_CPUS", "", "CPU limit of the master container, e.g. 1.5; the kubelet's allocatable follows"},
	{"DIND_MASTER_MEMORY", "", "memory limit of the master container, e.g. 2g; the kubelet's allocatable follows"},
	{"DIND_NODE_CPUS", "", "CPU limit of each worker container"},
	{"DIND_NODE_MEMORY", "", "memory limit of each worker container"},
	{"KUBE_RSYNC_PORT", "", "the seed's rsync port, validated and kept"},
	{"KUBEADM_DIND_LOCAL", "", "the seed's local build switch, kept"},
	{"BUILD_KUBEADM", "", "build kubeadm from a Kubernetes checkout: not implemented yet"},
	{"BUILD_HYPERKUBE", "", "build the server binaries from a checkout: not implemented yet"},
}

// knobDefault is a knob's Default; a name missing from Knobs is a mistake of
// this package.
func knobDefault(name string) string {
	i := slices.IndexFunc(Knobs, func(k Knob) bool { return k.Name == name })
	if i < 0 {
		panic("config: " + name + " is not in Knobs")
	}
	return Knobs[i].Default
}

// fileWarnings tells about the file's keys that are no knob but look like
// one: those a knob is close to (a typo), and those named like the seed's
// settings (DIND_..., KUBE...), which dind-cluster does not have. Other keys
// are left alone: the file is a shell script and may set what it likes.
func fileWarnings(file string, vars map[string]fileSetting) []string {
	var warnings []string
	for _, key := range sortedByLine(vars) {
		line := vars[key].line
		switch closest, near := closestKnob(key); {
		case key == "DIND_CONFIG":
			warnings = append(warnings, fmt.Sprintf("%s:%d: DIND_CONFIG is only read from the environment; setting it in the config file has no effect", file, line))
		case key == closest:
		case near:
			warnings = append(warnings, fmt.Sprintf("%s:%d: %s is not a dind-cluster setting; did you mean %s?", file, line, key, closest))
		case looksLikeKnob(key):
			warnings = append(warnings, fmt.Sprintf("%s:%d: %s is not a dind-cluster setting and is ignored", file, line, key))
		}
	}
	return warnings
}

func sortedByLine(vars map[string]fileSetting) []string {
	return slices.SortedFunc(maps.Keys(vars), func(a, b string) int { return vars[a].line - vars[b].line })
}

func looksLikeKnob(key string) bool {
	upper := strings.ToUpper(key)
	return strings.HasPrefix(upper, "DIND_") || strings.HasPrefix(upper, "KUBE")
}

// closestKnob is the knob nearest to key, compared without case, and
// whether it is near enough to be what was meant.
func closestKnob(key string) (name string, near bool) {
	upper := strings.ToUpper(key)
	best := -1
	for _, k := range Knobs {
		if d := editDistance(upper, k.Name); best < 0 || d < best {
			name, best = k.Name, d
		}
	}
	return name, best <= max(2, len(name)/5)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

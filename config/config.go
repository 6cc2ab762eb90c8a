// Package config reads and validates the configuration every dind-cluster
// command works from: the environment variables of kubeadm-dind-cluster,
// backed by an optional config.sh-style file, and the names and addresses of
// the cluster they describe.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dind-cluster/dind-cluster/fixed"
)

// IP_MODE values.
const (
	IPv4      = "ipv4"
	IPv6      = "ipv6"
	DualStack = "dual-stack"
)

var (
	ipModes    = []string{IPv4, IPv6, DualStack}
	cniPlugins = []string{"bridge", "ptp", "flannel", "calico", "weave", "kube-router"}

	// The modes and plugins dind-cluster can bring up today. Implementing one
	// means adding it here.
	implementedIPModes    = []string{IPv4, IPv6, DualStack}
	implementedCNIPlugins = []string{"bridge", "ptp", "flannel", "kube-router"}

	// Why the other plugins cannot be offered: nothing can be fetched but Go
	// modules and Debian packages.
	refusedCNIPlugins = map[string]string{
		"calico": "Calico cannot be built here: the Go module proxy serves none of its releases " +
			"(its v3 tags have no /v3 module path), and calico-node also needs BIRD and eBPF programs " +
			"that its own build toolchain makes",
		"weave": "Weave Net cannot be built here: the Go module proxy does not serve github.com/weaveworks/weave, " +
			"which Weaveworks archived when it closed",
	}
)

// Config is a validated configuration.
type Config struct {
	File     string   // the config file that was read, "" if none
	Warnings []string // about the file's keys that are no setting; see fileWarnings

	Versions      fixed.Set // DIND_K8S_VERSION resolved
	VersionGiven  bool      // DIND_K8S_VERSION was set, rather than defaulted
	NumNodes      int       // workers, besides the master
	NumNodesGiven bool      // NUM_NODES was set, rather than defaulted
	ClusterID     int       // CLUSTER_ID as given; 0 for the default cluster
	Label         string    // DIND_LABEL
	IPMode        string    // IPv4, IPv6 or DualStack
	CNIPlugin     string

	// Set in IPv6 mode only: the /96 DNS64 synthesizes addresses in, and the
	// IPv4 /16 NAT64 maps to, with the cluster's network ID already added.
	DNS64Prefix netip.Prefix
	NAT64Subnet netip.Prefix
	// AllowAAAA (DIND_ALLOW_AAAA_USE): DNS64 answers with a name's own IPv6
	// addresses where it has some, rather than synthesizing every answer.
	AllowAAAA bool

	APIServerPort    int    // 0: pick a free port at up time
	RsyncPort        int    // KUBE_RSYNC_PORT, 0 if unset
	PortForwarder    string // DIND_PORT_FORWARDER, an absolute executable path or ""
	RunOnBtrfsAnyway bool
	BuildKubeadm     bool
	BuildHyperkube   bool
	LocalBuild       bool // KUBEADM_DIND_LOCAL

	CacheDir    string   // DIND_CACHE_DIR, absolute; kubectl is placed here
	Kubeconfigs []string // KUBECONFIG's files, absolute, in order, without repeats; never empty
	AptMirror   string   // DIND_APT_MIRROR; "" for the host's apt sources
	KubeadmArgs []string // DIND_KUBEADM_ARGS split into words
	Debug       bool     // DIND_DEBUG

	Registry       bool // DIND_REGISTRY: run the local registry and point the nodes at it
	RegistryPort   int  // DIND_REGISTRY_PORT: where it listens on the Docker host's 127.0.0.1
	RegistryMirror bool // DIND_REGISTRY_MIRROR: nodes ask it first for registry.k8s.io and docker.io images

	E2ESkip      string        // E2E_SKIP, a regular expression, "" for none
	E2EParallel  int           // E2E_PARALLEL
	E2ETimeout   time.Duration // E2E_TIMEOUT
	E2EReportDir string        // E2E_REPORT_DIR, absolute

	Addons Addons // DIND_STORAGE, DIND_METRICS, EXTRA_PORTS and the node sizes

	settings  map[string]string // the values Load read, for WithNetworkID
	networkID int
	mgmt      []netip.Prefix // cluster ID injected; IPv4 first in dual-stack
	service   []netip.Prefix // IPv4 first in dual-stack
	pod       []netip.Prefix // IPv4 first in dual-stack
}

// FromEnvironment loads the configuration from the process environment and
// the config file: $DIND_CONFIG, which must exist when set, or else
// ~/.kubeadm-dind-cluster/config.sh if it exists.
func FromEnvironment() (*Config, error) {
	file, err := configFile(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return Load(os.LookupEnv, file)
}

func configFile(lookup func(string) (string, bool)) (string, error) {
	home, _ := lookup("HOME")
	cwd, _ := os.Getwd()
	if value, _ := lookup("DIND_CONFIG"); value != "" {
		path, err := expandPath(value, home, cwd)
		if err == nil {
			_, err = os.Stat(path)
		}
		if err != nil {
			return "", fmt.Errorf("DIND_CONFIG=%s: %w; point it at a config.sh or unset it", value, err)
		}
		return path, nil
	}
	if home == "" {
		return "", nil
	}
	path, _ := expandPath(knobDefault("DIND_CONFIG"), home, cwd)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return path, nil
}

// Load reads the configuration from lookup (the environment) and file ("" for
// none). A variable set to a non-empty value in the environment wins over the
// file. All problems are reported at once, joined in one error; keys of the
// file that look like a mistyped setting only give Warnings.
func Load(lookup func(string) (string, bool), file string) (*Config, error) {
	var fileVars map[string]fileSetting
	if file != "" {
		var err error
		if fileVars, err = readFile(file); err != nil {
			return nil, err
		}
	}
	settings := map[string]string{}
	l := &loader{get: func(key string) string {
		v, _ := lookup(key)
		if v == "" {
			v = fileVars[key].value
		}
		settings[key] = v
		return v
	}}
	l.home, _ = lookup("HOME")
	l.cwd, _ = os.Getwd()

	c := &Config{File: file, Warnings: fileWarnings(file, fileVars), settings: settings}
	c.Versions, c.VersionGiven = l.versions()
	c.ClusterID = l.number("CLUSTER_ID", 0, 254)
	c.Label = l.label()
	c.IPMode = l.choice("IP_MODE", ipModes, implementedIPModes)
	c.CNIPlugin = l.cniPlugin()

	c.networkID = c.ClusterID
	if !c.NetworkIDFixed() {
		c.networkID = labelNetworkID(c.Label)
	}
	l.networks(c)
	c.NumNodes, c.NumNodesGiven = l.numNodes(c)

	c.APIServerPort = l.port("APISERVER_PORT")
	c.RsyncPort = l.port("KUBE_RSYNC_PORT")
	c.PortForwarder = l.executable("DIND_PORT_FORWARDER")
	c.RunOnBtrfsAnyway = l.get("RUN_ON_BTRFS_ANYWAY") != ""
	c.BuildKubeadm = l.get("BUILD_KUBEADM") != ""
	c.BuildHyperkube = l.get("BUILD_HYPERKUBE") != ""
	for _, b := range []struct {
		name string
		set  bool
	}{{"BUILD_KUBEADM", c.BuildKubeadm}, {"BUILD_HYPERKUBE", c.BuildHyperkube}} {
		if name, set := b.name, b.set; set {
			l.fail(name, l.get(name), "building from a Kubernetes checkout is not implemented yet; "+
				"leave it empty and pick a pinned release with DIND_K8S_VERSION")
		}
	}
	c.LocalBuild = l.get("KUBEADM_DIND_LOCAL") != ""

	c.CacheDir = l.path("DIND_CACHE_DIR")
	c.Kubeconfigs = l.kubeconfigs()
	c.AptMirror = l.get("DIND_APT_MIRROR")
	c.KubeadmArgs = strings.Fields(l.get("DIND_KUBEADM_ARGS"))
	c.Debug = l.get("DIND_DEBUG") != ""
	c.AllowAAAA = l.get("DIND_ALLOW_AAAA_USE") != ""
	c.Registry = l.onOff("DIND_REGISTRY")
	c.RegistryPort = l.port("DIND_REGISTRY_PORT")
	if c.RegistryPort == 0 {
		c.RegistryPort, _ = strconv.Atoi(knobDefault("DIND_REGISTRY_PORT"))
	}
	c.RegistryMirror = l.onOff("DIND_REGISTRY_MIRROR")
	if c.RegistryMirror && !c.Registry {
		l.fail("DIND_REGISTRY_MIRROR", l.get("DIND_REGISTRY_MIRROR"), "needs the local registry: unset DIND_REGISTRY=off, or DIND_REGISTRY_MIRROR")
	}

	l.e2e(c)
	l.addons(c)

	if err := errors.Join(l.errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// Kubeconfig is the kubeconfig file the cluster's context is written to: the
// first of Kubeconfigs, as kubectl writes new entries to it.
func (c *Config) Kubeconfig() string {
	if len(c.Kubeconfigs) == 0 {
		return ""
	}
	return c.Kubeconfigs[0]
}

func (l *loader) versions() (fixed.Set, bool) {
	v := l.get("DIND_K8S_VERSION")
	if v == "" {
		return fixed.Default, false
	}
	set, err := fixed.Lookup(v)
	if err != nil {
		l.fail("DIND_K8S_VERSION", v, "%v", err)
		return fixed.Default, true
	}
	return set, true
}

// maxNodes caps NUM_NODES whatever room the networks leave.
const maxNodes = 100

// numNodes reads NUM_NODES, which must leave every node a management
// address and a pod subnet.
func (l *loader) numNodes(c *Config) (int, bool) {
	v := l.get("NUM_NODES")
	n := l.number("NUM_NODES", 0, maxNodes)
	if last := c.MaxNodeIndex(); n > last {
		l.fail("NUM_NODES", v, "the networks have room for kube-node-%d at most (management address %s, pod subnet %s); "+
			"use at most %d", last, c.NodeIP(last), c.PodSubnet(last), last)
	}
	return n, v != ""
}

type loader struct {
	get       func(key string) string
	home, cwd string // HOME and the working directory, "" if unknown
	errs      []error
}

func (l *loader) fail(name, value, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s=%s: %s", name, value, fmt.Sprintf(format, args...)))
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// number reads a decimal integer within [min, max], or the knob's default.
func (l *loader) number(name string, min, max int) int {
	def, _ := strconv.Atoi(knobDefault(name))
	v := l.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if !digits.MatchString(v) || err != nil || n < min || n > max {
		l.fail(name, v, "must be a whole number from %d to %d", min, max)
		return def
	}
	return n
}

// onOff reads a switch: on, off, or its default when unset.
func (l *loader) onOff(name string) bool {
	v := l.get(name)
	if v == "" {
		v = knobDefault(name)
	}
	switch strings.ToLower(v) {
	case "on", "y", "yes", "true", "1":
		return true
	case "off", "n", "no", "false", "0":
		return false
	}
	l.fail(name, v, "must be on or off")
	return knobDefault(name) == "on"
}

func (l *loader) port(name string) int {
	v := l.get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if !digits.MatchString(v) || err != nil || n < 1 || n > 65535 {
		l.fail(name, v, "must be a port number from 1 to 65535, or empty")
		return 0
	}
	return n
}

// choice reads one of known, or the knob's default, refusing the values not
// implemented yet.
func (l *loader) choice(name string, known, implemented []string) string {
	def, v := knobDefault(name), l.get(name)
	switch {
	case v == "":
		return def
	case !slices.Contains(known, v):
		l.fail(name, v, "must be one of %s", strings.Join(known, ", "))
		return def
	case !slices.Contains(implemented, v):
		l.fail(name, v, "not implemented yet; use %s", strings.Join(implemented, " or "))
	}
	return v
}

var (
	labelPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	numbered     = regexp.MustCompile(`-[0-9]+$`)
)

func (l *loader) label() string {
	v := l.get("DIND_LABEL")
	switch {
	case v == "":
	case len(v) > 40 || !labelPattern.MatchString(v):
		l.fail("DIND_LABEL", v, "must be at most 40 lower-case letters, digits and dashes, "+
			"starting and ending with a letter or digit, e.g. foo")
	// Either would give the cluster the names of another one: "default" is
	// the default cluster's ClusterName, and LABEL-N is what label LABEL
	// with CLUSTER_ID=N is called.
	case v == "default":
		l.fail("DIND_LABEL", v, "is the name of the default cluster; choose another label")
	case numbered.MatchString(v):
		n := numbered.FindString(v)
		l.fail("DIND_LABEL", v, "must not end in -NUMBER, which is how CLUSTER_ID is appended; "+
			"set DIND_LABEL=%s CLUSTER_ID=%s instead", v[:len(v)-len(n)], n[1:])
	default:
		return v
	}
	return ""
}

func (l *loader) executable(name string) string {
	value := l.get(name)
	path := l.path(name)
	if value == "" || path == "" {
		return path
	}
	info, err := os.Stat(path)
	switch {
	case err != nil:
		l.fail(name, value, "%v; set it to an executable that takes the API server port as its first argument, or leave it empty", err)
	case !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0:
		l.fail(name, value, "is not an executable file; set it to an executable that takes the API server port as its first argument, or leave it empty")
	}
	return path
}

// cniPlugin reads CNI_PLUGIN, refusing the plugins that cannot be built
// here with the reason.
func (l *loader) cniPlugin() string {
	v := l.get("CNI_PLUGIN")
	if reason, refused := refusedCNIPlugins[v]; refused && !slices.Contains(implementedCNIPlugins, v) {
		l.fail("CNI_PLUGIN", v, "%s; use one of %s", reason, strings.Join(implementedCNIPlugins, ", "))
		return knobDefault("CNI_PLUGIN")
	}
	return l.choice("CNI_PLUGIN", cniPlugins, implementedCNIPlugins)
}

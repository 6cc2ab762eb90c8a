// Package config reads and validates the configuration every dind-cluster
// command works from: the environment variables of kubeadm-dind-cluster,
// backed by an optional config.sh-style file, and the names and addresses of
// the cluster they describe.
package config

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

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
	implementedIPModes    = []string{IPv4}
	implementedCNIPlugins = []string{"bridge"}
)

// Config is a validated configuration.
type Config struct {
	File string // the config file that was read, "" if none

	Versions  fixed.Set // DIND_K8S_VERSION resolved
	NumNodes  int       // workers, besides the master
	ClusterID int       // CLUSTER_ID as given; 0 for the default cluster
	Label     string    // DIND_LABEL
	IPMode    string    // IPv4, IPv6 or DualStack
	CNIPlugin string

	// Set in IPv6 mode only: the /96 DNS64 synthesizes addresses in, and the
	// IPv4 /16 NAT64 maps to, with the cluster's network ID already added.
	DNS64Prefix netip.Prefix
	NAT64Subnet netip.Prefix

	APIServerPort    int    // 0: pick a free port at up time
	RsyncPort        int    // KUBE_RSYNC_PORT, 0 if unset
	PortForwarder    string // DIND_PORT_FORWARDER, an executable path or ""
	RunOnBtrfsAnyway bool
	BuildKubeadm     bool
	BuildHyperkube   bool
	LocalBuild       bool // KUBEADM_DIND_LOCAL

	CacheDir   string // DIND_CACHE_DIR; kubectl is placed here
	Kubeconfig string // the kubeconfig file contexts are merged into

	networkID int
	mgmt      []netip.Prefix // cluster ID injected; IPv4 first in dual-stack
	service   netip.Prefix
	pod       netip.Prefix
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
	if path, _ := lookup("DIND_CONFIG"); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("DIND_CONFIG=%s: %w; point it at a config.sh or unset it", path, err)
		}
		return path, nil
	}
	home, _ := lookup("HOME")
	if home == "" {
		return "", nil
	}
	path := filepath.Join(home, ".kubeadm-dind-cluster", "config.sh")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return path, nil
}

// Load reads the configuration from lookup (the environment) and file ("" for
// none). A variable set to a non-empty value in the environment wins over the
// file. All problems are reported at once, joined in one error.
func Load(lookup func(string) (string, bool), file string) (*Config, error) {
	var fileVars map[string]string
	if file != "" {
		var err error
		if fileVars, err = readFile(file); err != nil {
			return nil, err
		}
	}
	l := &loader{get: func(key string) string {
		if v, _ := lookup(key); v != "" {
			return v
		}
		return fileVars[key]
	}}

	c := &Config{File: file, Versions: fixed.Default}
	if v := l.get("DIND_K8S_VERSION"); v != "" {
		if set, err := fixed.Lookup(v); err != nil {
			l.fail("DIND_K8S_VERSION", v, "%v", err)
		} else {
			c.Versions = set
		}
	}
	c.NumNodes = l.number("NUM_NODES", 2, 0, 100)
	c.ClusterID = l.number("CLUSTER_ID", 0, 0, 254)
	c.Label = l.label()
	c.IPMode = l.choice("IP_MODE", IPv4, ipModes, implementedIPModes)
	c.CNIPlugin = l.choice("CNI_PLUGIN", "bridge", cniPlugins, implementedCNIPlugins)
	if c.CNIPlugin == "kube-router" && c.IPMode == IPv6 {
		l.fail("CNI_PLUGIN", c.CNIPlugin, "kube-router does not support IP_MODE=ipv6; use bridge")
	}

	c.networkID = c.ClusterID
	if c.Label != "" && c.ClusterID == 0 {
		c.networkID = labelNetworkID(c.Label)
	}
	l.networks(c)

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

	home, _ := lookup("HOME")
	c.CacheDir = l.get("DIND_CACHE_DIR")
	if c.CacheDir == "" {
		c.CacheDir = l.underHome(home, "DIND_CACHE_DIR", ".kubeadm-dind-cluster")
	}
	for _, path := range filepath.SplitList(l.get("KUBECONFIG")) {
		if path != "" {
			c.Kubeconfig = path
			break
		}
	}
	if c.Kubeconfig == "" {
		c.Kubeconfig = l.underHome(home, "KUBECONFIG", filepath.Join(".kube", "config"))
	}

	if err := errors.Join(l.errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// NetworkID is the number injected into the cluster's networks: CLUSTER_ID,
// or, for a DIND_LABEL cluster without one, a number 1..13 derived from the
// label.
func (c *Config) NetworkID() int { return c.networkID }

// labelNetworkID stands in for the seed's random ID: it must come out the
// same in every process that handles the cluster. It stays within 1..13 so
// that the default NAT64 prefix 172.18 plus the ID is still in 172.16.0.0/12.
func labelNetworkID(label string) int {
	h := fnv.New32a()
	h.Write([]byte(label))
	return int(h.Sum32()%13) + 1
}

type loader struct {
	get  func(key string) string
	errs []error
}

func (l *loader) fail(name, value, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s=%s: %s", name, value, fmt.Sprintf(format, args...)))
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// number reads a decimal integer within [min, max].
func (l *loader) number(name string, def, min, max int) int {
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

// choice reads one of known, refusing the values not implemented yet.
func (l *loader) choice(name, def string, known, implemented []string) string {
	v := l.get(name)
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
	path := l.get(name)
	if path == "" {
		return ""
	}
	info, err := os.Stat(path)
	switch {
	case err != nil:
		l.fail(name, path, "%v; set it to an executable that takes the API server port as its first argument, or leave it empty", err)
	case !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0:
		l.fail(name, path, "is not an executable file; set it to an executable that takes the API server port as its first argument, or leave it empty")
	}
	return path
}

func (l *loader) underHome(home, name, rel string) string {
	if home == "" {
		l.errs = append(l.errs, fmt.Errorf("HOME is not set, so %s has no default; set %s or HOME", name, name))
		return ""
	}
	return filepath.Join(home, rel)
}

// Package embed holds every file that ends up inside a node or a cluster: the
// node's entrypoint, systemd units and containerd config (node/, copied into
// the node image by path), the kubeadm configurations per kubeadm API version
// (kubeadm/), the CNI configurations (cni/) and the pause program (pause/).
// Files ending in .tmpl are rendered with text/template from Values.
package embed

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"text/template"
)

//go:embed node kubeadm cni pause/main.go registry nat64
var files embed.FS

// Images are the names of the cluster images, exactly as kubeadm asks for them.
type Images struct {
	APIServer, ControllerManager, Scheduler, Proxy, Etcd, CoreDNS, Pause string
}

// All lists the images in a stable order.
func (i Images) All() []string {
	return []string{i.APIServer, i.ControllerManager, i.Scheduler, i.Proxy, i.Etcd, i.CoreDNS, i.Pause}
}

// Values is everything the templates can refer to. A template uses what it
// needs; node image files only use the versions and images.
type Values struct {
	Kubernetes string // e.g. v1.37.2
	Images     Images

	ClusterName   string
	Token         string   // kubeadm bootstrap token
	CACertData    string   // the cluster CA's PEM certificate, base64-encoded
	MasterIP      string   // the master's address of the first family
	MasterIPs     []string // one per address family
	APIServerPort int      // inside the cluster network: 6443
	// APIServerEndpoint is MasterIP:APIServerPort, bracketed for IPv6.
	APIServerEndpoint string
	ServiceCIDR       string // comma-separated, one per address family
	PodNetworkCIDR    string // comma-separated, one per address family
	DNSDomain         string
	CgroupV1          bool
	KubeProxyMode     string
	PreflightIgnore   []string

	// The node a join configuration or a CNI configuration is for.
	NodeName   string
	NodeIPs    []string // one per address family
	PodSubnets []string // one per address family

	Registry RegistryValues
	NAT64    NAT64Values
	CNI      CNIValues
	// PodResolvConf is the resolv.conf of pods with dnsPolicy Default, and
	// so CoreDNS's upstream; "" keeps the node's.
	PodResolvConf string
}

// CNIValues are what a pod network add-on's manifest
// (cni/NAME/manifest.yaml.tmpl) and the controller-manager's pod CIDR
// allocation are rendered from. Zero for bridge and ptp, whose subnets
// dind-cluster carves and routes itself.
type CNIValues struct {
	Image string // the add-on's image, preloaded in every node
	// AllocateNodeCIDRs: the controller-manager gives each node its pod
	// subnet, of NodeMaskIPv4 or NodeMaskIPv6 bits, which the add-on routes.
	AllocateNodeCIDRs          bool
	NodeMaskIPv4, NodeMaskIPv6 int
	IPv4CIDR, IPv6CIDR         string // the pod network per family, "" where the cluster has none
}

// NAT64Values are what an IPv6 cluster's DNS64 and NAT64 files are
// rendered from.
type NAT64Values struct {
	Prefix    string // the /96 DNS64 synthesizes addresses in
	Pool      string // the IPv4 /16 NAT64 maps to
	Gateway   string // the gateway's own address in Pool
	AllowAAAA bool
}

// RegistryValues are what the local registry's files are rendered from.
type RegistryValues struct {
	Host      string // as the Docker host reaches it: localhost:PORT
	Container string // as nodes reach it on the cluster's network
	// For a mirror: the registry mirrored, and its own server.
	Upstream, UpstreamServer string
}

// File is one file to place inside a node.
type File struct {
	Path    string // absolute path inside the node
	Mode    int64
	Content []byte
	Link    string // when set, Path is a symbolic link to Link, without content
}

// NodeFiles renders the tree under node/ into the files of a node image.
func NodeFiles(v Values) ([]File, error) {
	var out []File
	err := fs.WalkDir(files, "node", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		target := strings.TrimPrefix(p, "node")
		if strings.HasSuffix(p, ".tmpl") {
			if content, err = render(p, content, v); err != nil {
				return err
			}
			target = strings.TrimSuffix(target, ".tmpl")
		}
		mode := int64(0o644)
		if strings.HasPrefix(target, "/usr/local/bin/") {
			mode = 0o755
		}
		out = append(out, File{Path: target, Mode: mode, Content: content})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// Render renders the template at name (relative to this folder, e.g.
// "kubeadm/v1beta4/init.yaml.tmpl").
func Render(name string, v Values) ([]byte, error) {
	content, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("no embedded file %s: %w", name, err)
	}
	return render(name, content, v)
}

// RegistryConfig is the local registry's configuration.
func RegistryConfig() []byte {
	b, _ := files.ReadFile("registry/config.yml")
	return b
}

// CNIFile is a file of a pod network add-on, by its path under cni/.
func CNIFile(name string) ([]byte, error) {
	return files.ReadFile("cni/" + name)
}

// PauseSource is the Go source of the pause program.
func PauseSource() []byte {
	b, _ := files.ReadFile("pause/main.go")
	return b
}

// render renders a template, with the partial templates of its folder
// (named NAME.part.tmpl) at hand.
func render(name string, content []byte, v Values) ([]byte, error) {
	t, err := template.New(path.Base(name)).Option("missingkey=error").Funcs(template.FuncMap{
		"join": strings.Join, "contains": strings.Contains,
	}).Parse(string(content))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	partials, _ := fs.Glob(files, path.Join(path.Dir(name), "*.part.tmpl"))
	for _, p := range partials {
		b, _ := files.ReadFile(p)
		if _, err := t.New(path.Base(p)).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("template %s: %w", p, err)
		}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return b.Bytes(), nil
}

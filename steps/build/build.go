// Package build is the offline supply chain: it builds, from Go modules and
// Debian packages, every binary and image a node needs for one version set,
// caches each by the inputs that shape it, and assembles the node image.
package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/fixed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/cache"
	"github.com/dind-cluster/dind-cluster/steps/docker"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// recipe changes when the way artifacts are built changes, so that old
// cache entries are not mistaken for new ones.
const recipe = "1"

// Builder builds the artifacts of one version set. Its steps share it: a
// step fills the fields that the steps needing it read.
type Builder struct {
	Set    fixed.Set
	Cache  cache.Cache
	Log    io.Writer
	Docker docker.Provider

	AptMirror string // DIND_APT_MIRROR; "" for the host's apt sources

	Engine    docker.Engine
	mu        sync.Mutex
	dirs      map[string]string // component -> its cache folder
	keys      map[string]string // component -> its cache key
	BaseImage string
	NodeImage string
	// WithRegistry adds the local registry's image to the steps, named in
	// RegistryImage once built.
	WithRegistry  bool
	RegistryImage string
	// WithStorage and WithMetrics add the addons' builds and images.
	WithStorage, WithMetrics bool
	// WithNAT64 adds the images of the DNS64 server and the NAT64 gateway
	// of IPv6 clusters, named in DNS64Image and NAT64Image once built.
	WithNAT64              bool
	DNS64Image, NAT64Image string
	// WithE2E adds e2e.test, ginkgo and the conformance specs' images.
	WithE2E bool
	// CNI, when a pod network add-on that runs as a DaemonSet, adds the
	// steps that build its image; see CNIImageLayout.
	CNI string
}

// New prepares a builder; nothing runs until its steps do.
func New(set fixed.Set, c cache.Cache, log io.Writer) *Builder {
	return &Builder{Set: set, Cache: c, Log: log, Docker: docker.CLI{}, dirs: map[string]string{}, keys: map[string]string{}}
}

// Images are the names kubeadm of the set's version asks for.
func Images(set fixed.Set) embed.Images {
	const repo = "registry.k8s.io/"
	return embed.Images{
		APIServer:         repo + "kube-apiserver:" + set.Kubernetes,
		ControllerManager: repo + "kube-controller-manager:" + set.Kubernetes,
		Scheduler:         repo + "kube-scheduler:" + set.Kubernetes,
		Proxy:             repo + "kube-proxy:" + set.Kubernetes,
		Etcd:              repo + "etcd:" + set.EtcdImage,
		CoreDNS:           repo + "coredns/coredns:" + set.CoreDNS,
		Pause:             repo + "pause:" + set.Pause,
	}
}

// Step names other plans may depend on.
const (
	StepEngine    = "docker-engine"
	StepNodeImage = "node-image"
)

// Steps are the supply chain as a plan fragment.
func (b *Builder) Steps() []steps.Step {
	var out []steps.Step
	out = append(out,
		steps.Step{Name: StepEngine, Run: b.probeEngine},
		steps.Step{Name: "host-tools", Run: checkHostTools},
	)
	for _, c := range append(b.goComponents(), b.addonComponents()...) {
		needs := []string{StepEngine}
		if c.build.CGO {
			needs = append(needs, "host-tools")
		}
		out = append(out, b.cached(c.name, needs, c.build.inputs, func(ctx context.Context, dir string) error {
			return c.build.build(ctx, dir, b.Engine.Arch)
		}))
	}
	out = append(out, b.cached("pause", []string{StepEngine}, func(arch string) []string {
		return []string{"pause", "arch=" + arch, "source=" + cache.Key(string(embed.PauseSource()))}
	}, b.buildPause))
	for _, r := range []rootfs{nodeRootfs, proxyRootfs} {
		out = append(out, b.rootfsStep(r))
	}
	out = append(out,
		steps.Step{Name: "base-image", Needs: []string{"rootfs-node"}, Done: b.baseImageDone, Run: b.buildBaseImage},
		b.cached("cluster-images", append([]string{"kubernetes", "etcd", "coredns", "pause", "rootfs-kube-proxy"}, b.addonNeeds()...),
			func(arch string) []string {
				return append([]string{"images", b.key("kubernetes"), b.key("etcd"), b.key("coredns"), b.key("pause"),
					b.key("rootfs-kube-proxy"), fmt.Sprint(Images(b.Set))}, b.addonInputs()...)
			}, b.buildClusterImages),
		steps.Step{Name: StepNodeImage,
			Needs: []string{"base-image", "kubernetes", "containerd", "runc", "cni-plugins", "cluster-images"},
			Done:  b.nodeImageDone, Run: b.buildNodeImage},
	)
	if b.WithRegistry {
		out = append(out, b.registrySteps()...)
	}
	if b.WithNAT64 {
		out = append(out, b.nat64Steps()...)
	}
	if b.WithE2E {
		out = append(out, b.e2eSteps()...)
	}
	return append(out, b.cniSteps()...)
}

// rootfsStep makes root file system r, cached.
func (b *Builder) rootfsStep(r rootfs) steps.Step {
	return b.cached("rootfs-"+r.Name, []string{StepEngine, "host-tools"}, func(arch string) []string {
		return append(r.inputs(), "arch="+arch)
	}, func(ctx context.Context, dir string) error {
		mirror, err := aptMirror(b.AptMirror)
		if err != nil {
			return err
		}
		return r.build(ctx, dir, b.Engine.Arch, mirror)
	})
}

// cached is a step whose result is a cache folder keyed by its inputs.
func (b *Builder) cached(name string, needs []string, inputs func(arch string) []string,
	fill func(ctx context.Context, dir string) error) steps.Step {
	key := func() string {
		k := cache.Key(append([]string{"recipe=" + recipe, name}, inputs(b.Engine.Arch)...)...)
		b.mu.Lock()
		b.keys[name], b.dirs[name] = k, b.Cache.Path(name, k)
		b.mu.Unlock()
		return k
	}
	return steps.Step{
		Name:  name,
		Needs: needs,
		Done: func(ctx context.Context) (bool, error) {
			return b.Cache.Has(name, key()), nil
		},
		Run: func(ctx context.Context) error {
			if err := checkFree(name, b.Cache.Dir); err != nil {
				return err
			}
			_, err := b.Cache.Fill(ctx, name, key(), func(dir string) error { return fill(ctx, dir) })
			return err
		},
	}
}

func (b *Builder) probeEngine(ctx context.Context) error {
	e, err := b.Docker.Info(ctx)
	if err != nil {
		return err
	}
	b.Engine = e
	return nil
}

type goComponent struct {
	name  string
	build goBuild
}

func (b *Builder) goComponents() []goComponent {
	s := b.Set
	k8s := goBuild{Module: "k8s.io/kubernetes", Version: s.Kubernetes, Staging: s.StagingVersion(),
		Tags: []string{"selinux", "notest", "grpcnotrace"}}
	for _, cmd := range []string{"kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"} {
		k8s.Packages = append(k8s.Packages, "k8s.io/kubernetes/cmd/"+cmd)
	}
	k8s.LDFlags = kubernetesVersionFlags(s.Kubernetes)
	containerd := goBuild{Module: "github.com/containerd/containerd/v2", Version: s.Containerd, Tags: []string{"no_btrfs"},
		LDFlags: []string{"-X", "github.com/containerd/containerd/v2/version.Version=" + s.Containerd,
			"-X", "github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2"}}
	for _, cmd := range []string{"containerd", "containerd-shim-runc-v2", "ctr"} {
		containerd.Packages = append(containerd.Packages, "github.com/containerd/containerd/v2/cmd/"+cmd)
	}
	cni := goBuild{Module: "github.com/containernetworking/plugins", Version: s.CNIPlugins}
	for _, p := range []string{"main/bridge", "main/ptp", "main/loopback", "ipam/host-local", "meta/portmap"} {
		cni.Packages = append(cni.Packages, "github.com/containernetworking/plugins/plugins/"+p)
	}
	return []goComponent{
		{"kubernetes", k8s},
		{"etcd", goBuild{Module: "go.etcd.io/etcd/server/v3", Version: s.Etcd,
			Packages: []string{"go.etcd.io/etcd/server/v3"}, Rename: map[string]string{"server": "etcd"}}},
		{"coredns", goBuild{Module: "github.com/coredns/coredns", Version: s.CoreDNS,
			Packages: []string{"github.com/coredns/coredns"}}},
		{"containerd", containerd},
		{"runc", goBuild{Module: "github.com/opencontainers/runc", Version: s.Runc,
			Packages: []string{"github.com/opencontainers/runc"}, CGO: true, Static: true,
			Tags:    []string{"seccomp", "urfave_cli_no_docs", "netgo", "osusergo"},
			LDFlags: []string{"-X", "main.version=" + strings.TrimPrefix(s.Runc, "v")}}},
		{"cni-plugins", cni},
	}
}

// kubernetesVersionFlags stamp the release into the binaries, so that
// kubeadm asks for the images of this release and `version` tells it.
func kubernetesVersionFlags(version string) []string {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	var flags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		for _, kv := range []string{
			"gitVersion=" + version, "gitMajor=" + parts[0], "gitMinor=" + parts[1],
			"gitCommit=0000000000000000000000000000000000000000", "gitTreeState=clean",
			"buildDate=1970-01-01T00:00:00Z",
		} {
			flags = append(flags, "-X", pkg+"."+kv)
		}
	}
	return flags
}

func (b *Builder) buildPause(ctx context.Context, dir string) error {
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module pause\n\ngo 1.24\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), embed.PauseSource(), 0o644); err != nil {
		return err
	}
	return shell.Command("go", "-C", src, "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, "bin", "pause"), ".").
		WithEnv(goEnv(b.Engine.Arch, false)...).Run(ctx)
}

// key is a component's cache key, once its step computed it.
func (b *Builder) key(component string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.keys[component]
}

// dir is a component's cache folder, once its step computed it.
func (b *Builder) dir(component string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dirs[component]
}

// bin is the path of a built binary.
func (b *Builder) bin(component, name string) string {
	return filepath.Join(b.dir(component), "bin", name)
}

// KubectlPath is the kubectl built for the set; valid once the plan ran.
func (b *Builder) KubectlPath() string { return b.bin("kubernetes", "kubectl") }

func (b *Builder) buildClusterImages(ctx context.Context, dir string) error {
	layout, err := newOCILayout(filepath.Join(dir, "oci"), b.Engine.Arch)
	if err != nil {
		return err
	}
	names := Images(b.Set)
	tmp := layerEntry{Path: "tmp", Mode: 0o1777, Dir: true}
	inPath := func(component, name string) []layerEntry {
		return []layerEntry{tmp, {Path: "usr/local/bin/" + name, Mode: 0o755, From: b.bin(component, name)}}
	}
	specs := []imageSpec{
		{Name: names.APIServer, Files: inPath("kubernetes", "kube-apiserver")},
		{Name: names.ControllerManager, Files: inPath("kubernetes", "kube-controller-manager")},
		{Name: names.Scheduler, Files: inPath("kubernetes", "kube-scheduler")},
		{Name: names.Proxy, BaseTar: filepath.Join(b.dir("rootfs-kube-proxy"), "rootfs.tar"),
			Files: []layerEntry{{Path: "usr/local/bin/kube-proxy", Mode: 0o755, From: b.bin("kubernetes", "kube-proxy")}}},
		{Name: names.Etcd, Files: inPath("etcd", "etcd")},
		{Name: names.CoreDNS, Files: []layerEntry{tmp, {Path: "coredns", Mode: 0o755, From: b.bin("coredns", "coredns")}},
			Entrypoint: []string{"/coredns"}},
		{Name: names.Pause, Files: []layerEntry{{Path: "pause", Mode: 0o755, From: b.bin("pause", "pause")}},
			Entrypoint: []string{"/pause"}},
	}
	for _, s := range append(specs, b.addonImageSpecs()...) {
		if err := layout.add(s); err != nil {
			return err
		}
	}
	return layout.finish()
}

// Run builds everything for the set, printing progress and then the timeline.
func Run(ctx context.Context, set fixed.Set, cacheDir, aptMirror string, out io.Writer) (*Builder, steps.Timeline, error) {
	return RunWithAddons(ctx, set, cacheDir, aptMirror, false, false, out)
}

// RunWithAddons is Run with the images of the storage and metrics addons
// in the node image.
func RunWithAddons(ctx context.Context, set fixed.Set, cacheDir, aptMirror string, storage, metrics bool, out io.Writer) (*Builder, steps.Timeline, error) {
	b := New(set, cache.Cache{Dir: cacheDir, Waiting: out}, out)
	b.AptMirror = aptMirror
	b.WithStorage, b.WithMetrics = storage, metrics
	plan, err := steps.NewPlan(b.Steps()...)
	if err != nil {
		return nil, nil, err
	}
	timeline, err := plan.Run(ctx, out)
	if recErr := RecordTimings(cacheDir, timeline); recErr != nil && err == nil {
		err = recErr
	}
	return b, timeline, err
}

// timingsFile is where every build records how long its steps took, so that
// bench can report the cold figures of the last real build.
const timingsFile = "build-timings.log"

// RecordTimings appends the supply-chain steps that ran (not cache hits) to
// the cache's timings log.
func RecordTimings(cacheDir string, timeline steps.Timeline) error {
	supply := map[string]bool{}
	all := New(fixed.Default, cache.Cache{}, nil)
	all.WithRegistry, all.WithNAT64, all.WithE2E, all.WithStorage, all.WithMetrics = true, true, true, true, true
	for _, s := range all.Steps() {
		supply[s.Name] = s.Done != nil // probes always run: they are not builds
	}
	for plugin := range cniAddons {
		all.CNI = plugin
		for _, s := range all.cniSteps() {
			supply[s.Name] = s.Done != nil
		}
	}
	var lines strings.Builder
	now := time.Now().UTC().Format(time.RFC3339)
	for _, e := range timeline {
		if supply[e.Step] && e.Outcome == steps.Ran {
			fmt.Fprintf(&lines, "%s %s %.1f\n", now, e.Step, e.Duration.Seconds())
		}
	}
	if lines.Len() == 0 {
		return nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(cacheDir, timingsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(lines.String())
	return err
}

// LastTimings reads, for each supply-chain step, the duration of the last
// time it really ran, and when.
func LastTimings(cacheDir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(cacheDir, timingsFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	last := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			last[f[1]] = f[2] + "s (" + f[0] + ")"
		}
	}
	return last, nil
}

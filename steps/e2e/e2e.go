// Package e2e runs the Kubernetes conformance suite of the cluster's release
// against the cluster: it builds e2e.test, ginkgo and the test images (cached
// like every other artifact), loads the images into the nodes, runs ginkgo,
// and summarises the JUnit report.
package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/fixed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/cache"
	"github.com/dind-cluster/dind-cluster/steps/cluster"
	"github.com/dind-cluster/dind-cluster/steps/docker"
	"github.com/dind-cluster/dind-cluster/steps/registry"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// Options are one run's choices.
type Options struct {
	Serial   bool   // the [Serial] conformance specs, one at a time; else the others, in parallel
	Mirror   bool   // the local registry serves the e2e images
	Focus    string // only the specs whose name contains it; "" for all
	Skip     string // E2E_SKIP, a regular expression
	Parallel int
	Timeout  time.Duration

	E2ETest, Ginkgo, Kubectl string
	Kubeconfig, Context      string
	Nodes                    int // schedulable nodes
	ReportDir                string
}

// Unavailable is a conformance spec this machine cannot run, with why: it
// is skipped by name, and the run says so.
type Unavailable struct{ Spec, Reason string }

// Unavailables are the specs skipped; mirror tells whether the nodes pull
// registry.k8s.io images from the local registry (DIND_REGISTRY_MIRROR=on),
// which then serves the e2e images.
func Unavailables(mirror bool) []Unavailable {
	out := []Unavailable{{"ImageVolume should succeed with pod and pull policy of Always",
		"pulls the kitten image with PullAlways, and dind-cluster does not build kitten (its spec checks for Alpine Linux's os-release)"}}
	if !mirror {
		out = append(out, Unavailable{"should allow server and client pods to establish an mTLS connection",
			"pulls agnhost with PullAlways: with DIND_REGISTRY_MIRROR=on (at up and at e2e) the local registry serves it"})
	}
	return out
}

// GinkgoArgs are ginkgo's arguments for a run of o.
func GinkgoArgs(o Options) []string {
	labels := "Conformance && !Serial"
	procs := o.Parallel
	if o.Serial {
		labels, procs = "Conformance && Serial", 1
	}
	args := []string{"--label-filter=" + labels, fmt.Sprintf("--procs=%d", procs),
		"--timeout=" + o.Timeout.String(), "--no-color", "--silence-skips",
		"--output-dir=" + o.ReportDir, "--json-report=ginkgo-report.json"}
	if o.Focus != "" {
		args = append(args, "--focus="+regexp.QuoteMeta(o.Focus))
	}
	skips := []string{}
	for _, u := range Unavailables(o.Mirror) {
		skips = append(skips, regexp.QuoteMeta(u.Spec))
	}
	if o.Skip != "" {
		skips = append(skips, o.Skip)
	}
	args = append(args, "--skip="+strings.Join(skips, "|"))
	return append(args, o.E2ETest, "--",
		"--provider=skeleton",
		"--kubeconfig="+o.Kubeconfig,
		"--context="+o.Context,
		"--kubectl-path="+o.Kubectl,
		fmt.Sprintf("--num-nodes=%d", o.Nodes),
		"--report-dir="+o.ReportDir,
		"--disable-log-dump",
	)
}

// Result is how a run went.
type Result struct {
	Summary   Summary
	ReportDir string
	Startup   time.Duration // from the command's start to ginkgo's
	Suite     time.Duration
}

// Run builds what the suite needs, loads the images into the nodes and runs
// the suite against the cluster of cfg, writing progress to out.
func Run(ctx context.Context, cfg *config.Config, c *cluster.Cluster, serial bool, focus string, out io.Writer) (Result, error) {
	start := time.Now()
	target, err := c.E2ETarget(ctx)
	if err != nil {
		return Result{}, err
	}
	set, err := fixed.Lookup(target.Kubernetes)
	if err != nil {
		return Result{}, fmt.Errorf("cluster %s runs Kubernetes %s: %w", cfg.ClusterName(), target.Kubernetes, err)
	}
	if target.Workers < 1 {
		return Result{}, fmt.Errorf("cluster %s has no running worker node: conformance specs run on workers (NUM_NODES, 2 by default)", cfg.ClusterName())
	}
	names, err := build.E2EImageNames(set)
	if err != nil {
		return Result{}, err
	}
	b := build.New(set, cache.Cache{Dir: cfg.CacheDir, Waiting: out}, out)
	b.AptMirror = cfg.AptMirror
	b.Docker = c.Docker
	b.WithE2E = true
	mirror := cfg.Registry && cfg.RegistryMirror
	all := append(b.Steps(), steps.Step{
		Name: "e2e-preload", Needs: []string{build.StepE2EImages},
		Run: func(ctx context.Context) error {
			return Preload(ctx, c.Docker, target.Nodes, b.E2EImagesDir(), names, out)
		},
	})
	roots := []string{"e2e-preload", build.StepE2EBinaries}
	if mirror {
		reg := registry.Registry{Docker: c.Docker, Port: cfg.RegistryPort}
		all = append(all, steps.Step{Name: "e2e-mirror", Needs: []string{build.StepE2EImages},
			Run: func(ctx context.Context) error {
				return Mirror(ctx, c.Docker, reg, target.Nodes[0], b.E2EImagesDir(), names, out)
			}})
		roots = append(roots, "e2e-mirror")
	}
	plan, err := steps.NewPlan(steps.Closure(all, roots...)...)
	if err != nil {
		return Result{}, err
	}
	timeline, err := plan.Run(ctx, out)
	if recErr := build.RecordTimings(cfg.CacheDir, timeline); recErr != nil && err == nil {
		err = recErr
	}
	fmt.Fprintln(out)
	timeline.Print(out)
	if err != nil {
		return Result{}, err
	}

	kind := "e2e"
	if serial {
		kind = "e2e-serial"
	}
	dir := filepath.Join(cfg.E2EReportDir, time.Now().UTC().Format("20060102-150405")+"-"+cfg.ClusterName()+"-"+kind)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	o := Options{Serial: serial, Mirror: mirror, Focus: focus, Skip: cfg.E2ESkip, Parallel: cfg.E2EParallel, Timeout: cfg.E2ETimeout,
		E2ETest: b.E2EBinary("e2e.test"), Ginkgo: b.E2EBinary("ginkgo"), Kubectl: b.KubectlPath(),
		Kubeconfig: cfg.Kubeconfig(), Context: cfg.ContextName(), Nodes: target.Workers, ReportDir: dir}
	for _, u := range Unavailables(o.Mirror) {
		fmt.Fprintf(out, "skipping %q: %s\n", u.Spec, u.Reason)
	}
	log, err := os.Create(filepath.Join(dir, "ginkgo.log"))
	if err != nil {
		return Result{}, err
	}
	defer log.Close()
	res := Result{ReportDir: dir, Startup: time.Since(start)}
	fmt.Fprintf(out, "\n%s: %s\n", kind, shell.Command(o.Ginkgo, GinkgoArgs(o)...))
	suiteStart := time.Now()
	runErr := shell.Command(o.Ginkgo, GinkgoArgs(o)...).WithStdout(io.MultiWriter(out, log)).Run(ctx)
	res.Suite = time.Since(suiteStart)
	res.Summary, err = ReadJUnit(dir)
	if err != nil {
		if runErr != nil {
			return res, fmt.Errorf("%w; and no JUnit report: %v", runErr, err)
		}
		return res, err
	}
	fmt.Fprintf(out, "\n%s\n", res.Summary.Text(res.Suite))
	fmt.Fprintf(out, "results in %s (ginkgo started %.1fs after e2e did)\n", dir, res.Startup.Seconds())
	if res.Summary.Failed > 0 || runErr != nil {
		if f, err := os.Create(filepath.Join(dir, "dump.txt")); err == nil {
			c.Dump(ctx, f)
			f.Close()
			fmt.Fprintf(out, "cluster dump in %s\n", f.Name())
		}
	}
	switch {
	case res.Summary.Failed > 0:
		return res, fmt.Errorf("%d of %d specs failed", res.Summary.Failed, res.Summary.Ran())
	case runErr != nil:
		return res, runErr
	case res.Summary.Ran() == 0:
		return res, fmt.Errorf("no spec ran: the focus %q matches no %s spec", focus, kind)
	}
	return res, nil
}

// Preload imports the e2e images of the OCI layout ociDir into each node's
// containerd where one of names is missing, and pins them there so that
// the kubelet never collects them: offline, nothing could pull them back.
func Preload(ctx context.Context, d docker.Provider, nodes []string, ociDir string, names []string, out io.Writer) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, node := range nodes {
		g.Go(func() error {
			have, err := d.ExecOutput(gctx, node, "ctr", "-n", "k8s.io", "images", "list", "--quiet")
			if err != nil {
				return fmt.Errorf("listing the images of %s: %w", node, err)
			}
			listed := strings.Fields(have)
			if !slices.ContainsFunc(names, func(n string) bool { return !slices.Contains(listed, n) }) {
				return nil
			}
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(build.TarDir(pw, ociDir)) }()
			err = d.Exec(gctx, node, []string{"ctr", "-n", "k8s.io", "images", "import", "--local", "--discard-unpacked-layers", "-"}, pr, nil)
			pr.CloseWithError(io.ErrClosedPipe)
			if err != nil {
				return fmt.Errorf("importing the e2e images into %s: %w", node, err)
			}
			for _, n := range names {
				if _, err := d.ExecOutput(gctx, node, "ctr", "-n", "k8s.io", "images", "label", n, "io.cri-containerd.pinned=pinned"); err != nil {
					return fmt.Errorf("image %s in %s: %w", n, node, err)
				}
			}
			fmt.Fprintf(out, "e2e images loaded into %s\n", node)
			return nil
		})
	}
	return g.Wait()
}

// Mirror puts the e2e images into the local registry under the names its
// mirror mode serves registry.k8s.io images by, for the specs that pull
// with PullAlways. node's containerd pushes them, from a namespace of its
// own that is emptied afterwards.
func Mirror(ctx context.Context, d docker.Provider, reg registry.Registry, node, ociDir string, names []string, out io.Writer) error {
	var missing []string
	for _, n := range names {
		if !reg.Has(ctx, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	const ns = "dind-e2e-mirror"
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(build.TarDir(pw, ociDir)) }()
	err := d.Exec(ctx, node, []string{"ctr", "-n", ns, "images", "import", "--local", "--no-unpack", "-"}, pr, nil)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return fmt.Errorf("importing the e2e images into %s to push them: %w", node, err)
	}
	defer d.ExecOutput(context.WithoutCancel(ctx), node, append([]string{"ctr", "-n", ns, "images", "rm"}, names...)...)
	for _, n := range missing {
		remote := registry.Container + ":5000/" + n
		if _, err := d.ExecOutput(ctx, node, "ctr", "-n", ns, "images", "push", "--local", "--plain-http", remote, n); err != nil {
			return fmt.Errorf("pushing %s to the local registry: %w", n, err)
		}
	}
	fmt.Fprintf(out, "e2e images pushed to the local registry: %s\n", strings.Join(missing, ", "))
	return nil
}

//go:build mage

// dind-cluster: multi-node Kubernetes clusters of Docker containers, built
// with kubeadm from source, offline. Configure with the environment variables
// of README.md (NUM_NODES, CLUSTER_ID, DIND_K8S_VERSION, ...).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/steps/bench"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/cluster"
	"github.com/dind-cluster/dind-cluster/steps/dashboard"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// Aliases keep the seed's spellings of commands working.
var Aliases = map[string]interface{}{
	"apiserver-port":    ApiserverPort,
	"split-dump":        SplitDump,
	"registry-remove":   RegistryRemove,
	"registry-clean":    RegistryClean,
	"split-dump64":      SplitDump64,
	"e2e-serial":        E2eSerial,
	"dashboard-install": DashboardInstall,
}

// Load copies an image from the Docker engine into every node, for pods to use without a registry.
func Load(ctx context.Context, image string) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	return c.Load(ctx, image)
}

// Registry starts the local registry, shared by the clusters of the engine, and tells where it is.
func Registry(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	where, err := c.Registry(ctx)
	fmt.Print(where)
	return err
}

// RegistryRemove removes the local registry's container; its images stay on their volume for the next one.
func RegistryRemove(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	return c.RemoveRegistry(ctx, false)
}

// RegistryClean removes the local registry and the images it held.
func RegistryClean(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	return c.RemoveRegistry(ctx, true)
}

// Push copies an image of the Docker engine into the local registry: localhost:PORT/NAME as it is, others under the name mirror mode serves them by.
func Push(ctx context.Context, image string) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	name, err := c.Push(ctx, image)
	if err != nil {
		return err
	}
	fmt.Printf("pushed %s as %s\n", image, name)
	return nil
}

// Build builds every binary and image of the Kubernetes version set, offline, and prints the timeline.
func Build(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	b, timeline, err := build.RunWithAddons(ctx, cfg.Versions, cfg.CacheDir, cfg.AptMirror, cfg.Addons.Storage, cfg.Addons.Metrics, os.Stdout)
	fmt.Println()
	timeline.Print(os.Stdout)
	if err != nil {
		return err
	}
	fmt.Printf("\nnode image %s ready in %.1fs\n", b.NodeImage, timeline.Total().Seconds())
	return nil
}

// Up creates the cluster, or restarts a running one from its fresh snapshot, or resumes one stopped by down.
func Up(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	return up(ctx, c, cluster.RequestOf(c.Cfg))
}

// up runs c's up and tells how it went.
func up(ctx context.Context, c *cluster.Cluster, req cluster.Request) error {
	result, timeline, err := c.Up(ctx, req)
	if len(timeline) > 0 {
		fmt.Println()
		timeline.Print(os.Stdout)
	}
	switch {
	case err != nil && len(timeline) == 0: // refused before anything was done
		return err
	case err != nil && result.Action == cluster.Create:
		return fmt.Errorf("%w\n\nup did not finish: `go run mage.go dump` shows the nodes' state, `go run mage.go clean` removes what it left", err)
	case err != nil:
		return fmt.Errorf("%w\n\nup did not finish: `go run mage.go dump` shows the nodes' state; up again tries again", err)
	}
	done := map[cluster.Action]string{cluster.Create: "created", cluster.Resume: "resumed", cluster.Restore: "restored"}[result.Action]
	fmt.Printf("\ncluster %s %s in %.1fs: API server https://127.0.0.1:%d, kubectl context %s\n",
		c.Cfg.ClusterName(), done, timeline.Total().Seconds(), result.Port, result.Context)
	fmt.Printf("  export PATH=\"%s:$PATH\"   # its kubectl is now %s's; kubectl-%s stays beside it\n  kubectl --context %s get nodes\n",
		c.Cfg.CacheDir, result.Version, result.Version, result.Context)
	return nil
}

// Down stops the cluster and keeps its state; up resumes it.
func Down(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	return c.Down(ctx)
}

// Clean removes the cluster's containers, volumes, network, snapshots and kubectl context.
func Clean(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	return c.Clean(ctx)
}

// Dashboard opens k9s, a terminal UI, on the cluster's context; it is built from its Go module on first use and placed beside kubectl.
func Dashboard(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	return dashboard.Run(ctx, cfg, os.Stdout)
}

// DashboardInstall builds k9s and places it beside kubectl in the cache folder, without starting it.
func DashboardInstall(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	path, err := dashboard.Install(ctx, cfg, os.Stdout)
	if err == nil {
		fmt.Println(path)
	}
	return err
}

// Status prints what runs: nodes, addresses, API endpoint, Kubernetes version.
func Status(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	s, err := c.Status(ctx)
	fmt.Print(s)
	return err
}

// Init creates the master alone, passing $DIND_KUBEADM_ARGS to kubeadm init; join adds nodes to it.
func Init(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	timeline, err := c.Init(ctx, c.Cfg.KubeadmArgs)
	if len(timeline) > 0 {
		fmt.Println()
		timeline.Print(os.Stdout)
	}
	return err
}

// Join adds one more node to the running cluster, passing $DIND_KUBEADM_ARGS to kubeadm join.
func Join(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	n, timeline, err := c.Join(ctx, c.Cfg.KubeadmArgs)
	if len(timeline) > 0 {
		fmt.Println()
		timeline.Print(os.Stdout)
	}
	if err != nil {
		return err
	}
	fmt.Printf("\n%s joined the cluster at %s\n", n.Name, n.IP)
	return nil
}

// Restore brings the cluster back to its snapshot: as fresh as after its first up.
func Restore(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	req := cluster.RequestOf(c.Cfg)
	req.ForceRestore = true
	return up(ctx, c, req)
}

// Snapshot makes the cluster's present state the one up and restore go back to.
func Snapshot(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	return c.Snapshot(ctx)
}

// Pause freezes every node of the cluster.
func Pause(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	return c.SetPaused(ctx, true)
}

// Unpause thaws the nodes pause froze.
func Unpause(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	return c.SetPaused(ctx, false)
}

// ApiserverPort prints the port the API server is published on, on the Docker host's 127.0.0.1.
func ApiserverPort(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	port, err := c.APIServerPort(ctx)
	if err != nil {
		return err
	}
	fmt.Println(port)
	return nil
}

// loadConfig reads the configuration and shows the config file's warnings.
func loadConfig() (*config.Config, error) {
	cfg, err := config.FromEnvironment()
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	shell.Debug = cfg.Debug
	return cfg, nil
}

func newCluster() (*cluster.Cluster, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, err
	}
	return cluster.New(cfg, os.Stdout), nil
}

// withSignals makes SIGTERM (a cancelled CI job, kill) stop a command as
// Ctrl-C does: the context is cancelled, and the command cleans up.
func withSignals(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGTERM)
}

// Test runs every test: unit tests, and integration tests that build the default version and bring real clusters up (CLUSTER_ID=9).
func Test(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-timeout=85m", "-v", "./...")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// Testcni runs the integration test of the pod network add-ons alone (flannel and kube-router; DIND_TEST_CNI=flannel narrows it), on CLUSTER_ID=6.
func Testcni(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-timeout=40m", "-v", "-run=^TestCNIPlugins$", "./test/")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// Benchnet measures a create of each IP mode and pod network add-on, bridge with IPv4 first, on CLUSTER_ID's cluster.
func Benchnet(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	figures, err := bench.RunNetworks(ctx, os.Stderr)
	fmt.Println()
	path, recErr := bench.Record(figures, cfg.CacheDir, os.Stdout)
	if err := errors.Join(err, recErr); err != nil {
		return err
	}
	fmt.Println("recorded in", path)
	return nil
}

// Bench measures build (warm), up, restore, down, resume, clean and idle memory of the configured cluster, records and prints them.
func Bench(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	figures, err := bench.Run(ctx, cfg, os.Stderr)
	fmt.Println()
	path, recErr := bench.Record(figures, cfg.CacheDir, os.Stdout)
	if err != nil {
		return err
	}
	if recErr != nil {
		return recErr
	}
	fmt.Println("recorded in", path)
	return nil
}

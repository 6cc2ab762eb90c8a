package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// A snapshot is, per node, a gzipped tar of what kubeadm, kubelet and
// dind-cluster wrote into the node's root file system, etcd's data among it
// (compacted: see etcdwal.go). With the node image and the node's volumes,
// which a restore keeps, it makes the node again. It is streamed out of and
// into the nodes, so it works with a remote engine, and kept in the cache
// folder, per engine and cluster. `docker commit` of the nodes did the same
// job 5 times slower: the engine compares whole file systems to find the few
// files that changed.

// snapshotPaths are the node's own files, relative to its root.
var snapshotPaths = []string{"etc/kubernetes", "etc/kubeadm", "etc/dind", "etc/cni/net.d", "etc/machine-id",
	"var/lib/kubelet", "var/lib/etcd", "var/log/kubeadm-init.log", "var/log/kubeadm-join.log"}

// snapshotScript writes the tar on its standard output. etcd is stopped
// meanwhile, so that its files are as a crash would leave them, which etcd
// recovers from. Should the script be killed half-way, a watchdog resumes
// etcd a minute later. tar's status 1 (a file changed as it was read: kubelet
// rewrites its checkpoints) is no failure; etcd's files cannot change.
var snapshotScript = `set -o errexit -o nounset -o pipefail
paths=""
for p in ` + strings.Join(snapshotPaths, " ") + `; do [ -e "/$p" ] && paths="$paths $p"; done
pid=$(pgrep -x etcd || true)
if [ -n "$pid" ]; then
  kill -STOP $pid
  (sleep 60; kill -CONT $pid) >/dev/null 2>&1 &
  trap 'kill -CONT $pid' EXIT
fi
tar -C / --create --exclude='*.sock' --exclude='var/lib/etcd/member/wal/*.tmp' $paths || [ $? -eq 1 ]`

// snapshotDir holds the cluster's snapshot on this engine.
func (c *Cluster) snapshotDir(ctx context.Context) (string, error) {
	if c.engineID == "" {
		id, err := shell.Docker("info", "--format", "{{.ID}}").Output(ctx)
		if err != nil {
			return "", err
		}
		c.engineID = strings.NewReplacer(":", "", "/", "").Replace(id)
	}
	return filepath.Join(c.Cfg.CacheDir, "snapshots", c.engineID, c.Cfg.ClusterName()), nil
}

func snapshotFile(dir string, n Node) string { return filepath.Join(dir, n.Name+".tar.gz") }

// takeSnapshot keeps the state of every node of nodes; the snapshot before
// it is replaced only when all are taken.
func (c *Cluster) takeSnapshot(ctx context.Context, nodes []Node) error {
	dir, err := c.snapshotDir(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), c.Cfg.ClusterName()+".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range nodes {
		g.Go(func() error {
			f, err := os.Create(snapshotFile(tmp, n))
			if err != nil {
				return err
			}
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				err := compactSnapshot(f, pr)
				pr.CloseWithError(err)
				done <- err
			}()
			err = shell.Docker("exec", n.Name, "bash", "-c", snapshotScript).WithStdout(pw).Run(gctx)
			pw.CloseWithError(err)
			err = errors.Join(err, <-done, f.Close())
			if err != nil {
				return fmt.Errorf("snapshot of %s: %w", n.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// hasSnapshot reports whether every configured node has a snapshot.
func (c *Cluster) hasSnapshot(ctx context.Context) bool {
	dir, err := c.snapshotDir(ctx)
	if err != nil {
		return false
	}
	for _, n := range c.Nodes() {
		if _, err := os.Stat(snapshotFile(dir, n)); err != nil {
			return false
		}
	}
	return true
}

// removeSnapshot forgets the cluster's snapshot, and what a snapshot that
// was killed half-way left.
func (c *Cluster) removeSnapshot(ctx context.Context) error {
	dir, err := c.snapshotDir(ctx)
	if err != nil {
		return err
	}
	errs := []error{os.RemoveAll(dir)}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), filepath.Base(dir)+".new-") {
			errs = append(errs, os.RemoveAll(filepath.Join(filepath.Dir(dir), e.Name())))
		}
	}
	return errors.Join(errs...)
}

// restoreNode replaces node n by a fresh container of the node image with
// its snapshot in place. The node keeps its volumes: kubelet removes the
// pods that the snapshot does not know, and the preloaded images need no
// copying. The replacement is made, under the name stagedName(n), while the
// old container goes; only its start waits for the old one's address and
// port.
func (c *Cluster) restoreNode(ctx context.Context, n Node, port int) error {
	dir, err := c.snapshotDir(ctx)
	if err != nil {
		return err
	}
	staged := stagedName(n)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if !c.ours[n.Name] {
			return nil // an interrupted restore removed it (a foreign one Plan refuses)
		}
		return shell.Docker("rm", "--force", "--volumes", n.Name).Run(gctx)
	})
	g.Go(func() error {
		if err := c.createNode(gctx, n, staged, port); err != nil {
			return err
		}
		f, err := os.Open(snapshotFile(dir, n))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := shell.Docker("cp", "--archive", "-", staged+":/").WithStdin(f).Run(gctx); err != nil {
			return fmt.Errorf("placing the snapshot of %s: %w", n.Name, err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if err := shell.Docker("rename", staged, n.Name).Run(ctx); err != nil {
		return err
	}
	return c.startNode(ctx, n, port)
}

// stagedName is the name of node n's container while a restore prepares it.
func stagedName(n Node) string { return n.Name + stagedSuffix }

const stagedSuffix = "-restoring"

// Snapshot makes the cluster's present state the one up and restore return to.
func (c *Cluster) Snapshot(ctx context.Context) error {
	if err := c.requireNodes(ctx, "running"); err != nil {
		return err
	}
	return c.takeSnapshot(ctx, c.Nodes())
}

// SetPaused freezes or thaws every node.
func (c *Cluster) SetPaused(ctx context.Context, paused bool) error {
	want, verb := "running", "pause"
	if !paused {
		want, verb = "paused", "unpause"
	}
	if err := c.requireNodes(ctx, want); err != nil {
		return err
	}
	return shell.Docker(append([]string{verb}, c.Cfg.NodeNames()...)...).Run(ctx)
}

// APIServerPort is the port the API server is published on.
func (c *Cluster) APIServerPort(ctx context.Context) (int, error) {
	if err := c.requireNodes(ctx, ""); err != nil {
		return 0, err
	}
	return c.publishedPort(ctx)
}

// requireNodes checks that every configured node exists, in state when given.
func (c *Cluster) requireNodes(ctx context.Context, state string) error {
	containers, err := c.Containers(ctx)
	if err != nil {
		return err
	}
	have := map[string]string{}
	for _, ct := range containers {
		have[ct.Name] = ct.State
	}
	for _, n := range c.Cfg.NodeNames() {
		s, ok := have[n]
		if !ok {
			return fmt.Errorf("cluster %s has no node %s: run up first", c.Cfg.ClusterName(), n)
		}
		if state != "" && s != state {
			return fmt.Errorf("node %s is %s, not %s", n, s, state)
		}
	}
	return nil
}

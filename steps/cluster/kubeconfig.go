package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/dind-cluster/dind-cluster/steps/kubeconfig"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// kubectl runs a kubectl on one context of one kubeconfig file.
type kubectl struct {
	path, kubeconfig, context string
}

func (k kubectl) cmd(args ...string) *shell.Cmd {
	return shell.Command(k.path, append([]string{"--kubeconfig", k.kubeconfig, "--context", k.context}, args...)...)
}

// kubectlPath is the kubectl of version, as installKubectl placed it, or
// the newest one placed, or the one on PATH.
func (c *Cluster) kubectlPath(version string) string {
	for _, name := range []string{"kubectl-" + version, "kubectl"} {
		path := filepath.Join(c.Cfg.CacheDir, name)
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	return "kubectl"
}

// installKubectl places the cluster's kubectl in the cache folder as
// kubectl-VERSION, and as kubectl, as the seed did, so that users can put
// that folder in their PATH.
func (r *run) installKubectl() error {
	if err := os.MkdirAll(r.Cfg.CacheDir, 0o755); err != nil {
		return err
	}
	for _, path := range []string{r.installedKubectl(), filepath.Join(r.Cfg.CacheDir, "kubectl")} {
		if path == r.kubectl {
			continue
		}
		if err := copyExecutable(r.kubectl, path); err != nil {
			return fmt.Errorf("placing kubectl in %s: %w", r.Cfg.CacheDir, err)
		}
	}
	r.kubectl = r.installedKubectl()
	return nil
}

// installedKubectl is where installKubectl places the cluster's kubectl.
func (r *run) installedKubectl() string {
	return filepath.Join(r.Cfg.CacheDir, "kubectl-"+r.Cfg.Versions.Kubernetes)
}

// copyExecutable copies src to dst through a temporary file and a rename,
// so that a kubectl running from dst is never overwritten under it.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// adminEntry is the cluster's admin credentials, from the master's
// admin.conf, for its API server at port on the Docker host.
func (c *Cluster) adminEntry(ctx context.Context, port int) (kubeconfig.Entry, error) {
	admin, err := c.Docker.ExecOutput(ctx, c.Cfg.MasterName(), "cat", "/etc/kubernetes/admin.conf")
	if err != nil {
		return kubeconfig.Entry{}, fmt.Errorf("reading admin.conf from %s: %w", c.Cfg.MasterName(), err)
	}
	return kubeconfig.FromAdminConf([]byte(admin), c.Cfg.ContextName(), "https://127.0.0.1:"+strconv.Itoa(port))
}

// adminKubectl is a kubectl on the cluster through a kubeconfig of
// dind-cluster's own, which cleanup removes: commands that only read the
// cluster never touch the user's kubeconfig.
func (c *Cluster) adminKubectl(ctx context.Context, port int, version string) (kubectl, func(), error) {
	e, err := c.adminEntry(ctx, port)
	if err != nil {
		return kubectl{}, nil, err
	}
	return c.privateKubectl(e, c.kubectlPath(version))
}

func (c *Cluster) privateKubectl(e kubeconfig.Entry, path string) (kubectl, func(), error) {
	dir := filepath.Join(c.Cfg.CacheDir, "kubeconfigs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return kubectl{}, nil, err
	}
	removeOrphanKubeconfigs(dir)
	f, err := os.CreateTemp(dir, fmt.Sprintf("%d-", os.Getpid()))
	if err != nil {
		return kubectl{}, nil, err
	}
	f.Close()
	cleanup := func() { os.Remove(f.Name()) }
	if err := kubeconfig.Write(f.Name(), e); err != nil {
		cleanup()
		return kubectl{}, nil, err
	}
	return kubectl{path: path, kubeconfig: f.Name(), context: e.Name}, cleanup, nil
}

// writeKubeconfig learns the API server's port, merges the cluster's
// context into the user's kubeconfig and makes it current, and calls
// DIND_PORT_FORWARDER.
func (r *run) writeKubeconfig(ctx context.Context) error {
	if err := r.privateKubeconfig(ctx); err != nil {
		return err
	}
	// A restored or resumed cluster keeps its certificates and port: its
	// context is usually written already.
	if have, err := kubeconfig.Has(r.Cfg.Kubeconfigs, r.entry, true); err != nil {
		return err
	} else if !have {
		if err := kubeconfig.Merge(r.Cfg.Kubeconfigs, r.entry, true); err != nil {
			return fmt.Errorf("writing context %s: %w", r.entry.Name, err)
		}
	}
	return r.runPortForwarder(ctx)
}

// removeContext deletes the cluster's context, cluster and user entries
// from the user's kubeconfig when they are this cluster's (its CA has
// fingerprint ca), and nothing else.
func (c *Cluster) removeContext(ca string) error {
	name := c.Cfg.ContextName()
	removed, note, err := kubeconfig.Remove(c.Cfg.Kubeconfigs, name, func(caData []byte, _ string) bool {
		return ca != "" && fingerprint(caData) == ca
	})
	if note != "" {
		c.logf("%s", note)
	}
	if removed {
		c.logf("removed context %s from the kubeconfig", name)
	}
	return err
}

// runPortForwarder calls DIND_PORT_FORWARDER with the API server's port. It
// writes to the terminal, not into a pipe: a forwarder that leaves a helper
// running (ssh -L in the background) must not hold up.
func (r *run) runPortForwarder(ctx context.Context) error {
	if r.Cfg.PortForwarder == "" {
		return nil
	}
	if err := shell.Command(r.Cfg.PortForwarder, strconv.Itoa(r.port)).WithTerminal().Run(ctx); err != nil {
		return fmt.Errorf("DIND_PORT_FORWARDER=%s: %w", r.Cfg.PortForwarder, err)
	}
	return nil
}

// removeOrphanKubeconfigs removes the private kubeconfigs of dind-cluster
// processes that were killed before they could: they hold a cluster's admin
// key. Each is named after the PID of the process it belongs to.
func removeOrphanKubeconfigs(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		pid, _, _ := strings.Cut(e.Name(), "-")
		if n, err := strconv.Atoi(pid); err == nil && n != os.Getpid() && syscall.Kill(n, 0) == syscall.ESRCH {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

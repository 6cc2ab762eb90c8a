package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// publishedPort asks Docker where the master's API server port is published.
func (c *Cluster) publishedPort(ctx context.Context) (int, error) {
	out, err := shell.Docker("port", c.Master().Name, strconv.Itoa(apiServerPort)+"/tcp").Lines(ctx)
	if err != nil {
		return 0, err
	}
	for _, l := range out {
		if i := strings.LastIndex(l, ":"); i >= 0 {
			if p, err := strconv.Atoi(l[i+1:]); err == nil {
				return p, nil
			}
		}
	}
	return 0, fmt.Errorf("the API server port of %s is not published", c.Master().Name)
}

// boundPort is the host port container asks for its API server port, 0
// when it asks for none or a free one.
func boundPort(ctx context.Context, container string) int {
	out, _ := shell.Docker("inspect", "--format",
		`{{range (index .HostConfig.PortBindings "`+strconv.Itoa(apiServerPort)+`/tcp")}}{{.HostPort}}{{end}}`, container).Output(ctx)
	port, _ := strconv.Atoi(strings.TrimSpace(out))
	return port
}

// kubectlCmd runs the cluster's kubectl against the user's kubeconfig.
func (c *Cluster) kubectlCmd(args ...string) *shell.Cmd {
	return shell.Command(c.kubectl(), append([]string{"--kubeconfig", c.Cfg.Kubeconfig()}, args...)...)
}

// KubectlOnCluster runs kubectl on this cluster's context.
func (c *Cluster) KubectlOnCluster(args ...string) *shell.Cmd {
	return c.kubectlCmd(append([]string{"--context", c.Cfg.ContextName()}, args...)...)
}

func (c *Cluster) kubectl() string {
	if c.Kubectl != "" {
		return c.Kubectl
	}
	installed := filepath.Join(c.Cfg.CacheDir, "kubectl")
	if _, err := os.Stat(installed); err == nil {
		return installed
	}
	return "kubectl"
}

// installKubectl places kubectl in the cache folder, as the seed did, so
// that users can put that folder in their PATH.
func (c *Cluster) installKubectl() error {
	if c.Kubectl == "" {
		return errors.New("no kubectl was built")
	}
	dst := filepath.Join(c.Cfg.CacheDir, "kubectl")
	if err := os.MkdirAll(c.Cfg.CacheDir, 0o755); err != nil {
		return err
	}
	src, err := os.Open(c.Kubectl)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(c.Cfg.CacheDir, ".kubectl-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	c.Kubectl = dst
	return nil
}

// writeContext merges the cluster's context into the user's kubeconfig,
// leaving every other context alone, and makes it the current one.
func (c *Cluster) writeContext(ctx context.Context) error {
	admin, err := shell.Docker("exec", c.Master().Name, "cat", "/etc/kubernetes/admin.conf").Output(ctx)
	if err != nil {
		return fmt.Errorf("reading admin.conf from %s: %w", c.Master().Name, err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(admin, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if ok && strings.HasSuffix(k, "-data") {
			fields[k] = v
		}
	}
	for _, k := range []string{"certificate-authority-data", "client-certificate-data", "client-key-data"} {
		if fields[k] == "" {
			return fmt.Errorf("admin.conf on %s has no %s", c.Master().Name, k)
		}
	}
	if err := os.MkdirAll(filepath.Dir(c.Cfg.Kubeconfig()), 0o755); err != nil {
		return err
	}
	name := c.Cfg.ContextName()
	server := fmt.Sprintf("https://127.0.0.1:%d", c.Port)
	// A restored or resumed cluster keeps its certificates and port: its
	// context is usually written already.
	have, err := c.kubectlCmd("config", "view", "--raw", "--output=jsonpath="+
		`{.clusters[?(@.name=="`+name+`")].cluster.server} {.clusters[?(@.name=="`+name+`")].cluster.certificate-authority-data} `+
		`{.users[?(@.name=="`+name+`")].user.client-key-data} {.current-context}`).Output(ctx)
	if err == nil && have == strings.Join([]string{server, fields["certificate-authority-data"], fields["client-key-data"], name}, " ") {
		return nil
	}
	for _, args := range [][]string{
		{"config", "set-cluster", name, "--server=" + server},
		{"config", "set", "clusters." + name + ".certificate-authority-data", fields["certificate-authority-data"]},
		{"config", "set-credentials", name},
		{"config", "set", "users." + name + ".client-certificate-data", fields["client-certificate-data"]},
		{"config", "set", "users." + name + ".client-key-data", fields["client-key-data"]},
		{"config", "set-context", name, "--cluster=" + name, "--user=" + name},
		{"config", "use-context", name},
	} {
		if err := c.kubectlCmd(args...).Run(ctx); err != nil {
			return fmt.Errorf("writing context %s to %s: %w", name, c.Cfg.Kubeconfig(), err)
		}
	}
	return nil
}

// removeContext deletes the cluster's context, cluster and user entries from
// the user's kubeconfig, and nothing else.
func (c *Cluster) removeContext(ctx context.Context) error {
	if _, err := os.Stat(c.Cfg.Kubeconfig()); err != nil {
		return nil
	}
	name := c.Cfg.ContextName()
	current, _ := c.kubectlCmd("config", "current-context").Output(ctx)
	contexts, err := c.kubectlCmd("config", "get-contexts", "--output=name").Lines(ctx)
	if err != nil {
		if _, lookErr := exec.LookPath(c.kubectl()); lookErr != nil {
			return fmt.Errorf("no kubectl to remove context %s from %s with: run `up` once, or remove it by hand", name, c.Cfg.Kubeconfig())
		}
		return err
	}
	has := false
	for _, n := range contexts {
		has = has || n == name
	}
	if !has {
		return nil
	}
	if current == name {
		if err := c.kubectlCmd("config", "unset", "current-context").Run(ctx); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"config", "delete-context", name}, {"config", "delete-cluster", name}, {"config", "unset", "users." + name},
	} {
		if err := c.kubectlCmd(args...).Run(ctx); err != nil {
			return fmt.Errorf("removing %s from %s: %w", name, c.Cfg.Kubeconfig(), err)
		}
	}
	return nil
}

// runPortForwarder calls DIND_PORT_FORWARDER with the API server's port.
func (c *Cluster) runPortForwarder(ctx context.Context) error {
	if c.Cfg.PortForwarder == "" {
		return nil
	}
	// On the terminal, not through pipes: a forwarder may leave a helper
	// (ssh -L) running, which would hold pipes open.
	if err := shell.Command(c.Cfg.PortForwarder, strconv.Itoa(c.Port)).WithTerminal().Run(ctx); err != nil {
		return fmt.Errorf("DIND_PORT_FORWARDER=%s: %w", c.Cfg.PortForwarder, err)
	}
	return nil
}

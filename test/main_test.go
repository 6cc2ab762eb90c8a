// Package test holds the integration tests: they compile dind-cluster, bring
// a real cluster up on the Docker engine and use it as a user would. They
// need Docker and take minutes (the first run builds Kubernetes); set
// DIND_SKIP_INTEGRATION=why to skip them, with that reason in the output.
package test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests' cluster has an ID of its own, so that it never touches a
// user's default cluster, and its own kubeconfig.
const (
	clusterID    = "9"
	contextName  = "dind-cluster-9"
	clusterLabel = "dind-cluster.cluster=cluster-9"
	master       = "kube-master-cluster-9"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
	workDir   string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dind-cluster-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dindCluster returns the compiled dind-cluster, building it on first use.
func dindCluster(t *testing.T) string {
	t.Helper()
	if why := os.Getenv("DIND_SKIP_INTEGRATION"); why != "" {
		t.Skipf("integration test skipped: DIND_SKIP_INTEGRATION=%s", why)
	}
	buildOnce.Do(func() {
		binary = filepath.Join(workDir, "dind-cluster")
		cmd := exec.Command("go", "run", "mage.go", "-compile", binary)
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("compiling dind-cluster: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// clusterEnv is the environment of the tests' cluster, plus extra.
func clusterEnv(extra ...string) []string {
	env := append(os.Environ(), "CLUSTER_ID="+clusterID, "NUM_NODES=2",
		"KUBECONFIG="+filepath.Join(workDir, "kubeconfig"))
	return append(env, extra...)
}

// run runs dind-cluster with args in the tests' cluster environment,
// streaming its output to the test log, and returns the output.
func run(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(dindCluster(t), args...)
	cmd.Env = env
	var out bytes.Buffer
	w := io.MultiWriter(&out, prefixed(os.Stderr, "    | "))
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	err := cmd.Run()
	t.Logf("dind-cluster %s: %.1fs", strings.Join(args, " "), time.Since(start).Seconds())
	return out.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, clusterEnv(), args...)
	if err != nil {
		t.Fatalf("dind-cluster %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// kubectl runs the kubectl dind-cluster installed, on the tests' cluster.
func kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home, _ := os.UserHomeDir()
	path := filepath.Join(home, ".kubeadm-dind-cluster", "kubectl")
	if dir := os.Getenv("DIND_CACHE_DIR"); dir != "" {
		path = filepath.Join(dir, "kubectl")
	}
	cmd := exec.Command(path, append([]string{"--kubeconfig", filepath.Join(workDir, "kubeconfig"), "--context", contextName}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectl(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// eventually retries check until it passes or limit passes.
func eventually(t *testing.T, limit time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, limit, err)
		}
		time.Sleep(time.Second)
	}
}

type prefixWriter struct {
	w      io.Writer
	prefix string
	mid    bool
}

func prefixed(w io.Writer, prefix string) io.Writer { return &prefixWriter{w: w, prefix: prefix} }

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out bytes.Buffer
	for _, c := range b {
		if !p.mid {
			out.WriteString(p.prefix)
		}
		out.WriteByte(c)
		p.mid = c != '\n'
	}
	_, err := p.w.Write(out.Bytes())
	return len(b), err
}

// answers tells whether an HTTP GET of url answers with a body that starts
// with prefix.
func answers(url, prefix string) error {
	client := http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(string(body), prefix) {
		return fmt.Errorf("%s answered %q", url, body)
	}
	return nil
}

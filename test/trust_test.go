package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestInterruptedUpsAreFinishedOrCleaned stops up at several moments, by
// SIGTERM (a cancelled CI job) and SIGKILL: the user's kubeconfig always
// parses and keeps their other contexts, no lock is left behind, the next
// up makes a cluster of what an unfinished one left, and clean leaves
// nothing.
func TestInterruptedUpsAreFinishedOrCleaned(t *testing.T) {
	dindCluster(t)
	mustRun(t, "clean")
	t.Cleanup(func() { run(t, clusterEnv(), "clean") })
	kubeconfig := filepath.Join(workDir, "kubeconfig")
	if out, err := exec.Command(kubectlPath(), "--kubeconfig", kubeconfig, "config", "set-context", "users-own",
		"--cluster=elsewhere", "--namespace=mine").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	kubeconfigIntact := func(t *testing.T) {
		t.Helper()
		out, err := exec.Command(kubectlPath(), "--kubeconfig", kubeconfig, "config", "get-contexts", "--output=name").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "users-own") {
			t.Errorf("the kubeconfig does not parse or lost the user's context: %v: %s", err, out)
		}
		if _, err := os.Stat(kubeconfig + ".lock"); err == nil {
			t.Errorf("%s.lock was left behind: every later kubectl config command would fail", kubeconfig)
		}
	}
	nothingLeft := func(t *testing.T) {
		t.Helper()
		for _, kind := range [][]string{{"ps", "--all"}, {"volume", "ls"}, {"network", "ls"}} {
			if out, _ := docker(t, append(kind, "--quiet", "--filter", "label="+clusterLabel)...); out != "" {
				t.Errorf("after clean, docker %s lists %q", kind[0], out)
			}
		}
		if out, _ := exec.Command(kubectlPath(), "--kubeconfig", kubeconfig, "config", "get-contexts", "--output=name").Output(); strings.Contains(string(out), contextName) {
			t.Errorf("after clean, the kubeconfig still has context %s", contextName)
		}
	}

	t.Run("SIGTERM during kubeadm init, then up makes the cluster", func(t *testing.T) {
		if !interruptedUp(t, syscall.SIGTERM, func(out string) bool { return strings.Contains(out, "==> kubeadm-init") }) {
			t.Fatal("up never reached kubeadm init")
		}
		kubeconfigIntact(t)
		out := mustRun(t, "up")
		if !strings.Contains(out, "removing what an unfinished up of cluster cluster-9 left") || !strings.Contains(out, "created") {
			t.Errorf("up after an interrupted one did not remove the leftovers and create the cluster:\n%s", out)
		}
		kubeconfigIntact(t)
		mustRun(t, "clean")
		nothingLeft(t)
	})
	t.Run("SIGKILL while the kubeconfig is written, then clean", func(t *testing.T) {
		if !interruptedUp(t, syscall.SIGKILL, func(out string) bool { return strings.Contains(out, "==> kubeconfig") }) {
			t.Fatal("up never reached the kubeconfig step")
		}
		kubeconfigIntact(t)
		mustRun(t, "clean")
		nothingLeft(t)
		kubeconfigIntact(t)
	})
	t.Run("SIGTERM while waiting for the nodes, then clean", func(t *testing.T) {
		if !interruptedUp(t, syscall.SIGTERM, func(out string) bool { return strings.Contains(out, "==> ready") }) {
			t.Fatal("up never reached the wait for the nodes")
		}
		kubeconfigIntact(t)
		if files := orphanKubeconfigs(); len(files) > 0 {
			t.Errorf("an interrupted up left private kubeconfigs, which hold the admin key: %v", files)
		}
		mustRun(t, "clean")
		nothingLeft(t)
	})
}

// orphanKubeconfigs are the private kubeconfigs of the cache folder that
// belong to no running process: each is named after its process's PID. (A
// dind-cluster that runs beside the tests has its own.)
func orphanKubeconfigs() []string {
	files, _ := filepath.Glob(filepath.Join(cacheDir(), "kubeconfigs", "*"))
	var out []string
	for _, f := range files {
		pid, _, _ := strings.Cut(filepath.Base(f), "-")
		if n, err := strconv.Atoi(pid); err != nil || syscall.Kill(n, 0) == syscall.ESRCH {
			out = append(out, f)
		}
	}
	return out
}

package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// dumpAndSplit runs `dump` (or `dump64`) and feeds its output to
// `split-dump` (or `split-dump64`) in a fresh folder; it returns the files
// written, by path relative to cluster-dump/.
func dumpAndSplit(t *testing.T, env []string, target string) (map[string]string, int) {
	t.Helper()
	cmd := exec.Command(dindCluster(t), target)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", target, err, errOut.String())
	}
	size := out.Len()
	t.Logf("%s: %.1fs, %d bytes; %s", target, time.Since(start).Seconds(), size, strings.TrimSpace(errOut.String()))
	dir, err := os.MkdirTemp(workDir, target+"-")
	if err != nil {
		t.Fatal(err)
	}
	split := exec.Command(dindCluster(t), "split-"+target)
	split.Dir = dir
	split.Stdin = &out
	if msg, err := split.CombinedOutput(); err != nil {
		t.Fatalf("split-%s: %v\n%s", target, err, msg)
	}
	files := map[string]string{}
	root := filepath.Join(dir, "cluster-dump")
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			b, _ := os.ReadFile(p)
			files[rel] = string(b)
		}
		return nil
	})
	return files, size
}

// checkDump dumps the running cluster both ways and checks what the files
// hold; then it stops the API server and checks the nodes still dump.
func checkDump(t *testing.T, env []string) {
	text, _ := dumpAndSplit(t, env, "dump")
	packed, size := dumpAndSplit(t, env, "dump64")
	t.Logf("dump64 of the idle cluster: %d bytes of base64", size)
	for _, node := range []string{master, "kube-node-1-cluster-9", "kube-node-2-cluster-9"} {
		for _, f := range []string{"kubelet.log", "kubelet.status", "containerd.log", "ps.txt", "ip-a.txt", "ip-r.txt", "containers.txt"} {
			if strings.TrimSpace(packed[node+"/"+f]) == "" {
				t.Errorf("the dump has no %s/%s", node, f)
			}
		}
	}
	if !strings.Contains(packed["cluster/nodes.txt"], "kube-node-2-cluster-9") {
		t.Errorf("cluster/nodes.txt: %q", packed["cluster/nodes.txt"])
	}
	podLogs := 0
	for name := range packed {
		if strings.HasPrefix(name, "cluster/pods/kube-system/") {
			podLogs++
		}
	}
	if podLogs == 0 {
		t.Error("the dump holds no log of a kube-system pod")
	}
	if a, b := names(text), names(packed); a != b {
		t.Errorf("dump and dump64 give different files:\n%s\n%s", a, b)
	}

	// With the API server stopped the nodes still dump, and the dump says what failed.
	if _, err := docker(t, "exec", master, "mv", "/etc/kubernetes/manifests/kube-apiserver.yaml", "/etc/kubernetes/"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "the API server to stop", func() error {
		if _, err := kubectl(t, "get", "nodes", "--request-timeout=2s"); err == nil {
			return fmt.Errorf("it still answers")
		}
		return nil
	})
	broken, _ := dumpAndSplit(t, env, "dump64")
	if strings.TrimSpace(broken[master+"/kubelet.log"]) == "" {
		t.Error("with the API server down the dump lost the node sections")
	}
	if !strings.Contains(broken["cluster/api-server.txt"], "does not answer") {
		t.Errorf("the dump does not record that the API server failed: %q", broken["cluster/api-server.txt"])
	}
	if _, err := docker(t, "exec", master, "mv", "/etc/kubernetes/kube-apiserver.yaml", "/etc/kubernetes/manifests/"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "the API server to come back", func() error {
		_, err := kubectl(t, "get", "nodes", "--request-timeout=5s")
		return err
	})
}

func names(files map[string]string) string {
	var out []string
	for n := range files {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLocalRegistry pushes from the Docker host to the local registry as a
// user would, runs pods of it on every node, and of an image served through
// mirror mode with PullAlways, and keeps the images through a restart of
// the registry and a clean of the cluster.
func TestLocalRegistry(t *testing.T) {
	dindCluster(t)
	env := clusterEnv("DIND_REGISTRY_MIRROR=on")
	mustRun(t, "clean")
	t.Cleanup(func() { run(t, clusterEnv(), "clean") })
	if out, err := run(t, env, "up"); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	makeTestImage(t)

	pushed := "localhost:5001/dind-cluster-test/app:1"
	for _, args := range [][]string{{"tag", testImage, pushed}, {"push", "--quiet", pushed}} {
		if out, err := docker(t, args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	// A name pods know from elsewhere, served by the local registry in
	// mirror mode: nothing outside this machine is asked.
	mirrored := "registry.k8s.io/dind-cluster-test/mirrored:1"
	if _, err := docker(t, "tag", testImage, mirrored); err != nil {
		t.Fatal(err)
	}
	defer docker(t, "rmi", mirrored)
	if out, err := run(t, env, "push", mirrored); err != nil || !strings.Contains(out, "localhost:5001/registry.k8s.io/dind-cluster-test/mirrored:1") {
		t.Fatalf("push %s: %v\n%s", mirrored, err, out)
	}

	everyNode := func(t *testing.T, name, image string) {
		t.Helper()
		manifest := filepath.Join(workDir, name+".yaml")
		os.WriteFile(manifest, []byte(fmt.Sprintf(pullingDaemonSet, name, name, name, image)), 0o644)
		mustKubectl(t, "apply", "--filename", manifest)
		mustKubectl(t, "rollout", "status", "daemonset/"+name, "--timeout=120s")
		nodes := mustKubectl(t, "get", "pods", "--selector=app="+name, "--output=jsonpath={.items[*].spec.nodeName}")
		if len(strings.Fields(nodes)) != 3 {
			t.Errorf("pods of %s run on %q; want all 3 nodes", image, nodes)
		}
	}
	t.Run("pods of an image pushed from the host run on every node", func(t *testing.T) { everyNode(t, "pushed", pushed) })
	t.Run("pods pull through the mirror with PullAlways", func(t *testing.T) { everyNode(t, "mirrored", mirrored) })
	t.Run("the cluster advertises the registry", func(t *testing.T) {
		hosting := mustKubectl(t, "--namespace=kube-public", "get", "configmap", "local-registry-hosting",
			"--output=jsonpath={.data.localRegistryHosting\\.v1}")
		if !strings.Contains(hosting, `host: "localhost:5001"`) {
			t.Errorf("local-registry-hosting says %q", hosting)
		}
	})
	t.Run("images survive a restart of the registry", func(t *testing.T) {
		if out, err := docker(t, "restart", "dind-registry"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		mustKubectl(t, "delete", "pods", "--selector=app=pushed", "--wait=false")
		mustKubectl(t, "rollout", "status", "daemonset/pushed", "--timeout=120s")
	})
	t.Run("clean of a cluster leaves the registry and its images", func(t *testing.T) {
		mustRun(t, "clean")
		if out, err := docker(t, "inspect", "--format", "{{.State.Status}}", "dind-registry"); err != nil || out != "running" {
			t.Errorf("after clean the registry is %q (%v)", out, err)
		}
		repos := catalog(t)
		for _, want := range []string{"dind-cluster-test/app", "registry.k8s.io/dind-cluster-test/mirrored"} {
			if !slices.Contains(repos, want) {
				t.Errorf("after clean the registry holds %v; want %s among them", repos, want)
			}
		}
	})
}

const pullingDaemonSet = `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: %s}
spec:
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      tolerations: [{operator: Exists}]
      containers:
      - name: app
        image: %s
        imagePullPolicy: Always
        args: [serve]
`

// catalog lists the repositories of the local registry, asked on the
// Docker host's 127.0.0.1:5001.
func catalog(t *testing.T) []string {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://127.0.0.1:5001/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var c struct{ Repositories []string }
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("catalog %q: %v", body, err)
	}
	return c.Repositories
}

package test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCNIPlugins brings up a cluster on each pod network add-on that routes
// itself (CLUSTER_ID=6, a kubeconfig of its own) and checks what a user
// relies on: each node's pods get addresses from the subnet the
// controller-manager gave that node, pods on different nodes reach each other
// by address and through a Service by its DNS name, and, where the add-on
// enforces NetworkPolicy, a policy is enforced. DIND_TEST_CNI narrows the
// plugins (a comma-separated list); `go run mage.go testcni` runs this test
// alone.
func TestCNIPlugins(t *testing.T) {
	dindCluster(t)
	plugins := []string{"flannel", "kube-router"}
	if only := os.Getenv("DIND_TEST_CNI"); only != "" {
		plugins = strings.Split(only, ",")
		t.Logf("DIND_TEST_CNI=%s: testing %v only", only, plugins)
	}
	enforcesPolicy := map[string]bool{"kube-router": true}
	for _, plugin := range plugins {
		t.Run(plugin, func(t *testing.T) {
			kubeconfig := filepath.Join(workDir, "kubeconfig-cni-"+plugin)
			env := clusterEnv("KUBECONFIG="+kubeconfig, "CLUSTER_ID=6", "NUM_NODES=1", "CNI_PLUGIN="+plugin)
			run(t, env, "clean")
			t.Cleanup(func() { run(t, env, "clean") })
			start := time.Now()
			if out, err := run(t, env, "up"); err != nil {
				t.Fatalf("up: %v\n%s", err, out)
			}
			t.Logf("CNI_PLUGIN=%s: up took %.0fs", plugin, time.Since(start).Seconds())
			kubectl := func(args ...string) (string, error) {
				out, err := exec.Command(kubectlPath(), append([]string{"--kubeconfig", kubeconfig, "--context", "dind-cluster-6"}, args...)...).CombinedOutput()
				return strings.TrimSpace(string(out)), err
			}
			checkPodNetwork(t, env, kubectl, enforcesPolicy[plugin])
		})
	}
}

// checkPodNetwork runs a server pod on each of two nodes and checks pod to
// pod, Service by name, the pods' subnets and, with policy, a NetworkPolicy.
func checkPodNetwork(t *testing.T, env []string, kubectl func(args ...string) (string, error), policy bool) {
	must := func(args ...string) string {
		t.Helper()
		out, err := kubectl(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	makeTestImage(t)
	if out, err := run(t, env, "load", testImage); err != nil {
		t.Fatalf("load: %v\n%s", err, out)
	}
	manifest := filepath.Join(workDir, "cni-workload.yaml")
	os.WriteFile(manifest, []byte(cniWorkload), 0o644)
	must("apply", "--filename", manifest)
	must("rollout", "status", "daemonset/net", "--timeout=180s")
	subnets := map[string]string{}
	for _, line := range strings.Fields(must("get", "nodes", "--output=jsonpath={range .items[*]}{.metadata.name}={.spec.podCIDR} {end}")) {
		name, cidr, _ := strings.Cut(line, "=")
		subnets[name] = cidr
	}
	pods := strings.Fields(must("get", "pods", "--selector=app=net", "--output=jsonpath="+
		`{range .items[*]}{.metadata.name},{.spec.nodeName},{.status.podIP} {end}`))
	if len(pods) != 2 {
		t.Fatalf("pods %v; want one on each of the 2 nodes", pods)
	}
	for _, p := range pods {
		f := strings.Split(p, ",")
		cidr, err := netip.ParsePrefix(subnets[f[1]])
		if addr, aerr := netip.ParseAddr(f[2]); err != nil || aerr != nil || !cidr.Contains(addr) {
			t.Errorf("pod %s on %s has address %s, outside the node's pod subnet %q", f[0], f[1], f[2], subnets[f[1]])
		}
	}
	from, to := strings.Split(pods[0], ","), strings.Split(pods[1], ",")
	get := func(pod, url string) (string, error) { return kubectl("exec", pod, "--", "/testapp", "get", url) }
	if out, err := get(from[0], "http://"+to[2]+":8080/"); err != nil || out != to[0] {
		t.Errorf("pod on %s -> pod on %s at %s: %q, %v", from[1], to[1], to[2], out, err)
	}
	if out, err := get(to[0], "http://"+from[2]+":8080/"); err != nil || out != from[0] {
		t.Errorf("pod on %s -> pod on %s at %s: %q, %v", to[1], from[1], from[2], out, err)
	}
	// A Service answers from either pod: ask until both have answered.
	seen := map[string]bool{}
	eventually(t, 30*time.Second, "the Service by name reaching both pods", func() error {
		out, err := get(from[0], "http://net.default.svc.cluster.local/")
		if err != nil {
			return fmt.Errorf("%q: %v", out, err)
		}
		seen[out] = true
		if !seen[from[0]] || !seen[to[0]] {
			return fmt.Errorf("answered by %v only", seen)
		}
		return nil
	})
	if !policy {
		return
	}
	policyFile := filepath.Join(workDir, "cni-policy.yaml")
	os.WriteFile(policyFile, []byte(cniPolicy), 0o644)
	must("apply", "--filename", policyFile)
	must("label", "pod", from[0], "access=yes")
	eventually(t, 30*time.Second, "the NetworkPolicy refusing an unlabelled pod", func() error {
		if out, err := get(to[0], "http://"+from[2]+":8080/"); err == nil {
			return fmt.Errorf("the pod without access=yes still reaches %s: %q", from[2], out)
		}
		return nil
	})
	if out, err := get(from[0], "http://"+to[2]+":8080/"); err != nil || out != to[0] {
		t.Errorf("the pod with access=yes no longer reaches %s: %q, %v", to[2], out, err)
	}
}

const cniWorkload = `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: net}
spec:
  selector: {matchLabels: {app: net}}
  template:
    metadata: {labels: {app: net}}
    spec:
      tolerations: [{operator: Exists}]
      containers:
      - name: app
        image: ` + testImage + `
        imagePullPolicy: Never
        args: [serve]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: net}
spec:
  selector: {app: net}
  ports: [{port: 80, targetPort: 8080}]
`

// Pods of app=net take connections only from pods labelled access=yes.
const cniPolicy = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: net-access}
spec:
  podSelector: {matchLabels: {app: net}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {access: "yes"}}
`

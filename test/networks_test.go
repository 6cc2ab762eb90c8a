package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestClustersSideBySide brings up, at the same time, a dual-stack cluster
// on the ptp plugin (CLUSTER_ID=21), a CLUSTER_ID=20 one and a DIND_LABEL
// one, and checks the seed's names, each cluster's networks and pods, and
// that each is cleaned alone.
func TestClustersSideBySide(t *testing.T) {
	dindCluster(t)
	kubeconfig := filepath.Join(workDir, "kubeconfig-side-by-side")
	envOf := func(extra ...string) []string {
		return append(clusterEnv("KUBECONFIG="+kubeconfig, "NUM_NODES=1", "CLUSTER_ID="), extra...)
	}
	clusters := []struct {
		env             []string
		suffix, context string
		ipv6            bool
	}{
		{envOf("CLUSTER_ID=21", "IP_MODE=dual-stack", "CNI_PLUGIN=ptp"), "-cluster-21", "dind-cluster-21", true},
		{envOf("CLUSTER_ID=20", "NUM_NODES=0"), "-cluster-20", "dind-cluster-20", false},
		{envOf("DIND_LABEL=third", "NUM_NODES=0"), "-third", "dind-third", false},
	}
	for _, c := range clusters {
		run(t, c.env, "clean")
		t.Cleanup(func() { run(t, c.env, "clean") })
	}
	var wg sync.WaitGroup
	for _, c := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := run(t, c.env, "up"); err != nil {
				t.Errorf("up of %s: %v\n%s", c.context, err, out)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	on := func(context string, args ...string) (string, error) {
		out, err := exec.Command(kubectlPath(), append([]string{"--kubeconfig", kubeconfig, "--context", context}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}

	t.Run("the seed's names", func(t *testing.T) {
		for _, c := range clusters {
			for _, name := range []string{"kube-master" + c.suffix, "kubeadm-dind-net" + c.suffix, "kubeadm-dind-kube-master" + c.suffix + "-containerd"} {
				if _, err := docker(t, "inspect", name); err != nil {
					t.Errorf("no Docker object named %s: %v", name, err)
				}
			}
			if nodes, err := on(c.context, "get", "nodes", "--output=name"); err != nil || !strings.Contains(nodes, "node/kube-master"+c.suffix) {
				t.Errorf("context %s: %q, %v", c.context, nodes, err)
			}
		}
		if subnet, _ := docker(t, "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", "kubeadm-dind-net-cluster-20"); !strings.Contains(subnet, "10.192.20.0/24") {
			t.Errorf("CLUSTER_ID=20's network has subnets %q; want 10.192.20.0/24", subnet)
		}
	})
	t.Run("dual-stack: nodes, pods and services of both families, across nodes", func(t *testing.T) {
		checkDualStack(t, func(args ...string) (string, error) { return on("dind-cluster-21", args...) })
	})
	t.Run("each cluster is cleaned alone", func(t *testing.T) {
		if out, err := run(t, clusters[1].env, "clean"); err != nil {
			t.Fatalf("clean: %v\n%s", err, out)
		}
		if out, _ := docker(t, "ps", "--all", "--quiet", "--filter", "label=dind-cluster.cluster=cluster-20"); out != "" {
			t.Errorf("clean of cluster-20 left %q", out)
		}
		for _, c := range []int{0, 2} {
			if nodes, err := on(clusters[c].context, "get", "nodes", "--output=name"); err != nil {
				t.Errorf("after clean of cluster-20, %s: %q, %v", clusters[c].context, nodes, err)
			}
		}
	})
}

// checkDualStack runs a pod on every node of a dual-stack cluster and
// reaches each from the others over IPv4 and IPv6, and a dual-stack
// Service by name and by each of its addresses.
func checkDualStack(t *testing.T, kubectl func(args ...string) (string, error)) {
	must := func(args ...string) string {
		t.Helper()
		out, err := kubectl(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	addrs := must("get", "nodes", "--output=jsonpath={range .items[*]}{.status.addresses[*].address} {end}")
	if !strings.Contains(addrs, "10.192.21.2") || !strings.Contains(addrs, "fd00:20:21::2") {
		t.Errorf("node addresses %q; want 10.192.21.2 and fd00:20:21::2 among them", addrs)
	}
	makeTestImage(t)
	pushed := "localhost:5001/dind-cluster-test/app:1"
	for _, args := range [][]string{{"tag", testImage, pushed}, {"push", "--quiet", pushed}} {
		if out, err := docker(t, args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	manifest := filepath.Join(workDir, "dual-stack.yaml")
	os.WriteFile(manifest, []byte(fmt.Sprintf(dualStackWorkload, pushed)), 0o644)
	must("apply", "--filename", manifest)
	must("rollout", "status", "daemonset/dual", "--timeout=180s")
	pods := strings.Fields(must("get", "pods", "--selector=app=dual", "--output=jsonpath="+
		`{range .items[*]}{.metadata.name},{.spec.nodeName},{.status.podIPs[0].ip},{.status.podIPs[1].ip} {end}`))
	if len(pods) != 2 {
		t.Fatalf("pods %v; want one on each of the 2 nodes", pods)
	}
	from, to := strings.Split(pods[0], ","), strings.Split(pods[1], ",")
	for _, addr := range to[2:] {
		url := "http://" + addr + ":8080/"
		if strings.Contains(addr, ":") {
			url = "http://[" + addr + "]:8080/"
		}
		if out, err := kubectl("exec", from[0], "--", "/testapp", "get", url); err != nil || out != to[0] {
			t.Errorf("pod on %s -> pod on %s at %s: %q, %v", from[1], to[1], addr, out, err)
		}
	}
	ips := strings.Fields(must("get", "service", "dual", "--output=jsonpath={.spec.clusterIPs[*]}"))
	if len(ips) != 2 || !strings.Contains(ips[1], ":") {
		t.Fatalf("the dual-stack Service has addresses %v", ips)
	}
	for _, target := range []string{"dual.default.svc.cluster.local", ips[0], "[" + ips[1] + "]"} {
		if out, err := kubectl("exec", from[0], "--", "/testapp", "get", "http://"+target+"/"); err != nil || !strings.HasPrefix(out, "dual-") {
			t.Errorf("the Service at %s: %q, %v", target, out, err)
		}
	}
}

const dualStackWorkload = `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: dual}
spec:
  selector: {matchLabels: {app: dual}}
  template:
    metadata: {labels: {app: dual}}
    spec:
      tolerations: [{operator: Exists}]
      containers:
      - name: app
        image: %s
        args: [serve]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: dual}
spec:
  ipFamilyPolicy: RequireDualStack
  selector: {app: dual}
  ports: [{port: 80, targetPort: 8080}]
`

// TestIPv6Cluster makes an IPv6-only cluster and checks its nodes, pods and
// Services, and that a pod reaches an IPv4-only server, made on a Docker
// network of its own, by its name, through DNS64 and NAT64.
func TestIPv6Cluster(t *testing.T) {
	dindCluster(t)
	kubeconfig := filepath.Join(workDir, "kubeconfig-ipv6")
	env := append(clusterEnv("KUBECONFIG="+kubeconfig, "NUM_NODES=1", "CLUSTER_ID=12"), "IP_MODE=ipv6")
	const target, targetNet = "dind-cluster-test-v4-target", "dind-cluster-test-v4-only"
	cleanup := func() {
		docker(t, "rm", "--force", target)
		for _, c := range []string{"dns64-cluster-12", "nat64-cluster-12"} {
			docker(t, "network", "disconnect", "--force", targetNet, c)
		}
		docker(t, "network", "rm", targetNet)
		run(t, env, "clean")
	}
	cleanup()
	t.Cleanup(cleanup)
	if out, err := run(t, env, "up"); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	kubectl := func(args ...string) (string, error) {
		out, err := exec.Command(kubectlPath(), append([]string{"--kubeconfig", kubeconfig, "--context", "dind-cluster-12"}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := kubectl(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if addrs := must("get", "nodes", "--output=jsonpath={.items[*].status.addresses[?(@.type==\"InternalIP\")].address}"); addrs != "fd00:20:12::2 fd00:20:12::3" {
		t.Errorf("node addresses %q; want fd00:20:12::2 fd00:20:12::3", addrs)
	}
	makeTestImage(t)
	pushed := "localhost:5001/dind-cluster-test/app:1"
	for _, args := range [][]string{{"tag", testImage, pushed}, {"push", "--quiet", pushed}} {
		if out, err := docker(t, args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	manifest := filepath.Join(workDir, "ipv6.yaml")
	os.WriteFile(manifest, []byte(strings.ReplaceAll(fmt.Sprintf(dualStackWorkload, pushed), "RequireDualStack", "SingleStack")), 0o644)
	must("apply", "--filename", manifest)
	must("rollout", "status", "daemonset/dual", "--timeout=180s")
	pods := strings.Fields(must("get", "pods", "--selector=app=dual", "--output=jsonpath="+
		`{range .items[*]}{.metadata.name},{.spec.nodeName},{.status.podIP} {end}`))
	if len(pods) != 2 {
		t.Fatalf("pods %v; want one on each of the 2 nodes", pods)
	}
	from, to := strings.Split(pods[0], ","), strings.Split(pods[1], ",")
	if out, err := kubectl("exec", from[0], "--", "/testapp", "get", "http://["+to[2]+"]:8080/"); err != nil || out != to[0] {
		t.Errorf("pod on %s -> pod on %s at %s: %q, %v", from[1], to[1], to[2], out, err)
	}
	if out, err := kubectl("exec", from[0], "--", "/testapp", "get", "http://dual.default.svc.cluster.local/"); err != nil || !strings.HasPrefix(out, "dual-") {
		t.Errorf("the Service by name: %q, %v", out, err)
	}

	t.Run("an IPv4-only server by name, through DNS64 and NAT64", func(t *testing.T) {
		for _, args := range [][]string{
			{"network", "create", "--subnet", "10.251.0.0/24", targetNet},
			{"run", "--detach", "--name", target, "--network", targetNet, testImage, "serve"},
			{"network", "connect", targetNet, "dns64-cluster-12"},
			{"network", "connect", targetNet, "nat64-cluster-12"},
		} {
			if out, err := docker(t, args...); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
		}
		if out, err := kubectl("exec", from[0], "--", "/testapp", "lookup", target); err != nil || !strings.Contains(out, "fd00:10:64:ff9b::afb:2") {
			t.Errorf("%s resolves to %q (%v); want the DNS64 address fd00:10:64:ff9b::afb:2 of 10.251.0.2", target, out, err)
		}
		if out, err := kubectl("exec", from[0], "--", "/testapp", "get", "http://"+target+":8080/"); err != nil || out == "" {
			t.Errorf("the IPv4-only server by name: %q, %v", out, err)
		}
	})
	t.Run("down keeps DNS64 and NAT64, clean removes them", func(t *testing.T) {
		if out, err := run(t, env, "down"); err != nil {
			t.Fatalf("down: %v\n%s", err, out)
		}
		for _, c := range []string{"dns64-cluster-12", "nat64-cluster-12"} {
			if state, err := docker(t, "inspect", "--format", "{{.State.Status}}", c); err != nil || state != "running" {
				t.Errorf("after down %s is %q (%v)", c, state, err)
			}
			docker(t, "network", "disconnect", "--force", targetNet, c)
		}
		if out, err := run(t, env, "clean"); err != nil {
			t.Fatalf("clean: %v\n%s", err, out)
		}
		if out, _ := docker(t, "ps", "--all", "--quiet", "--filter", "label=dind-cluster.cluster=cluster-12"); out != "" {
			t.Errorf("clean left %q", out)
		}
	})
}

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
// enforces NetworkPolicy, a policy is enforced (over IPv4: the first of a
// dual-stack pod's addresses). DIND_TEST_CNI narrows the
// plugins (a comma-separated list), or, set to off, skips the test saying
// so; `go run mage.go testcni` runs this test alone.
func TestCNIPlugins(t *testing.T) {
	dindCluster(t)
	cases := []struct{ plugin, ipMode string }{
		{"flannel", "ipv4"}, {"flannel", "dual-stack"}, {"flannel", "ipv6"},
		{"kube-router", "ipv4"}, {"kube-router", "dual-stack"}, {"kube-router", "ipv6"},
	}
	only := map[string]bool{}
	switch list := os.Getenv("DIND_TEST_CNI"); list {
	case "":
	case "off":
		t.Skip("DIND_TEST_CNI=off: the pod network add-ons are not tested; go run mage.go testcni tests them")
	default:
		for _, p := range strings.Split(list, ",") {
			if p != "flannel" && p != "kube-router" {
				t.Fatalf("DIND_TEST_CNI=%s: %q is no add-on this test knows; use flannel, kube-router or off", list, p)
			}
			only[p] = true
		}
		t.Logf("DIND_TEST_CNI=%s: testing those plugins only", list)
	}
	// kube-router v2.1.0 enforces NetworkPolicy over IPv4 only: in an
	// IPv6-only cluster a denied pod still connects.
	enforcesPolicy := map[string]bool{"kube-router/ipv4": true, "kube-router/dual-stack": true}
	for _, c := range cases {
		plugin := c.plugin
		if len(only) > 0 && !only[plugin] {
			continue
		}
		t.Run(plugin+"/"+c.ipMode, func(t *testing.T) {
			kubeconfig := filepath.Join(workDir, "kubeconfig-cni-"+plugin)
			env := clusterEnv("KUBECONFIG="+kubeconfig, "CLUSTER_ID=6", "NUM_NODES=1", "CNI_PLUGIN="+plugin, "IP_MODE="+c.ipMode)
			run(t, env, "clean")
			t.Cleanup(func() { run(t, env, "clean") })
			start := time.Now()
			if out, err := run(t, env, "up"); err != nil {
				t.Fatalf("up: %v\n%s", err, out)
			}
			t.Logf("CNI_PLUGIN=%s IP_MODE=%s: up took %.0fs", plugin, c.ipMode, time.Since(start).Seconds())
			kubectl := func(args ...string) (string, error) {
				out, err := exec.Command(kubectlPath(), append([]string{"--kubeconfig", kubeconfig, "--context", "dind-cluster-6"}, args...)...).CombinedOutput()
				return strings.TrimSpace(string(out)), err
			}
			checkPodNetwork(t, env, kubectl, c.ipMode == "dual-stack", enforcesPolicy[plugin+"/"+c.ipMode])
		})
	}
}

// checkPodNetwork runs a server pod on each of two nodes and checks pod to
// pod over each family, the Service by name and by each of its addresses,
// the pods' subnets and, with policy, a NetworkPolicy.
func checkPodNetwork(t *testing.T, env []string, kubectl func(args ...string) (string, error), dual, policy bool) {
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
	subnets := map[string][]string{}
	for _, name := range strings.Fields(must("get", "nodes", "--output=jsonpath={.items[*].metadata.name}")) {
		subnets[name] = strings.Fields(must("get", "node", name, "--output=jsonpath={.spec.podCIDRs[*]}"))
	}
	pods := strings.Fields(must("get", "pods", "--selector=app=net", "--output=jsonpath="+
		`{range .items[*]}{.metadata.name},{.spec.nodeName},{.status.podIPs[*].ip} {end}`))
	// A dual-stack pod's second address comes as a field of its own.
	var rows [][]string
	for _, f := range pods {
		if strings.Contains(f, ",") {
			rows = append(rows, strings.Split(f, ","))
		} else if len(rows) > 0 {
			rows[len(rows)-1] = append(rows[len(rows)-1], f)
		}
	}
	if len(rows) != 2 {
		t.Fatalf("pods %v; want one on each of the 2 nodes", pods)
	}
	for _, f := range rows {
		if want := map[bool]int{false: 1, true: 2}[dual]; len(f)-2 != want {
			t.Errorf("pod %s has addresses %v; want %d", f[0], f[2:], want)
		}
		for _, a := range f[2:] {
			addr, err := netip.ParseAddr(a)
			inside := false
			for _, s := range subnets[f[1]] {
				if cidr, cerr := netip.ParsePrefix(s); err == nil && cerr == nil && cidr.Contains(addr) {
					inside = true
				}
			}
			if !inside {
				t.Errorf("pod %s on %s has address %s, outside the node's pod subnets %v", f[0], f[1], a, subnets[f[1]])
			}
		}
	}
	from, to := rows[0], rows[1]
	get := func(pod, url string) (string, error) { return kubectl("exec", pod, "--", "/testapp", "get", url) }
	url := func(addr, port string) string {
		if strings.Contains(addr, ":") {
			addr = "[" + addr + "]"
		}
		return "http://" + addr + port + "/"
	}
	for _, pair := range [][2][]string{{from, to}, {to, from}} {
		for _, addr := range pair[1][2:] {
			if out, err := get(pair[0][0], url(addr, ":8080")); err != nil || out != pair[1][0] {
				t.Errorf("pod on %s -> pod on %s at %s: %q, %v", pair[0][1], pair[1][1], addr, out, err)
			}
		}
	}
	for _, ip := range strings.Fields(must("get", "service", "net", "--output=jsonpath={.spec.clusterIPs[*]}")) {
		if out, err := get(from[0], url(ip, "")); err != nil || (out != from[0] && out != to[0]) {
			t.Errorf("the Service at %s: %q, %v", ip, out, err)
		}
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
		if out, err := get(to[0], url(from[2], ":8080")); err == nil {
			return fmt.Errorf("the pod without access=yes still reaches %s: %q", from[2], out)
		}
		return nil
	})
	// The policy controller learns of the label on its own schedule.
	eventually(t, 30*time.Second, "the NetworkPolicy letting the labelled pod in", func() error {
		if out, err := get(from[0], url(to[2], ":8080")); err != nil || out != to[0] {
			return fmt.Errorf("the pod with access=yes does not reach %s: %q, %v", to[2], out, err)
		}
		return nil
	})
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
  ipFamilyPolicy: PreferDualStack
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

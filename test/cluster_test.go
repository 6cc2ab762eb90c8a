package test

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const testImage = "dind-cluster-test/testapp:1"

// TestClusterLifecycle is the seed's story, in order: up, use, up again,
// down and up, clean, and an up interrupted half-way.
func TestClusterLifecycle(t *testing.T) {
	dindCluster(t)
	mustRun(t, "clean")
	t.Cleanup(func() { run(t, clusterEnv(), "clean") })

	t.Run("up gives three Ready nodes", func(t *testing.T) {
		mustRun(t, "up")
		nodes := mustKubectl(t, "get", "nodes", "--output=jsonpath="+
			`{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`)
		want := "kube-master-cluster-9=True kube-node-1-cluster-9=True kube-node-2-cluster-9=True"
		if nodes != want {
			t.Fatalf("nodes %q, want %q", nodes, want)
		}
		// Services work through a node once its kube-proxy runs: at once.
		proxies := mustKubectl(t, "--namespace=kube-system", "get", "pods", "--selector=k8s-app=kube-proxy", "--output=jsonpath="+
			`{range .items[*]}{.spec.nodeName}={.status.phase} {end}`)
		for _, node := range strings.Fields(strings.ReplaceAll(want, "=True", "")) {
			if !strings.Contains(proxies, node+"=Running") {
				t.Errorf("when up returned, kube-proxy did not run on %s: %s", node, proxies)
			}
		}
	})
	if t.Failed() {
		return
	}
	t.Run("nodes run the pinned versions with every image preloaded", checkNodeContents)
	t.Run("pods on every node reach each other, services and NodePorts", checkWorkloads)
	t.Run("dump holds every node and pod, even with the API server down", func(t *testing.T) { checkDump(t, clusterEnv()) })
	t.Run("join adds a node", func(t *testing.T) {
		mustRun(t, "join")
		status := mustKubectl(t, "get", "node", "kube-node-3-cluster-9", "--output=jsonpath="+
			`{.status.conditions[?(@.type=="Ready")].status}`)
		if status != "True" {
			t.Errorf("joined node kube-node-3-cluster-9 is Ready=%q", status)
		}
	})
	t.Run("up again restores a fresh cluster, and two ups at once take turns", func(t *testing.T) {
		mustKubectl(t, "create", "configmap", "made-after-snapshot")
		// Two ups of one cluster at once: the second waits for the first and
		// restores again. One runs with DIND_DEBUG, which logs command lines.
		outputs := make([]string, 2)
		var wg sync.WaitGroup
		for i, env := range [][]string{clusterEnv(), clusterEnv("DIND_DEBUG=1")} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i) * 500 * time.Millisecond)
				var err error
				if outputs[i], err = run(t, env, "up"); err != nil {
					t.Errorf("up %d of two at once: %v", i+1, err)
				}
			}()
		}
		wg.Wait()
		for i, out := range outputs {
			if !strings.Contains(out, "restored") {
				t.Errorf("up %d of two at once did not restore:\n%s", i+1, out)
			}
		}
		if !strings.Contains(outputs[0]+outputs[1], "waiting for another dind-cluster run") {
			t.Error("of two ups at once, neither said it waited for the other")
		}
		if !strings.Contains(outputs[1], "+ docker ") {
			t.Error("DIND_DEBUG=1 logged no command line")
		}
		for _, secret := range []*regexp.Regexp{
			regexp.MustCompile(`PRIVATE KEY`), regexp.MustCompile(`\b[a-z0-9]{6}\.[a-z0-9]{16}\b`),
			regexp.MustCompile(`[A-Za-z0-9+/=]{200,}`), regexp.MustCompile(`-data[ =:]+[A-Za-z0-9+/]{20,}`),
		} {
			if m := secret.FindString(outputs[1]); m != "" {
				t.Errorf("with DIND_DEBUG=1 the output holds what looks like a secret: %.80s", m)
			}
		}
		if out, _ := docker(t, "ps", "--all", "--quiet", "--filter", "name=kube-node-3-cluster-9"); out != "" {
			t.Error("the node join added after the snapshot survived the restore")
		}
		for _, kind := range []string{"configmap/made-after-snapshot", "daemonset/echo", "node/kube-node-3-cluster-9"} {
			if _, err := kubectl(t, "get", kind); err == nil {
				t.Errorf("%s, made after the snapshot, survived the restore", kind)
			}
		}
		// 2 volumes a node, the master's etcd and the cluster's record: a
		// restore leaves no more.
		if vols, _ := docker(t, "volume", "ls", "--quiet", "--filter", "label="+clusterLabel); len(strings.Fields(vols)) != 8 {
			t.Errorf("after a restore the cluster has %d volumes, want 8: %s", len(strings.Fields(vols)), vols)
		}
		applyWorkloads(t)
		checkServing(t)
	})
	t.Run("an up interrupted while restoring is finished by the next", checkInterruptedRestore)
	t.Run("down then up keeps the cluster's objects", func(t *testing.T) {
		mustKubectl(t, "create", "deployment", "kept", "--image="+testImage, "--", "/testapp", "serve")
		mustKubectl(t, "patch", "deployment", "kept", "--patch", `{"spec":{"template":{"spec":{"containers":[{"name":"testapp","imagePullPolicy":"Never"}]}}}}`)
		mustKubectl(t, "rollout", "status", "deployment/kept", "--timeout=120s")
		mustRun(t, "down")
		if out, _ := docker(t, "ps", "--quiet", "--filter", "label="+clusterLabel); out != "" {
			t.Errorf("containers still run after down: %s", out)
		}
		// `docker volume prune --all` removes the record's volume, which no
		// container uses: the cluster stays the user's all the same.
		if _, err := docker(t, "volume", "rm", "kubeadm-dind-record-cluster-9"); err != nil {
			t.Fatal(err)
		}
		// A request that does not fit the stopped cluster is refused, and
		// the cluster is left as it was.
		for _, c := range []struct{ env, want string }{
			{"NUM_NODES=3", "`join` adds one worker"},
			{"NUM_NODES=1", "asks for fewer"},
			{"DIND_K8S_VERSION=v1.36.3", "runs Kubernetes v1.37.2 and DIND_K8S_VERSION=v1.36.3 asks for another"},
		} {
			out, err := run(t, clusterEnv(c.env), "up")
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("%s up on a stopped cluster: %v; want a refusal saying %q:\n%s", c.env, err, c.want, out)
			}
		}
		if out, _ := docker(t, "ps", "--all", "--quiet", "--filter", "label="+clusterLabel, "--filter", "status=exited"); len(strings.Fields(out)) != 3 {
			t.Errorf("after refused ups, the stopped cluster has %d stopped nodes, want 3", len(strings.Fields(out)))
		}
		out := mustRun(t, "up")
		if !strings.Contains(out, "resumed") || !strings.Contains(out, "made again from the master's copy") {
			t.Errorf("up after down, its record volume pruned, did not resume and make the volume again:\n%s", out)
		}
		if _, err := docker(t, "volume", "inspect", "kubeadm-dind-record-cluster-9"); err != nil {
			t.Errorf("the record volume was not made again: %v", err)
		}
		mustKubectl(t, "rollout", "status", "deployment/kept", "--timeout=120s")
		// A paused cluster is thawed, not restored.
		mustRun(t, "pause")
		if out := mustRun(t, "up"); !strings.Contains(out, "resumed") {
			t.Errorf("up after pause did not resume:\n%s", out)
		}
		mustKubectl(t, "rollout", "status", "deployment/kept", "--timeout=60s")
	})
	t.Run("clean removes all of the cluster and nothing else", checkClean)
	t.Run("an interrupted up is cleaned completely", checkInterruptedUp)
}

func checkNodeContents(t *testing.T) {
	for cmd, want := range map[string]string{
		"kubeadm version --output=short": "v1.37.2",
		"kubelet --version":              "Kubernetes v1.37.2",
		"kubectl version --client":       "Client Version: v1.37.2",
		"containerd --version":           "v2.2.9",
		"runc --version":                 "runc version 1.5.2",
		"cat /proc/1/comm":               "systemd",
		"systemctl is-active containerd": "active",
		"systemctl is-active kubelet":    "active",
	} {
		out, err := docker(t, append([]string{"exec", master}, strings.Fields(cmd)...)...)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("%s on %s: %q (%v), want %q in it", cmd, master, out, err, want)
		}
	}
	// kubelet renews its credentials into a new file and points this link at
	// it; over a plain file it cannot.
	for _, node := range []string{master, "kube-node-1-cluster-9"} {
		if _, err := docker(t, "exec", node, "test", "-L", "/var/lib/kubelet/pki/kubelet-client-current.pem"); err != nil {
			t.Errorf("%s: kubelet-client-current.pem is not a link, and kubelet cannot renew its credentials", node)
		}
	}
	// A container that runc froze and then lost stays frozen under a cgroup
	// v1 freezer, and its node can never be removed: nodes run without one.
	// (On a cgroup v2 host there is no v1 freezer, and this holds at once.)
	for _, node := range []string{master, "kube-node-1-cluster-9"} {
		if out, _ := docker(t, "exec", node, "sh", "-c", "grep -c ' - cgroup cgroup .*freezer' /proc/self/mountinfo || true"); out != "0" {
			t.Errorf("%s has a cgroup v1 freezer mounted (%s lines): a node stopped while runc froze a container could not be removed", node, out)
		}
	}
	wanted, err := docker(t, "exec", master, "kubeadm", "config", "images", "list", "--kubernetes-version=v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{master, "kube-node-1-cluster-9"} {
		have, err := docker(t, "exec", node, "ctr", "--namespace=k8s.io", "images", "list", "--quiet")
		if err != nil {
			t.Fatal(err)
		}
		for _, image := range strings.Fields(wanted) {
			if !strings.Contains("\n"+have+"\n", "\n"+image+"\n") {
				t.Errorf("%s: image %s, which kubeadm asks for, is not in containerd", node, image)
			}
		}
	}
}

// buildTestImage makes the test workload image from test/testapp, without a
// registry: a static binary on an empty base.
func buildTestImage(t *testing.T) {
	makeTestImage(t)
	mustRun(t, "load", testImage)
}

// makeTestImage builds the test workload image in the Docker engine.
func makeTestImage(t *testing.T) {
	dir := filepath.Join(workDir, "testapp")
	os.MkdirAll(dir, 0o755)
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "testapp"), "./testapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testapp: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY testapp /testapp\nENTRYPOINT [\"/testapp\"]\n"), 0o644)
	if out, err := docker(t, "build", "--quiet", "--tag", testImage, dir); err != nil {
		t.Fatalf("building the test image: %v\n%s", err, out)
	}
}

const workloads = `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: echo}
spec:
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      tolerations: [{operator: Exists}]
      containers:
      - name: echo
        image: ` + testImage + `
        imagePullPolicy: Never
        args: [serve]
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
`

func applyWorkloads(t *testing.T) {
	manifest := filepath.Join(workDir, "workloads.yaml")
	os.WriteFile(manifest, []byte(workloads), 0o644)
	mustKubectl(t, "apply", "--filename", manifest)
	mustKubectl(t, "rollout", "status", "daemonset/echo", "--timeout=180s")
}

func checkWorkloads(t *testing.T) {
	buildTestImage(t)
	applyWorkloads(t)
	pods := strings.Fields(mustKubectl(t, "get", "pods", "--selector=app=echo", "--output=jsonpath="+
		`{range .items[*]}{.metadata.name}={.spec.nodeName}={.status.podIP} {end}`))
	if len(pods) != 3 {
		t.Fatalf("echo pods %v, want one on each of the 3 nodes", pods)
	}
	nodesSeen := map[string]bool{}
	for _, from := range pods {
		f := strings.Split(from, "=")
		nodesSeen[f[1]] = true
		for _, to := range pods {
			g := strings.Split(to, "=")
			if f[1] == g[1] {
				continue
			}
			out, err := kubectl(t, "exec", f[0], "--", "/testapp", "get", "http://"+g[2]+":8080/")
			if err != nil || strings.TrimSpace(out) != g[0] {
				t.Errorf("pod on %s -> pod %s on %s: %q, %v", f[1], g[0], g[1], out, err)
			}
		}
	}
	if len(nodesSeen) != 3 {
		t.Errorf("echo pods run on %v, want all 3 nodes", nodesSeen)
	}
	first := strings.Split(pods[0], "=")[0]
	if out, err := kubectl(t, "exec", first, "--", "/testapp", "get", "http://echo.default.svc.cluster.local/"); err != nil || !strings.HasPrefix(out, "echo-") {
		t.Errorf("service by DNS name from a pod: %q, %v", out, err)
	}
	checkServing(t)
}

// checkServing reaches the echo NodePort from the host, through a worker.
func checkServing(t *testing.T) {
	ip, err := docker(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "kube-node-1-cluster-9")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "NodePort from the host", func() error {
		return answers(fmt.Sprintf("http://%s:30080/", ip), "echo-")
	})
}

func checkClean(t *testing.T) {
	foreign := "dind-cluster-test-foreign"
	docker(t, "rm", "--force", foreign)
	if _, err := docker(t, "run", "--detach", "--name", foreign, "--label", "dind-cluster.cluster=someone-else",
		"--entrypoint", "/bin/sleep", mustImage(t), "600"); err != nil {
		t.Fatal(err)
	}
	defer docker(t, "rm", "--force", foreign)
	kubeconfig := filepath.Join(workDir, "kubeconfig")
	for _, args := range [][]string{
		{"config", "set-cluster", "foreign", "--server=https://192.0.2.1:6443"},
		{"config", "set-context", "foreign", "--cluster=foreign"},
	} {
		if out, err := exec.Command(kubectlPath(), append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	if len(snapshots()) == 0 {
		t.Error("the cluster has no snapshot in the cache before clean")
	}
	// An image a user made of a node carries the node's labels, and is the
	// user's.
	committed := "dind-cluster-test/committed-node:1"
	if _, err := docker(t, "commit", "kube-node-1-cluster-9", committed); err != nil {
		t.Fatal(err)
	}
	defer docker(t, "rmi", committed)
	mustRun(t, "clean")
	if _, err := docker(t, "image", "inspect", committed); err != nil {
		t.Errorf("clean removed %s, an image the user committed of a node: %v", committed, err)
	}
	for _, kind := range [][]string{{"ps", "--all"}, {"volume", "ls"}, {"network", "ls"}} {
		out, err := docker(t, append(kind, "--quiet", "--filter", "label="+clusterLabel)...)
		if err != nil || out != "" {
			t.Errorf("docker %s still lists objects of the cluster after clean: %q %v", kind[0], out, err)
		}
	}
	if left := snapshots(); len(left) > 0 {
		t.Errorf("clean left the cluster's snapshot: %v", left)
	}
	if out, err := docker(t, "inspect", "--format", "{{.State.Status}}", foreign); err != nil || out != "running" {
		t.Errorf("clean touched a container that is not the cluster's: %q %v", out, err)
	}
	contexts, _ := exec.Command(kubectlPath(), "--kubeconfig", kubeconfig, "config", "get-contexts", "--output=name").Output()
	if !strings.Contains(string(contexts), "foreign") || strings.Contains(string(contexts), contextName) {
		t.Errorf("contexts after clean: %q; want foreign kept and %s gone", contexts, contextName)
	}
	// A context of the cluster's name that another cluster wrote (another
	// cache folder, another machine's cluster) is not this cluster's.
	for _, args := range [][]string{
		{"config", "set-cluster", contextName, "--server=https://192.0.2.1:6443"},
		{"config", "set", "clusters." + contextName + ".certificate-authority-data", otherCA(t)},
		{"config", "set-context", contextName, "--cluster=" + contextName},
	} {
		if out, err := exec.Command(kubectlPath(), append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	if out := mustRun(t, "clean"); !strings.Contains(out, "left alone") {
		t.Errorf("clean of a gone cluster does not say it left another cluster's context alone:\n%s", out)
	}
	contexts, _ = exec.Command(kubectlPath(), "--kubeconfig", kubeconfig, "config", "get-contexts", "--output=name").Output()
	if !strings.Contains(string(contexts), contextName) {
		t.Errorf("clean removed context %s, which another cluster wrote: %q", contextName, contexts)
	}
	exec.Command(kubectlPath(), "--kubeconfig", kubeconfig, "config", "delete-context", contextName).Run()
	exec.Command(kubectlPath(), "--kubeconfig", kubeconfig, "config", "delete-cluster", contextName).Run()
}

// otherCA is a CA certificate of no cluster of the tests, base64-encoded
// as kubeconfigs hold it.
func otherCA(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// interruptedUp starts up, waits until interruptNow says so, given up's
// output so far (for 3 minutes at most), then sends it sig, as Ctrl-C
// (SIGINT), a cancelled CI job (SIGTERM) or the OOM killer (SIGKILL) would,
// and waits for it to stop. It tells whether interruptNow said so.
func interruptedUp(t *testing.T, sig syscall.Signal, interruptNow func(output string) bool) (reached bool) {
	t.Helper()
	cmd := exec.Command(dindCluster(t), "up")
	cmd.Env = clusterEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for deadline := time.Now().Add(3 * time.Minute); !reached && time.Now().Before(deadline); {
		if reached = interruptNow(out.String()); !reached {
			time.Sleep(50 * time.Millisecond)
		}
	}
	cmd.Process.Signal(sig)
	select {
	case err := <-done:
		if err == nil {
			t.Log("up finished before the signal reached it")
		}
	case <-time.After(time.Minute):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Errorf("up did not stop within a minute of %v", sig)
	}
	t.Logf("up, stopped by %v:\n%s", sig, out.String())
	return reached
}

// lockedBuffer collects a process's output while a test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// nodesCreated tells whether the tests' cluster has a container in state
// ("" for any).
func nodesCreated(t *testing.T, state string) bool {
	args := []string{"ps", "--all", "--quiet", "--filter", "label=" + clusterLabel}
	if state != "" {
		args = append(args, "--filter", "status="+state)
	}
	out, _ := docker(t, args...)
	return out != ""
}

// checkInterruptedRestore interrupts up while it replaces the nodes, when a
// node is created and not yet started, and checks that the next up restores
// a cluster whose nodes are Ready.
func checkInterruptedRestore(t *testing.T) {
	if !interruptedUp(t, syscall.SIGINT, func(string) bool { return nodesCreated(t, "created") }) {
		t.Log("no node was seen created and not started: up was interrupted later")
	}
	if out := mustRun(t, "up"); !strings.Contains(out, "restored") {
		t.Errorf("up after an interrupted restore did not restore:\n%s", out)
	}
	nodes := mustKubectl(t, "get", "nodes", "--output=jsonpath="+
		`{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`)
	if want := "kube-master-cluster-9=True kube-node-1-cluster-9=True kube-node-2-cluster-9=True"; nodes != want {
		t.Errorf("after an interrupted restore and up, nodes %q, want %q", nodes, want)
	}
}

// checkInterruptedUp interrupts up once nodes exist, and checks that clean
// removes what it left.
func checkInterruptedUp(t *testing.T) {
	if !interruptedUp(t, syscall.SIGINT, func(string) bool { return nodesCreated(t, "") }) {
		t.Fatal("up made no node container in 3 minutes")
	}
	mustRun(t, "clean")
	for _, kind := range [][]string{{"ps", "--all"}, {"volume", "ls"}, {"network", "ls"}} {
		if out, _ := docker(t, append(kind, "--quiet", "--filter", "label="+clusterLabel)...); out != "" {
			t.Errorf("after an interrupted up and clean, docker %s lists %q", kind[0], out)
		}
	}
}

// emptyImage is an image of no file, for containers that are made and
// never started: it needs no build.
func emptyImage(t *testing.T) string {
	const name = "dind-cluster-test/empty:1"
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	tw.Close()
	cmd := exec.Command("docker", "import", "-", name)
	cmd.Stdin = &archive
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("making an empty image: %v: %s", err, out)
	}
	return name
}

// mustImage is the node base image, which the supply chain built.
func mustImage(t *testing.T) string {
	out, err := docker(t, "images", "--quiet", "--filter", "label=dind-cluster.artifact=base")
	if err != nil || out == "" {
		t.Fatalf("no base image to run a foreign container from: %v", err)
	}
	return strings.Fields(out)[0]
}

func kubectlPath() string { return filepath.Join(cacheDir(), "kubectl") }

func cacheDir() string {
	if dir := os.Getenv("DIND_CACHE_DIR"); dir != "" {
		return dir
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".kubeadm-dind-cluster")
}

// snapshots are the cluster's snapshot folders (one per engine).
func snapshots() []string {
	found, _ := filepath.Glob(filepath.Join(cacheDir(), "snapshots", "*", "cluster-"+clusterID))
	return found
}

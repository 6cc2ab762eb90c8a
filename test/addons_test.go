package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The addons' test has a cluster of its own, beside the other tests' one.
const (
	addonsClusterID = "7"
	addonsContext   = "dind-cluster-7"
	addonsWorker    = "kube-node-1-cluster-7"
)

// TestAddons uses what a new cluster comes with, as a user would: a
// StatefulSet's volume keeps its data through the StatefulSet's deletion
// and through down and up; kubectl top lists every node; a port published
// with EXTRA_PORTS answers on the Docker host; and a worker limited with
// DIND_NODE_MEMORY/DIND_NODE_CPUS offers its limits to the scheduler, which
// leaves a pod asking for more Pending.
func TestAddons(t *testing.T) {
	dindCluster(t)
	hostPort := freePort(t)
	kubeconfig := filepath.Join(workDir, "kubeconfig-"+addonsClusterID)
	env := append(os.Environ(), "CLUSTER_ID="+addonsClusterID, "NUM_NODES=1", "KUBECONFIG="+kubeconfig,
		"DIND_STORAGE=on", "DIND_METRICS=on", fmt.Sprintf("EXTRA_PORTS=127.0.0.1:%d:30081", hostPort),
		"DIND_NODE_MEMORY=1g", "DIND_NODE_CPUS=1")
	k := func(args ...string) (string, error) {
		cmd := exec.Command(kubectlPath(), append([]string{"--kubeconfig", kubeconfig, "--context", addonsContext}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	mustK := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := k(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	apply := func(t *testing.T, name, manifest string) {
		t.Helper()
		file := filepath.Join(workDir, name+".yaml")
		os.WriteFile(file, []byte(manifest), 0o644)
		mustK(t, "apply", "--filename", file)
	}
	up := func(t *testing.T) {
		t.Helper()
		if out, err := run(t, env, "up"); err != nil {
			t.Fatalf("up: %v\n%s", err, out)
		}
	}
	run(t, env, "clean")
	t.Cleanup(func() { run(t, env, "clean") })
	up(t)

	t.Run("a StatefulSet's volume keeps its data", func(t *testing.T) {
		token := strconv.FormatInt(time.Now().UnixNano(), 36)
		manifest := strings.ReplaceAll(statefulSet, "TOKEN", token)
		manifest = strings.ReplaceAll(manifest, "SHELL_IMAGE", shellImage)
		readBack := func(t *testing.T, when string) {
			t.Helper()
			apply(t, "keeper", manifest)
			mustK(t, "rollout", "status", "statefulset/keeper", "--timeout=180s")
			if got := mustK(t, "exec", "keeper-0", "--", "cat", "/data/token"); got != token {
				t.Errorf("%s: the volume holds %q, want %q", when, got, token)
			}
		}
		readBack(t, "first write")
		if class := mustK(t, "get", "pvc", "data-keeper-0", "--output=jsonpath={.spec.storageClassName}"); class != "standard" {
			t.Errorf("the claim has StorageClass %q, want the default, standard", class)
		}
		mustK(t, "delete", "statefulset", "keeper", "--wait=true")
		mustK(t, "wait", "--for=delete", "pod/keeper-0", "--timeout=60s")
		readBack(t, "after the StatefulSet was deleted and made again")
		mustRunEnv(t, env, "down")
		up(t)
		readBack(t, "after down and up")
	})

	t.Run("kubectl top lists every node", func(t *testing.T) {
		eventually(t, 3*time.Minute, "kubectl top nodes", func() error {
			out, err := k("top", "nodes", "--no-headers")
			if err != nil {
				return err
			}
			for _, node := range []string{"kube-master-cluster-7", addonsWorker} {
				if !strings.Contains(out, node) {
					return fmt.Errorf("%s is not in kubectl top nodes:\n%s", node, out)
				}
			}
			return nil
		})
	})

	t.Run("a port published by EXTRA_PORTS answers on the host", func(t *testing.T) {
		makeTestImage(t)
		if out, err := run(t, env, "load", testImage); err != nil {
			t.Fatalf("load: %v\n%s", err, out)
		}
		apply(t, "published", strings.ReplaceAll(published, "TEST_IMAGE", testImage))
		mustK(t, "rollout", "status", "deployment/published", "--timeout=120s")
		eventually(t, time.Minute, "the published port", func() error {
			return answers(fmt.Sprintf("http://127.0.0.1:%d/", hostPort), "published-")
		})
	})

	t.Run("a limited node offers its limits and a bigger pod stays Pending", func(t *testing.T) {
		mem := mustK(t, "get", "node", addonsWorker, "--output=jsonpath={.status.allocatable.memory}")
		cpu := mustK(t, "get", "node", addonsWorker, "--output=jsonpath={.status.allocatable.cpu}")
		t.Logf("%s allocatable: cpu %s, memory %s", addonsWorker, cpu, mem)
		if b := quantityBytes(t, mem); b > 1<<30 || b < 512<<20 {
			t.Errorf("allocatable memory of %s is %s, want at most the 1g limit and near it", addonsWorker, mem)
		}
		if cpu != "1" {
			t.Errorf("allocatable CPU of %s is %s, want the limit, 1", addonsWorker, cpu)
		}
		apply(t, "too-big", strings.ReplaceAll(tooBig, "SHELL_IMAGE", shellImage))
		eventually(t, time.Minute, "the scheduler's verdict on too-big", func() error {
			events, err := k("get", "events", "--field-selector=involvedObject.name=too-big,reason=FailedScheduling",
				"--output=jsonpath={.items[*].message}")
			if err != nil {
				return err
			}
			if !strings.Contains(events, "Insufficient memory") {
				return fmt.Errorf("no 'Insufficient memory' among the events of too-big: %q", events)
			}
			return nil
		})
		if phase := mustK(t, "get", "pod", "too-big", "--output=jsonpath={.status.phase}"); phase != "Pending" {
			t.Errorf("too-big is %s, want Pending", phase)
		}
	})
}

func mustRunEnv(t *testing.T, env []string, args ...string) {
	t.Helper()
	if out, err := run(t, env, args...); err != nil {
		t.Fatalf("dind-cluster %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// quantityBytes reads a Kubernetes memory quantity as kubelet reports it.
func quantityBytes(t *testing.T, q string) int64 {
	t.Helper()
	for suffix, shift := range map[string]uint{"Ki": 10, "Mi": 20, "Gi": 30} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				t.Fatalf("memory quantity %q: %v", q, err)
			}
			return v << shift
		}
	}
	v, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		t.Fatalf("memory quantity %q: %v", q, err)
	}
	return v
}

// shellImage is preloaded on every node with storage on: the userland of
// local-path-provisioner's helper pods.
const shellImage = "localhost/dind-cluster/local-path-helper:bookworm"

const statefulSet = `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: keeper}
spec:
  serviceName: keeper
  selector: {matchLabels: {app: keeper}}
  template:
    metadata: {labels: {app: keeper}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: keeper
        image: SHELL_IMAGE
        imagePullPolicy: Never
        command: [sh, -c, 'test -f /data/token || echo TOKEN >/data/token; exec sleep 100000']
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 16Mi}}
`

const published = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: published}
spec:
  selector: {matchLabels: {app: published}}
  template:
    metadata: {labels: {app: published}}
    spec:
      containers:
      - name: published
        image: TEST_IMAGE
        imagePullPolicy: Never
        args: [serve]
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: published}
spec:
  type: NodePort
  selector: {app: published}
  ports: [{port: 80, targetPort: 8080, nodePort: 30081}]
`

const tooBig = `
apiVersion: v1
kind: Pod
metadata: {name: too-big}
spec:
  containers:
  - name: too-big
    image: SHELL_IMAGE
    imagePullPolicy: Never
    command: [sleep, "100000"]
    resources: {requests: {memory: 2Gi}}
`

package cluster

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/dind-cluster/dind-cluster/dump"
	"github.com/dind-cluster/dind-cluster/steps/docker"
)

// DumpSummary tells what a dump held and what it could not collect.
type DumpSummary struct {
	Sections int
	Failed   []string // the sections whose command failed; the dump holds why
}

// ourUnits are the node's systemd units a dump reports on.
var ourUnits = []string{"kubelet", "containerd", "dindnet"}

// gathered is one section of a dump.
type gathered struct {
	name string
	run  func(ctx context.Context) (string, error)
}

// Dump writes the state of every node and of the cluster as a text dump
// (see package dump) to w. What cannot be collected, a stopped node or an API
// server that does not answer, is recorded in the dump and in the summary;
// only an unreachable Docker engine is an error.
func (c *Cluster) Dump(ctx context.Context, w io.Writer) (DumpSummary, error) {
	s, err := c.Observe(ctx)
	if err != nil {
		return DumpSummary{}, fmt.Errorf("cannot reach a Docker engine: %w", err)
	}
	var jobs []gathered
	for _, ct := range s.Containers() {
		jobs = append(jobs, c.nodeSections(ct)...)
	}
	version := ""
	if s.Record != nil {
		version = s.Record.Kubernetes
	}
	cluster, cleanup := c.clusterSections(ctx, version)
	defer cleanup()
	jobs = append(jobs, cluster...)

	out := dump.NewWriter(w)
	var (
		mu      sync.Mutex
		summary DumpSummary
		wg      sync.WaitGroup
		slots   = make(chan struct{}, 4) // 2 cores: a few commands at a time
	)
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			text, err := j.run(ctx)
			<-slots
			if err != nil {
				text = fmt.Sprintf("dind-cluster could not collect this: %v\n%s", err, text)
			}
			werr := out.Section(j.name, []byte(text))
			mu.Lock()
			defer mu.Unlock()
			summary.Sections++
			if err != nil || werr != nil {
				summary.Failed = append(summary.Failed, j.name)
			}
		}()
	}
	wg.Wait()
	return summary, nil
}

// inNode runs a shell command line in a node, its stderr folded into the output.
func (c *Cluster) inNode(node, script string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		return c.Docker.ExecOutput(ctx, node, "sh", "-c", script+" 2>&1")
	}
}

func (c *Cluster) nodeSections(ct docker.Container) []gathered {
	n := ct.Name
	if ct.State != "running" {
		return []gathered{
			{n + "/state.txt", func(context.Context) (string, error) {
				return fmt.Sprintf("node %s is %s: nothing could be collected inside it\n", n, ct.State), nil
			}},
			{n + "/docker-logs.txt", func(ctx context.Context) (string, error) {
				return c.Docker.Logs(ctx, n, 200)
			}},
		}
	}
	out := []gathered{
		{n + "/units.txt", c.inNode(n, "systemctl list-units --all --no-pager")},
		{n + "/ps.txt", c.inNode(n, "ps auxww")},
		{n + "/containers.txt", c.inNode(n, "ctr --namespace k8s.io containers list && echo && ctr --namespace k8s.io tasks list")},
		{n + "/ip-a.txt", c.inNode(n, "ip a")},
		{n + "/ip-r.txt", c.inNode(n, "ip r")},
		{n + "/kubeadm.log", c.inNode(n, "tail -n +1 /var/log/kubeadm-*.log || echo kubeadm has not run on this node")},
	}
	for _, u := range ourUnits {
		// systemctl status exits non-zero for a stopped unit: that is content, not failure.
		out = append(out,
			gathered{n + "/" + u + ".status", c.inNode(n, "systemctl status --no-pager --full "+u+".service; true")},
			gathered{n + "/" + u + ".log", c.inNode(n, "journalctl --no-pager --unit "+u+".service")})
	}
	return out
}

// clusterSections ask the API server; each has a short timeout, so that a
// dead API server costs seconds, not minutes.
func (c *Cluster) clusterSections(ctx context.Context, version string) ([]gathered, func()) {
	fail := func(why string, err error) ([]gathered, func()) {
		return []gathered{{"cluster/api-server.txt", func(context.Context) (string, error) {
			return why + ": the cluster sections are missing\n", err
		}}}, func() {}
	}
	port, err := c.Docker.PublishedPort(ctx, c.Cfg.MasterName(), apiServerPort)
	if err != nil {
		return fail("the API server's port is not published", err)
	}
	k, cleanup, err := c.adminKubectl(ctx, port, version)
	if err != nil {
		return fail("the cluster's admin credentials cannot be read", err)
	}
	kubectl := func(args ...string) func(ctx context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			return k.cmd(append([]string{"--request-timeout=5s"}, args...)...).Output(ctx)
		}
	}
	// One question first: when the API server does not answer, every other
	// would wait for its own timeout.
	if health, err := kubectl("get", "--raw=/readyz")(ctx); err != nil {
		cleanup()
		return fail("the API server does not answer\n"+health, err)
	}
	out := []gathered{
		{"cluster/get-all.txt", kubectl("get", "all", "--all-namespaces", "--output=wide")},
		{"cluster/describe-all.txt", kubectl("describe", "all", "--all-namespaces")},
		{"cluster/nodes.txt", kubectl("get", "nodes", "--output=wide")},
		{"cluster/events.txt", kubectl("get", "events", "--all-namespaces", "--sort-by=.lastTimestamp")},
	}
	listing, err := kubectl("get", "pods", "--all-namespaces", "--output=jsonpath="+
		`{range .items[*]}{.metadata.namespace} {.metadata.name}{range .status.containerStatuses[*]} {.name}:{.restartCount}{end}{"\n"}{end}`)(ctx)
	if err != nil {
		return append(out, gathered{"cluster/pods.txt", func(context.Context) (string, error) { return listing, err }}), cleanup
	}
	for _, pc := range podContainers(listing) {
		name := fmt.Sprintf("cluster/pods/%s/%s/%s", pc.namespace, pc.pod, pc.container)
		logs := []string{"logs", "--namespace", pc.namespace, pc.pod, "--container", pc.container}
		out = append(out, gathered{name + ".log", kubectl(logs...)})
		if pc.restarts > 0 {
			out = append(out, gathered{name + ".previous.log", kubectl(append(logs, "--previous")...)})
		}
	}
	return out, cleanup
}

type podContainer struct {
	namespace, pod, container string
	restarts                  int
}

// podContainers reads lines of "NAMESPACE POD CONTAINER:RESTARTS...".
func podContainers(listing string) []podContainer {
	var out []podContainer
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		for _, cr := range f[2:] {
			name, count, _ := strings.Cut(cr, ":")
			restarts, _ := strconv.Atoi(count)
			out = append(out, podContainer{namespace: f[0], pod: f[1], container: name, restarts: restarts})
		}
	}
	return out
}

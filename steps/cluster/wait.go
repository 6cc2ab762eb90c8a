package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dind-cluster/dind-cluster/steps"
)

// readyLimit is how long a cluster may take to become ready.
const readyLimit = 3 * time.Minute

// waitReady waits until the nodes named want are Ready, kube-proxy has
// started on each of them, and, with dns, a CoreDNS pod serves; addons that
// kubeadm was told to skip are not waited for. Only reports made after since
// count: a restored or resumed cluster still holds the Ready states of
// before it stopped.
//
// It watches rather than polls: a kubectl process costs the booting nodes
// a fifth of a second of CPU, and polling spent a tenth of a restore's CPU
// on 2 cores; a watch costs that once, and tells at once.
func (r *run) waitReady(ctx context.Context, since time.Time, want []string, dns bool) error {
	since = since.Add(-2 * time.Second).Truncate(time.Second) // the API's timestamps have seconds only
	waitCtx, cancel := context.WithTimeout(ctx, readyLimit)
	defer cancel()
	ready := func(e event) bool { return e.kind != "DELETED" && e.status == "True" && fresh(e.time, since) }

	nodes := readiness{}
	err := r.watch(waitCtx, func(e event) bool {
		nodes[e.name] = e
		return len(nodes.missing(want, ready)) == 0
	}, "get", "nodes", "--output=jsonpath="+eventTemplate("{.object.metadata.name}", "lastHeartbeatTime"))
	if err != nil {
		return notReadyError(ctx, "not Ready: "+strings.Join(nodes.missing(want, ready), ", "), err)
	}

	var addons []string
	err = steps.Poll(waitCtx, readyLimit, "the addons", func() (err error) {
		addons, err = r.k.cmd("--namespace=kube-system", "get", "daemonset/kube-proxy", "deployment/coredns",
			"--ignore-not-found", "--output=name").Lines(waitCtx)
		return err
	})
	if err != nil {
		return notReadyError(ctx, "the addons cannot be listed", err)
	}
	// A node that has just joined may still be starting its kube-proxy, and
	// no Service works through it until it has. (kubeadm's kube-proxy has no
	// readiness probe: Ready says its container started.)
	g, gctx := errgroup.WithContext(waitCtx)
	if slices.Contains(addons, "daemonset.apps/kube-proxy") {
		g.Go(func() error {
			proxies := readiness{}
			err := r.watch(gctx, func(e event) bool {
				proxies[e.name] = e
				return len(proxies.missing(want, ready)) == 0
			}, "--namespace=kube-system", "get", "pods", "--selector=k8s-app=kube-proxy",
				"--output=jsonpath="+eventTemplate("{.object.spec.nodeName}", "lastTransitionTime"))
			if err != nil {
				return notReadyError(ctx, "kube-proxy has not started on "+strings.Join(proxies.missing(want, ready), ", "), err)
			}
			return nil
		})
	}
	if dns && slices.Contains(addons, "deployment.apps/coredns") {
		g.Go(func() error {
			err := r.watch(gctx, ready, "--namespace=kube-system", "get", "pods", "--selector=k8s-app=kube-dns",
				"--output=jsonpath="+eventTemplate("{.object.spec.nodeName}", "lastTransitionTime"))
			if err != nil {
				return notReadyError(ctx, "no CoreDNS pod is ready", err)
			}
			return nil
		})
	}
	return g.Wait()
}

func notReadyError(ctx context.Context, state string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("cluster not ready after %s: %s (%w)", readyLimit, state, err)
}

// event is one line of a watch: what happened to which object, on which
// node, and the status and time of its Ready condition.
type event struct{ kind, name, node, status, time string }

// eventTemplate prints an event line of the object's node (a jsonpath
// expression) and Ready condition, with its timestamp field named stamp.
// Fields are separated by "|": a pod not yet scheduled has no node.
func eventTemplate(node, stamp string) string {
	ready := `.object.status.conditions[?(@.type=="Ready")]`
	return `{.type}|{.object.metadata.name}|` + node + `|{` + ready + `.status}|{` + ready + `.` + stamp + `}{"\n"}`
}

func parseEvent(line string) (event, bool) {
	f := strings.Split(strings.TrimSpace(line), "|")
	if len(f) != 5 || f[0] == "" || f[1] == "" {
		return event{}, false
	}
	return event{kind: f[0], name: f[1], node: f[2], status: f[3], time: f[4]}, true
}

// readiness holds the last event of each object, by name.
type readiness map[string]event

// missing are the nodes of want on which no object is ready.
func (r readiness) missing(want []string, ready func(event) bool) []string {
	on := map[string]bool{}
	for _, e := range r {
		if ready(e) {
			on[e.node] = true
		}
	}
	var out []string
	for _, n := range want {
		if !on[n] {
			out = append(out, n)
		}
	}
	return out
}

// watch runs `kubectl get --watch` of args and hands each event to seen
// until seen says the wait is over. The watch starts again, from a fresh
// list, whenever the API server goes away.
func (r *run) watch(ctx context.Context, seen func(event) bool, args ...string) error {
	for {
		err := apiServerAnswers(ctx, r.port)
		if err == nil {
			if err = r.watchOnce(ctx, seen, args); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(400 * time.Millisecond):
		}
	}
}

func (r *run) watchOnce(ctx context.Context, seen func(event) bool, args []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done atomic.Bool
	lines := &lineWriter{line: func(l string) {
		if e, ok := parseEvent(l); ok && !done.Load() && seen(e) {
			done.Store(true)
			cancel()
		}
	}}
	args = append(slices.Clone(args), "--watch", "--output-watch-events")
	err := r.k.cmd(args...).WithStdout(lines).Run(ctx)
	if done.Load() {
		return nil
	}
	if err == nil {
		err = errors.New("the API server ended the watch")
	}
	return err
}

// lineWriter hands each complete line written to it to line.
type lineWriter struct {
	buf  []byte
	line func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

func fresh(timestamp string, since time.Time) bool {
	t, err := time.Parse(time.RFC3339, timestamp)
	return err == nil && !t.Before(since)
}

// apiServerAnswers tells whether the API server completes a TLS handshake
// on its published port. Docker's proxy accepts connections before the API
// server listens: only a handshake tells. Nothing is trusted on it.
func apiServerAnswers(ctx context.Context, port int) error {
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: &tls.Config{InsecureSkipVerify: true}}
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("the API server does not answer yet: %w", err)
	}
	return conn.Close()
}

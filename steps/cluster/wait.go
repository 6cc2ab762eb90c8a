package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/dind-cluster/dind-cluster/steps"
)

// waitReady waits until the nodes named want are Ready and, with dns, a
// CoreDNS pod serves. Only reports made after since count: a restored or
// resumed cluster still holds the Ready states of before it stopped.
func (c *Cluster) waitReady(ctx context.Context, since time.Time, want []string, dns bool) error {
	since = since.Add(-2 * time.Second).Truncate(time.Second) // the API's timestamps have seconds only
	if c.Port == 0 {
		port, err := c.publishedPort(ctx)
		if err != nil {
			return err
		}
		c.Port = port
	}
	err := steps.Poll(ctx, 3*time.Minute, "nodes", func() error {
		// A kubectl process costs the booting nodes a tenth of a second of
		// CPU each time: ask only once the API server answers.
		if err := c.apiServerAnswers(ctx); err != nil {
			return err
		}
		lines, err := c.KubectlOnCluster("get", "nodes", "--output=jsonpath="+
			`{range .items[*]}{.metadata.name}={range .status.conditions[?(@.type=="Ready")]}{.status}={.lastHeartbeatTime}{end}{"\n"}{end}`).Lines(ctx)
		if err != nil {
			return err
		}
		ready := map[string]bool{}
		for _, l := range lines {
			f := strings.SplitN(l, "=", 3)
			ready[f[0]] = len(f) == 3 && f[1] == "True" && fresh(f[2], since)
		}
		var notReady []string
		for _, n := range want {
			if !ready[n] {
				notReady = append(notReady, n)
			}
		}
		if len(notReady) > 0 {
			return fmt.Errorf("not Ready: %s", strings.Join(notReady, ", "))
		}
		return nil
	})
	if err != nil || !dns {
		return err
	}
	return steps.Poll(ctx, 3*time.Minute, "CoreDNS", func() error {
		lines, err := c.KubectlOnCluster("--namespace=kube-system", "get", "pods", "--selector=k8s-app=kube-dns", "--output=jsonpath="+
			`{range .items[*]}{range .status.conditions[?(@.type=="Ready")]}{.status}={.lastTransitionTime}{end}{"\n"}{end}`).Lines(ctx)
		if err != nil {
			return err
		}
		for _, l := range lines {
			status, at, _ := strings.Cut(l, "=")
			if status == "True" && fresh(at, since) {
				return nil
			}
		}
		return fmt.Errorf("no CoreDNS pod is ready yet")
	})
}

func fresh(timestamp string, since time.Time) bool {
	t, err := time.Parse(time.RFC3339, timestamp)
	return err == nil && !t.Before(since)
}

// apiServerAnswers tells whether the API server completes a TLS handshake
// on its published port. Docker's proxy accepts connections before the API
// server listens: only a handshake tells. Nothing is trusted on it.
func (c *Cluster) apiServerAnswers(ctx context.Context) error {
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: &tls.Config{InsecureSkipVerify: true}}
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)))
	if err != nil {
		return fmt.Errorf("the API server does not answer yet: %w", err)
	}
	return conn.Close()
}

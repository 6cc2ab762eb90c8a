// Package bench measures what the issues set goals for: build from a warm
// cache, up, restore, down, resume, clean, and the memory of an idle
// cluster. Figures are printed and recorded; never asserted.
package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/dump"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/cache"
	"github.com/dind-cluster/dind-cluster/steps/cluster"
)

// How many creations and restores a bench times: on 2 cores they vary by
// seconds from one run to the next.
const (
	createRuns  = 3
	restoreRuns = 5
)

// Figure is one measurement.
type Figure struct {
	Name  string
	Value string
	Goal  string
}

// Run measures the cluster of cfg from scratch: it cleans it first and
// leaves it running. progress receives the commands' own output.
func Run(ctx context.Context, cfg *config.Config, progress io.Writer) ([]Figure, error) {
	var figures []Figure
	add := func(name, value, goal string) {
		figures = append(figures, Figure{name, value, goal})
		fmt.Fprintf(progress, "bench: %s = %s\n", name, value)
	}
	timed := func(name, goal string, f func() error) error {
		start := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		add(name, seconds(time.Since(start)), goal)
		return nil
	}

	steal := startStealClock()
	defer func() { add("host steal time during the bench", steal(), "") }()

	if err := timed("build (warm cache)", "< 30s", func() error {
		_, _, err := build.RunWithAddons(ctx, cfg.Versions, cfg.CacheDir, cfg.AptMirror, cfg.Addons.Storage, cfg.Addons.Metrics, progress)
		return err
	}); err != nil {
		return figures, err
	}
	last, err := build.LastTimings(cfg.CacheDir)
	if err != nil {
		return figures, err
	}
	for _, s := range build.New(cfg.Versions, cache.Cache{}, nil).Steps() {
		if t, ok := last[s.Name]; ok && s.Done != nil {
			add("  cold "+s.Name, t, "")
		}
	}
	c := cluster.New(cfg, progress)
	type creation struct{ total, init time.Duration }
	var creations []creation
	for range createRuns {
		if err := c.Clean(ctx); err != nil {
			return figures, err
		}
		start := time.Now()
		_, timeline, err := c.Up(ctx, cluster.RequestOf(cfg))
		if err != nil {
			return figures, fmt.Errorf("up (create): %w", err)
		}
		made := creation{total: time.Since(start)}
		for _, e := range timeline {
			if e.Step == "kubeadm-init" {
				made.init = e.Duration
			}
		}
		creations = append(creations, made)
	}
	slices.SortFunc(creations, func(a, b creation) int { return cmp.Compare(a.total, b.total) })
	median := creations[len(creations)/2]
	add(fmt.Sprintf("up (create, median of %d)", createRuns), seconds(median.total), "<= 10s")
	add("  of which kubeadm init", seconds(median.init), "")
	add("  fastest, slowest", seconds(creations[0].total)+", "+seconds(creations[len(creations)-1].total), "")
	time.Sleep(30 * time.Second) // let the cluster settle to idle
	mem, err := memory(ctx, c)
	if err != nil {
		return figures, err
	}
	add("memory of the idle cluster", fmt.Sprintf("%.2f GiB", mem), "<= 2 GiB")
	if err := timed("dump64 of the idle cluster", "<= 10s", func() error {
		var size countingWriter
		enc, err := dump.NewEncoder64(&size)
		if err != nil {
			return err
		}
		if _, err := c.Dump(ctx, enc); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
		add("  dump64 size", fmt.Sprintf("%.2f MB", float64(size)/1e6), "<= 1 MB")
		return nil
	}); err != nil {
		return figures, err
	}
	var restores []time.Duration
	for range restoreRuns {
		start := time.Now()
		if _, _, err := c.Up(ctx, cluster.RequestOf(cfg)); err != nil {
			return figures, fmt.Errorf("up (restore): %w", err)
		}
		restores = append(restores, time.Since(start))
	}
	slices.Sort(restores)
	add(fmt.Sprintf("up (restore, median of %d)", restoreRuns), seconds(restores[len(restores)/2]), "<= 5s")
	add("  fastest, slowest", seconds(restores[0])+", "+seconds(restores[len(restores)-1]), "")
	steps := []struct {
		name, goal string
		run        func() error
	}{
		{"down", "<= 5s", func() error { return c.Down(ctx) }},
		{"up (resume after down)", "<= 5s", func() error { _, _, err := c.Up(ctx, cluster.RequestOf(cfg)); return err }},
	}
	for _, s := range steps {
		if err := timed(s.name, s.goal, s.run); err != nil {
			return figures, err
		}
	}
	if err := timed("clean", "<= 10s", func() error { return c.Clean(ctx) }); err != nil {
		return figures, err
	}
	return figures, nil
}

// memory sums what `docker stats` reports for the cluster's running nodes, in GiB.
func memory(ctx context.Context, c *cluster.Cluster) (float64, error) {
	s, err := c.Observe(ctx)
	if err != nil {
		return 0, err
	}
	var names []string
	for _, ct := range s.Nodes {
		names = append(names, ct.Name)
	}
	usage, err := c.Docker.MemoryUsage(ctx, names...)
	if err != nil {
		return 0, err
	}
	var total float64
	for _, b := range usage {
		total += b
	}
	return total / (1 << 30), nil
}

// Record writes the figures as a table to w and to a dated file under the
// cache folder, and returns that file's path.
func Record(figures []Figure, cacheDir string, w io.Writer) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "dind-cluster bench, %s\n", time.Now().UTC().Format(time.RFC3339))
	for _, f := range figures {
		goal := ""
		if f.Goal != "" {
			goal = "goal " + f.Goal
		}
		fmt.Fprintf(&b, "%-34s %12s  %s\n", f.Name, f.Value, goal)
	}
	fmt.Fprint(w, b.String())
	dir := filepath.Join(cacheDir, "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, time.Now().UTC().Format("20060102T150405Z")+".txt")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// startStealClock starts counting the CPU time the hypervisor took from
// this machine (steal, in /proc/stat): figures taken while it is high are
// noisy. The function returned tells the share so far.
func startStealClock() func() string {
	read := func() (steal, total float64) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		// user nice system idle iowait irq softirq steal; guest time is
		// counted in user already.
		for i, v := range f[1:min(len(f), 9)] {
			n, _ := strconv.ParseFloat(v, 64)
			total += n
			if i == 7 {
				steal = n
			}
		}
		return steal, total
	}
	s0, t0 := read()
	return func() string {
		s1, t1 := read()
		if t1 <= t0 {
			return "unknown"
		}
		return fmt.Sprintf("%.1f%% of CPU time", 100*(s1-s0)/(t1-t0))
	}
}

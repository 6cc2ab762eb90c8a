//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/dind-cluster/dind-cluster/dump"
	"github.com/dind-cluster/dind-cluster/steps/cluster"
)

// dumpDir is where split-dump and split-dump64 write, as in the seed.
const dumpDir = "cluster-dump"

// Dump prints the state of the nodes and the cluster as text with @@@ filename @@@ markers.
func Dump(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	summary, err := c.Dump(ctx, os.Stdout)
	report(summary)
	return err
}

// Dump64 prints the dump xz-compressed and base64-encoded between %%% start-base64 %%% and %%% end-base64 %%% lines.
func Dump64(ctx context.Context) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	enc, err := dump.NewEncoder64(os.Stdout)
	if err != nil {
		return err
	}
	summary, err := c.Dump(ctx, enc)
	if cerr := enc.Close(); err == nil {
		err = cerr
	}
	report(summary)
	return err
}

// SplitDump reads a dump on stdin and writes its files under cluster-dump/.
func SplitDump() error {
	files, err := dump.Split(os.Stdin, dumpDir)
	fmt.Fprintf(os.Stderr, "%d files written under %s/\n", len(files), dumpDir)
	return err
}

// SplitDump64 finds a dump64 block in a log on stdin and writes its files under cluster-dump/.
func SplitDump64() error {
	files, err := dump.Split64(os.Stdin, dumpDir)
	fmt.Fprintf(os.Stderr, "%d files written under %s/\n", len(files), dumpDir)
	return err
}

func report(s cluster.DumpSummary) {
	fmt.Fprintf(os.Stderr, "dump: %d sections", s.Sections)
	if len(s.Failed) > 0 {
		fmt.Fprintf(os.Stderr, ", %d could not be collected (the dump says why): %s", len(s.Failed), strings.Join(s.Failed, ", "))
	}
	fmt.Fprintln(os.Stderr)
}

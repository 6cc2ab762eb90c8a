//go:build mage

package main

import (
	"context"
	"os"

	"github.com/dind-cluster/dind-cluster/steps/e2e"
)

// E2e runs the cluster's non-serial [Conformance] specs whose name contains focus ("" for all of them), building e2e.test, ginkgo and the test images first; E2E_SKIP, E2E_PARALLEL, E2E_TIMEOUT, E2E_REPORT_DIR adjust it.
func E2e(ctx context.Context, focus string) error {
	return runE2E(ctx, false, focus)
}

// E2eSerial runs the cluster's [Serial] [Conformance] specs whose name contains focus ("" for all of them), one at a time.
func E2eSerial(ctx context.Context, focus string) error {
	return runE2E(ctx, true, focus)
}

func runE2E(ctx context.Context, serial bool, focus string) error {
	ctx, stop := withSignals(ctx)
	defer stop()
	c, err := newCluster()
	if err != nil {
		return err
	}
	_, err = e2e.Run(ctx, c.Cfg, c, serial, focus, os.Stdout)
	return err
}

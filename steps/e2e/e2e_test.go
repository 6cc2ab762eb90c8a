package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dind-cluster/dind-cluster/fixed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/cache"
)

func TestGinkgoArgs(t *testing.T) {
	o := Options{Parallel: 6, Timeout: 4 * time.Hour, Focus: "existing RC", Skip: "Slow",
		E2ETest: "/c/e2e.test", Kubectl: "/c/kubectl", Kubeconfig: "/k", Context: "dind-cluster-8", Nodes: 2, ReportDir: "/r"}
	args := GinkgoArgs(o)
	for _, want := range []string{"--label-filter=Conformance && !Serial", "--procs=6", "--timeout=4h0m0s",
		`--focus=existing RC`, "/c/e2e.test", "--provider=skeleton", "--kubeconfig=/k", "--context=dind-cluster-8",
		"--kubectl-path=/c/kubectl", "--num-nodes=2", "--report-dir=/r", "--output-dir=/r", "--json-report=ginkgo-report.json"} {
		if !slices.Contains(args, want) {
			t.Errorf("missing %q in %q", want, args)
		}
	}
	if i, j := slices.Index(args, "/c/e2e.test"), slices.Index(args, "--provider=skeleton"); i < 0 || j < i {
		t.Errorf("ginkgo's flags must come before e2e.test and the suite's after it: %q", args)
	}
	skip := args[slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "--skip=") })]
	if !strings.Contains(skip, "|Slow") || !strings.Contains(skip, `mTLS connection`) {
		t.Errorf("skip %q lacks E2E_SKIP or the unavailable specs", skip)
	}

	o.Mirror = true
	args = GinkgoArgs(o)
	skip = args[slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "--skip=") })]
	if strings.Contains(skip, "mTLS connection") || !strings.Contains(skip, "ImageVolume") {
		t.Errorf("with the local registry serving the e2e images, skip %q must only leave out the kitten spec", skip)
	}

	o.Serial, o.Focus = true, "a.b [x]"
	args = GinkgoArgs(o)
	if !slices.Contains(args, "--label-filter=Conformance && Serial") || !slices.Contains(args, "--procs=1") {
		t.Errorf("serial: %q", args)
	}
	if !slices.Contains(args, `--focus=a\.b \[x\]`) {
		t.Errorf("the focus is a substring, not a regular expression: %q", args)
	}
}

func TestReadJUnit(t *testing.T) {
	dir := t.TempDir()
	report := `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" disabled="0" errors="0" failures="1" time="12.5">
  <testsuite name="Kubernetes e2e suite" package="/x" tests="5" skipped="1" failures="1">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="1"></testcase>
    <testcase name="[sig-apps] ReplicationController should adopt matching pods [Conformance]" classname="Kubernetes e2e suite" status="passed" time="3"></testcase>
    <testcase name="[sig-network] DNS should provide DNS for services [Conformance]" classname="Kubernetes e2e suite" status="failed" time="5"><failure message="boom" type="failed">boom</failure></testcase>
    <testcase name="[sig-storage] Something [Serial]" classname="Kubernetes e2e suite" status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
    <testcase name="[ReportAfterSuite] Kubernetes e2e suite report" classname="Kubernetes e2e suite" status="passed" time="0"></testcase>
  </testsuite>
</testsuites>`
	if err := os.WriteFile(filepath.Join(dir, "junit_01.xml"), []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ReadJUnit(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Passed != 1 || s.Failed != 1 || s.Skipped != 1 || s.Ran() != 2 {
		t.Errorf("got %+v", s)
	}
	if len(s.FailedSpecs) != 1 || !strings.Contains(s.FailedSpecs[0], "DNS should provide") {
		t.Errorf("failed specs %q", s.FailedSpecs)
	}
	if _, err := ReadJUnit(t.TempDir()); err == nil {
		t.Error("a folder without a report must be an error, not an empty success")
	}
}

func TestThePlanLeavesTheNodeImageAlone(t *testing.T) {
	b := build.New(fixed.Default, cache.Cache{}, nil)
	b.WithE2E = true
	var names []string
	for _, s := range steps.Closure(b.Steps(), build.StepE2EImages, build.StepE2EBinaries) {
		names = append(names, s.Name)
	}
	for _, want := range []string{"kubernetes", "e2e-binaries", "e2e-tools", "busybox", "rootfs-e2e", "e2e-images"} {
		if !slices.Contains(names, want) {
			t.Errorf("plan %q lacks %s", names, want)
		}
	}
	for _, unwanted := range []string{build.StepNodeImage, "cluster-images", "containerd", "rootfs-node"} {
		if slices.Contains(names, unwanted) {
			t.Errorf("plan %q has %s, which a running cluster already has", names, unwanted)
		}
	}
}

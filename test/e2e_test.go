package test

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConformanceFocused runs a few conformance specs through `e2e`, across
// apps, network, DNS and node, on a cluster of its own (CLUSTER_ID=8), and
// reads their outcome from the JUnit report: a run in which nothing ran
// does not pass.
func TestConformanceFocused(t *testing.T) {
	dindCluster(t)
	reports := t.TempDir()
	env := append(clusterEnv("CLUSTER_ID=8", "KUBECONFIG="+filepath.Join(workDir, "kubeconfig-e2e")),
		"E2E_REPORT_DIR="+reports, "E2E_PARALLEL=2")
	run(t, env, "clean")
	t.Cleanup(func() { run(t, env, "clean") })
	if out, err := run(t, env, "up"); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	t.Run("a focus that selects nothing fails", func(t *testing.T) {
		out, err := run(t, env, "e2e", "no conformance spec is named like this")
		if err == nil || !strings.Contains(out, "no spec ran") {
			t.Errorf("e2e with a focus that matches nothing: err %v\n%s", err, out)
		}
	})
	t.Run("a bad knob is refused, naming it", func(t *testing.T) {
		out, err := run(t, append(env, "E2E_PARALLEL=many"), "e2e", "")
		if err == nil || !strings.Contains(out, "E2E_PARALLEL=many") {
			t.Errorf("E2E_PARALLEL=many: err %v\n%s", err, out)
		}
	})
	for _, c := range []struct {
		focus string
		specs int
	}{
		// busybox as upstream's 1.37: its sh keeps variables named with '-'.
		{"should be consumable via the environment", 2},
		// TCP to a Service port that only has UDP must not connect.
		{"should serve endpoints on same port and different protocols", 1},
		{"DNS should provide DNS for the cluster", 1},
		{"RollingUpdateDeployment should delete old pods and create new ones", 1},
	} {
		t.Run(c.focus, func(t *testing.T) {
			before, _ := filepath.Glob(filepath.Join(reports, "*"))
			out, err := run(t, env, "e2e", c.focus)
			after, _ := filepath.Glob(filepath.Join(reports, "*"))
			if len(after) != len(before)+1 {
				t.Fatalf("e2e %q made no results folder in %s (err %v)\n%s", c.focus, reports, err, out)
			}
			passed, failed := junitOutcome(t, after[len(after)-1])
			if err != nil || len(failed) > 0 {
				t.Errorf("e2e %q: %v; failed specs %q", c.focus, err, failed)
			}
			if len(passed) != c.specs {
				t.Errorf("e2e %q: %d specs passed (%q), want %d", c.focus, len(passed), passed, c.specs)
			}
			for _, p := range passed {
				if !strings.Contains(p, c.focus) || !strings.Contains(p, "[Conformance]") {
					t.Errorf("e2e %q ran %q, which its focus does not select", c.focus, p)
				}
			}
		})
	}
}

// junitOutcome reads the names of the passed and failed specs from the
// JUnit reports in dir.
func junitOutcome(t *testing.T, dir string) (passed, failed []string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "junit*.xml"))
	if len(files) == 0 {
		t.Fatalf("no JUnit report in %s", dir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var report struct {
			Suites []struct {
				Cases []struct {
					Name    string    `xml:"name,attr"`
					Status  string    `xml:"status,attr"`
					Failure *struct{} `xml:"failure"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal(data, &report); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, s := range report.Suites {
			for _, c := range s.Cases {
				switch {
				case c.Failure != nil || c.Status == "failed":
					failed = append(failed, c.Name)
				case c.Status == "passed" && strings.Contains(c.Name, "[Conformance]"):
					passed = append(passed, c.Name)
				}
			}
		}
	}
	return passed, failed
}

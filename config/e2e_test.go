package config

import (
	"strings"
	"testing"
	"time"
)

func TestE2EKnobs(t *testing.T) {
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			if k == "HOME" {
				return "/home/u", true
			}
			v, ok := kv[k]
			return v, ok
		}
	}
	c, err := Load(env(nil), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.E2EParallel != 6 || c.E2ETimeout != 4*time.Hour || c.E2ESkip != "" ||
		c.E2EReportDir != "/home/u/.kubeadm-dind-cluster/e2e-results" {
		t.Errorf("defaults: parallel %d, timeout %s, skip %q, reports %s", c.E2EParallel, c.E2ETimeout, c.E2ESkip, c.E2EReportDir)
	}
	c, err = Load(env(map[string]string{"E2E_PARALLEL": "2", "E2E_TIMEOUT": "90m", "E2E_SKIP": "Slow|Flaky",
		"DIND_CACHE_DIR": "/c"}), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.E2EParallel != 2 || c.E2ETimeout != 90*time.Minute || c.E2ESkip != "Slow|Flaky" || c.E2EReportDir != "/c/e2e-results" {
		t.Errorf("set: parallel %d, timeout %s, skip %q, reports %s", c.E2EParallel, c.E2ETimeout, c.E2ESkip, c.E2EReportDir)
	}
	for knob, bad := range map[string]string{"E2E_PARALLEL": "0", "E2E_TIMEOUT": "4 hours", "E2E_SKIP": "(unclosed"} {
		_, err := Load(env(map[string]string{knob: bad}), "")
		if err == nil || !strings.Contains(err.Error(), knob+"="+bad) {
			t.Errorf("%s=%s: want an error naming the knob, got %v", knob, bad, err)
		}
	}
}

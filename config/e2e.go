package config

import (
	"path/filepath"
	"regexp"
	"time"
)

// e2e reads the knobs of the e2e and e2e-serial commands.
func (l *loader) e2e(c *Config) {
	c.E2ESkip = l.get("E2E_SKIP")
	if c.E2ESkip != "" {
		if _, err := regexp.Compile(c.E2ESkip); err != nil {
			l.fail("E2E_SKIP", c.E2ESkip, "must be a regular expression as ginkgo's --skip takes, e.g. 'Slow|Flaky': %v", err)
		}
	}
	c.E2EParallel = l.number("E2E_PARALLEL", 1, 64)
	timeout := l.get("E2E_TIMEOUT")
	if timeout == "" {
		timeout = knobDefault("E2E_TIMEOUT")
	}
	d, err := time.ParseDuration(timeout)
	if err != nil || d < time.Minute {
		l.fail("E2E_TIMEOUT", timeout, "must be a Go duration of at least a minute, e.g. 90m or 4h")
		d, _ = time.ParseDuration(knobDefault("E2E_TIMEOUT"))
	}
	c.E2ETimeout = d
	if l.get("E2E_REPORT_DIR") != "" {
		c.E2EReportDir = l.path("E2E_REPORT_DIR")
	} else if c.CacheDir != "" {
		c.E2EReportDir = filepath.Join(c.CacheDir, "e2e-results")
	}
}

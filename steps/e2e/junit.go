package e2e

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Summary counts the specs of a run's JUnit reports.
type Summary struct {
	Passed, Failed, Skipped int
	FailedSpecs             []string
	PassedSpecs             []string
}

// Ran is how many specs ran (passed or failed).
func (s Summary) Ran() int { return s.Passed + s.Failed }

// Text is the summary for a person.
func (s Summary) Text(took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d passed, %d failed, %d skipped in %s", s.Passed, s.Failed, s.Skipped, took.Round(time.Second))
	for _, f := range s.FailedSpecs {
		fmt.Fprintf(&b, "\nFAILED: %s", f)
	}
	return b.String()
}

type junitSuites struct {
	Suites []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Cases []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name    string    `xml:"name,attr"`
	Status  string    `xml:"status,attr"`
	Skipped *struct{} `xml:"skipped"`
	Failure *struct{} `xml:"failure"`
	Error   *struct{} `xml:"error"`
}

// ReadJUnit sums the JUnit reports (junit*.xml) in dir. Ginkgo's setup and
// teardown nodes ([SynchronizedBeforeSuite] ...) are not specs and are left
// out unless they failed.
func ReadJUnit(dir string) (Summary, error) {
	files, err := filepath.Glob(filepath.Join(dir, "junit*.xml"))
	if err != nil {
		return Summary{}, err
	}
	if len(files) == 0 {
		return Summary{}, fmt.Errorf("no junit*.xml in %s", dir)
	}
	var s Summary
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return s, err
		}
		var suites junitSuites
		if err := xml.Unmarshal(data, &suites); err != nil || len(suites.Suites) == 0 {
			var one junitSuite
			if err2 := xml.Unmarshal(data, &one); err2 != nil {
				return s, fmt.Errorf("reading %s: %w", f, err)
			}
			suites.Suites = []junitSuite{one}
		}
		for _, suite := range suites.Suites {
			for _, c := range suite.Cases {
				setup := strings.HasPrefix(c.Name, "[") && strings.Contains(c.Name, "Suite]")
				switch {
				case c.Failure != nil || c.Error != nil:
					s.Failed++
					s.FailedSpecs = append(s.FailedSpecs, c.Name)
				case setup:
				case c.Skipped != nil || c.Status == "skipped" || c.Status == "pending":
					s.Skipped++
				default:
					s.Passed++
					s.PassedSpecs = append(s.PassedSpecs, c.Name)
				}
			}
		}
	}
	return s, nil
}

// Package steps runs a plan: a set of named steps that declare which steps
// they need. Every step whose needs are met runs at once; the first failure
// cancels the rest; every step's start, end and duration is reported.
package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/errgroup"
)

// Step is one unit of work in a plan.
type Step struct {
	Name  string
	Needs []string
	// Done reports that the step's result already exists (a cache hit), so
	// Run is not called. Optional.
	Done func(ctx context.Context) (bool, error)
	Run  func(ctx context.Context) error
}

// Outcome is how a step ended.
type Outcome string

const (
	Ran     Outcome = "ran"
	Cached  Outcome = "cached"
	Failed  Outcome = "FAILED"
	Skipped Outcome = "skipped" // a step it needs failed, or the plan was cancelled
)

// Event is one line of the timeline: when a step started, relative to the
// start of the plan, and how long it took.
type Event struct {
	Step     string
	Start    time.Duration
	Duration time.Duration
	Outcome  Outcome
}

// Timeline is the record of a plan's run, in the order steps started.
type Timeline []Event

// Plan is a validated set of steps.
type Plan struct {
	steps []Step
}

// NewPlan checks that names are unique, every need names a step of the plan
// and there is no cycle.
func NewPlan(steps ...Step) (*Plan, error) {
	byName := map[string]Step{}
	for _, s := range steps {
		if s.Name == "" || s.Run == nil {
			return nil, fmt.Errorf("step %q: a step needs a name and a Run function", s.Name)
		}
		if _, dup := byName[s.Name]; dup {
			return nil, fmt.Errorf("step %q is in the plan twice", s.Name)
		}
		byName[s.Name] = s
	}
	for _, s := range steps {
		for _, n := range s.Needs {
			if _, ok := byName[n]; !ok {
				return nil, fmt.Errorf("step %q needs %q, which is not in the plan", s.Name, n)
			}
		}
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("steps form a cycle: %s", strings.Join(append(path, name), " -> "))
		case 2:
			return nil
		}
		state[name] = 1
		for _, n := range byName[name].Needs {
			if err := visit(n, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		return nil
	}
	for _, s := range steps {
		if err := visit(s.Name, nil); err != nil {
			return nil, err
		}
	}
	return &Plan{steps: steps}, nil
}

// Names lists the steps in the order they were given.
func (p *Plan) Names() []string {
	var out []string
	for _, s := range p.steps {
		out = append(out, s.Name)
	}
	return out
}

// Run executes the plan, printing a line to progress as each step starts and
// ends. It returns the timeline and every step failure, aggregated.
func (p *Plan) Run(ctx context.Context, progress io.Writer) (Timeline, error) {
	if progress == nil {
		progress = io.Discard
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	done := map[string]chan struct{}{}
	ok := map[string]bool{}
	for _, s := range p.steps {
		done[s.Name] = make(chan struct{})
	}
	var (
		mu       sync.Mutex
		timeline Timeline
		failures *multierror.Error
	)
	record := func(e Event, line string) {
		mu.Lock()
		defer mu.Unlock()
		timeline = append(timeline, e)
		if line != "" {
			fmt.Fprintln(progress, line)
		}
	}
	for _, s := range p.steps {
		g.Go(func() error {
			defer close(done[s.Name])
			for _, n := range s.Needs {
				select {
				case <-done[n]:
				case <-gctx.Done():
				}
			}
			mu.Lock()
			ready := gctx.Err() == nil
			for _, n := range s.Needs {
				ready = ready && ok[n]
			}
			mu.Unlock()
			began := time.Since(start)
			if !ready {
				record(Event{Step: s.Name, Start: began, Outcome: Skipped}, "")
				return nil
			}
			outcome, err := runStep(gctx, s, func() {
				mu.Lock()
				fmt.Fprintf(progress, "==> %s\n", s.Name)
				mu.Unlock()
			})
			took := time.Since(start) - began
			if err != nil {
				mu.Lock()
				// A step that only saw the cancellation caused by another
				// failure adds nothing to the report.
				if !(errors.Is(err, context.Canceled) && gctx.Err() != nil && ctx.Err() == nil) {
					failures = multierror.Append(failures, fmt.Errorf("%s: %w", s.Name, err))
				}
				mu.Unlock()
				record(Event{Step: s.Name, Start: began, Duration: took, Outcome: Failed},
					fmt.Sprintf("<== %s failed after %s", s.Name, round(took)))
				return err
			}
			mu.Lock()
			ok[s.Name] = true
			mu.Unlock()
			line := fmt.Sprintf("<== %s %s", s.Name, round(took))
			if outcome == Cached {
				line = fmt.Sprintf("<== %s cached", s.Name)
			}
			record(Event{Step: s.Name, Start: began, Duration: took, Outcome: outcome}, line)
			return nil
		})
	}
	err := g.Wait()
	sort.SliceStable(timeline, func(i, j int) bool { return timeline[i].Start < timeline[j].Start })
	if failures.ErrorOrNil() != nil {
		failures.ErrorFormat = listErrors
		return timeline, failures
	}
	if err != nil {
		return timeline, err
	}
	return timeline, ctx.Err()
}

func runStep(ctx context.Context, s Step, announce func()) (Outcome, error) {
	if s.Done != nil {
		cached, err := s.Done(ctx)
		if err != nil {
			return Failed, err
		}
		if cached {
			return Cached, nil
		}
	}
	announce()
	if err := s.Run(ctx); err != nil {
		return Failed, err
	}
	return Ran, nil
}

func listErrors(errs []error) string {
	if len(errs) == 1 {
		return errs[0].Error()
	}
	lines := []string{fmt.Sprintf("%d steps failed:", len(errs))}
	for _, e := range errs {
		lines = append(lines, "  * "+strings.ReplaceAll(e.Error(), "\n", "\n    "))
	}
	return strings.Join(lines, "\n")
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// Print writes the timeline as a table: step, start offset, duration, outcome.
func (t Timeline) Print(w io.Writer) {
	width := len("step")
	for _, e := range t {
		width = max(width, len(e.Step))
	}
	fmt.Fprintf(w, "%-*s  %8s  %8s  %s\n", width, "step", "start", "took", "outcome")
	for _, e := range t {
		fmt.Fprintf(w, "%-*s  %8s  %8s  %s\n", width, e.Step, seconds(e.Start), seconds(e.Duration), e.Outcome)
	}
}

// Total is the wall time from the plan's start to its last step's end.
func (t Timeline) Total() time.Duration {
	var end time.Duration
	for _, e := range t {
		end = max(end, e.Start+e.Duration)
	}
	return end
}

func seconds(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// Closure is the steps of all that roots need, themselves included, in the
// order all gives them: what a plan that wants only roots must run.
func Closure(all []Step, roots ...string) []Step {
	byName := map[string]Step{}
	for _, s := range all {
		byName[s.Name] = s
	}
	want := map[string]bool{}
	var visit func(string)
	visit = func(name string) {
		if want[name] {
			return
		}
		want[name] = true
		for _, n := range byName[name].Needs {
			visit(n)
		}
	}
	for _, r := range roots {
		visit(r)
	}
	var out []Step
	for _, s := range all {
		if want[s.Name] {
			out = append(out, s)
		}
	}
	return out
}

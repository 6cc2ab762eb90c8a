package steps

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func ok(context.Context) error { return nil }

func TestIndependentStepsRunTogether(t *testing.T) {
	var running, peak atomic.Int32
	work := func(ctx context.Context) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		running.Add(-1)
		return nil
	}
	plan, err := NewPlan(Step{Name: "a", Run: work}, Step{Name: "b", Run: work}, Step{Name: "c", Run: work})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 3 {
		t.Errorf("at most %d of 3 independent steps ran at once, want 3", peak.Load())
	}
}

func TestNeedsOrderSteps(t *testing.T) {
	var mu sync.Mutex
	var order []string
	note := func(name string) func(context.Context) error {
		return func(context.Context) error {
			time.Sleep(10 * time.Millisecond)
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		}
	}
	plan, err := NewPlan(
		Step{Name: "join", Needs: []string{"init"}, Run: note("join")},
		Step{Name: "init", Needs: []string{"start", "image"}, Run: note("init")},
		Step{Name: "start", Run: note("start")},
		Step{Name: "image", Run: note("image")},
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(order, ",")
	if !strings.HasSuffix(got, "init,join") || len(order) != 4 {
		t.Errorf("steps ran in order %s; init must follow start and image, join must follow init", got)
	}
}

func TestFirstFailureCancelsTheRest(t *testing.T) {
	cancelled, slowStarted := make(chan struct{}), make(chan struct{})
	plan, err := NewPlan(
		Step{Name: "fails", Run: func(context.Context) error { <-slowStarted; return errors.New("boom") }},
		Step{Name: "slow", Run: func(ctx context.Context) error {
			close(slowStarted)
			select {
			case <-ctx.Done():
				close(cancelled)
				return ctx.Err()
			case <-time.After(5 * time.Second):
				return nil
			}
		}},
		Step{Name: "after", Needs: []string{"fails"}, Run: func(context.Context) error {
			t.Error("a step whose need failed ran")
			return nil
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	timeline, err := plan.Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "fails: boom") {
		t.Fatalf("error %v, want the failing step named with its error", err)
	}
	if strings.Contains(err.Error(), "slow") {
		t.Errorf("the cancelled step is reported as a failure: %v", err)
	}
	select {
	case <-cancelled:
	default:
		t.Error("the slow step was not cancelled")
	}
	if time.Since(start) > 2*time.Second {
		t.Error("the plan waited for the slow step instead of cancelling it")
	}
	outcomes := map[string]Outcome{}
	for _, e := range timeline {
		outcomes[e.Step] = e.Outcome
	}
	if outcomes["fails"] != Failed || outcomes["after"] != Skipped {
		t.Errorf("outcomes %v, want fails FAILED and after skipped", outcomes)
	}
}

func TestSimultaneousFailuresAreAggregated(t *testing.T) {
	var started sync.WaitGroup
	started.Add(2)
	fail := func(msg string) func(context.Context) error {
		return func(context.Context) error {
			started.Done()
			started.Wait() // both fail before either can cancel the other
			return errors.New(msg)
		}
	}
	plan, err := NewPlan(Step{Name: "a", Run: fail("disk full")}, Step{Name: "b", Run: fail("no engine")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = plan.Run(context.Background(), nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"2 steps failed", "a: disk full", "b: no engine"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestCachedStepDoesNotRun(t *testing.T) {
	var progress bytes.Buffer
	plan, err := NewPlan(Step{Name: "build", Done: func(context.Context) (bool, error) { return true, nil },
		Run: func(context.Context) error { t.Error("a cached step ran"); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	timeline, err := plan.Run(context.Background(), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if len(timeline) != 1 || timeline[0].Outcome != Cached {
		t.Errorf("timeline %+v, want one cached step", timeline)
	}
	if !strings.Contains(progress.String(), "build cached") {
		t.Errorf("progress %q does not say the step was cached", progress.String())
	}
	var table bytes.Buffer
	timeline.Print(&table)
	if !strings.Contains(table.String(), "cached") {
		t.Errorf("timeline table %q lacks the outcome", table.String())
	}
}

func TestBadPlansAreRefused(t *testing.T) {
	for name, steps := range map[string][]Step{
		"cycle":        {{Name: "a", Needs: []string{"b"}, Run: ok}, {Name: "b", Needs: []string{"a"}, Run: ok}},
		"unknown need": {{Name: "a", Needs: []string{"nowhere"}, Run: ok}},
		"duplicate":    {{Name: "a", Run: ok}, {Name: "a", Run: ok}},
		"no run":       {{Name: "a"}},
	} {
		if _, err := NewPlan(steps...); err == nil {
			t.Errorf("%s: plan accepted", name)
		}
	}
}

func TestCallerCancellationStopsThePlan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	plan, err := NewPlan(Step{Name: "wait", Run: func(ctx context.Context) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Run(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestPollRetriesUntilDoneAndStopsOnPermanent(t *testing.T) {
	tries := 0
	err := Poll(context.Background(), 5*time.Second, "thing", func() error {
		tries++
		if tries < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || tries != 3 {
		t.Errorf("Poll: %v after %d tries, want success on the third", err, tries)
	}
	tries = 0
	err = Poll(context.Background(), 5*time.Second, "thing", func() error {
		tries++
		return Permanent(errors.New("node stopped"))
	})
	if err == nil || err.Error() != "node stopped" || tries != 1 {
		t.Errorf("Poll with a permanent error: %v after %d tries", err, tries)
	}
	err = Poll(context.Background(), 10*time.Millisecond, "thing", func() error { return errors.New("never") })
	if err == nil || !strings.Contains(err.Error(), "thing not ready after 10ms: never") {
		t.Errorf("Poll past its limit: %v", err)
	}
}

func TestClosureKeepsWhatTheRootsNeed(t *testing.T) {
	noop := func(context.Context) error { return nil }
	all := []Step{{Name: "a", Run: noop}, {Name: "b", Needs: []string{"a"}, Run: noop}, {Name: "c", Run: noop},
		{Name: "d", Needs: []string{"b"}, Run: noop}}
	var got []string
	for _, s := range Closure(all, "d") {
		got = append(got, s.Name)
	}
	if strings.Join(got, " ") != "a b d" {
		t.Errorf("closure of d: %v; want a b d", got)
	}
	if _, err := NewPlan(Closure(all, "d", "c")...); err != nil {
		t.Errorf("a closure is no valid plan: %v", err)
	}
}

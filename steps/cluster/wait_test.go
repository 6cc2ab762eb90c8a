package cluster

import (
	"slices"
	"testing"
	"time"
)

func TestWatchLinesAreParsed(t *testing.T) {
	for line, want := range map[string]event{
		"ADDED|kube-proxy-x|kube-node-1|True|2026-12-01T22:00:03Z\n": {"ADDED", "kube-proxy-x", "kube-node-1", "True", "2026-12-01T22:00:03Z"},
		// Not scheduled yet: no node, no Ready condition.
		"ADDED|kube-proxy-y|||": {"ADDED", "kube-proxy-y", "", "", ""},
	} {
		got, ok := parseEvent(line)
		if !ok || got != want {
			t.Errorf("parseEvent(%q) = %+v, %v; want %+v", line, got, ok, want)
		}
	}
	for _, bad := range []string{"", "ADDED", "ADDED kube-proxy-x kube-node-1 True 2026-12-01T22:00:03Z", "|||"} {
		if e, ok := parseEvent(bad); ok {
			t.Errorf("parseEvent(%q) = %+v; want it refused", bad, e)
		}
	}
}

// A node counts once an object on it is ready since the wait began: a
// restored cluster's objects still carry the Ready states of its snapshot.
func TestReadinessIsPerNodeAndFresh(t *testing.T) {
	since := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	ready := func(e event) bool { return e.kind != "DELETED" && e.status == "True" && fresh(e.time, since) }
	want := []string{"kube-master", "kube-node-1", "kube-node-2"}
	r := readiness{}
	for _, l := range []string{
		"ADDED|kube-proxy-a|kube-master|True|2026-12-01T22:00:05Z",
		"ADDED|kube-proxy-b|kube-node-1|True|2026-12-01T21:50:00Z", // from before: stale
		"ADDED|kube-proxy-c|||",
	} {
		e, _ := parseEvent(l)
		r[e.name] = e
	}
	if got := r.missing(want, ready); !slices.Equal(got, []string{"kube-node-1", "kube-node-2"}) {
		t.Fatalf("missing %v, want kube-node-1 (stale) and kube-node-2 (not scheduled)", got)
	}
	for _, l := range []string{
		"MODIFIED|kube-proxy-b|kube-node-1|True|2026-12-01T22:00:06Z",
		"MODIFIED|kube-proxy-c|kube-node-2|True|2026-12-01T22:00:07Z",
		"ADDED|kube-proxy-d|kube-node-2|False|2026-12-01T22:00:07Z", // a second, starting pod does not undo it
	} {
		e, _ := parseEvent(l)
		r[e.name] = e
	}
	if got := r.missing(want, ready); len(got) != 0 {
		t.Errorf("missing %v, want none", got)
	}
	e, _ := parseEvent("DELETED|kube-proxy-a|kube-master|True|2026-12-01T22:00:05Z")
	r[e.name] = e
	if got := r.missing(want, ready); !slices.Equal(got, []string{"kube-master"}) {
		t.Errorf("after the master's pod was deleted, missing %v", got)
	}
}

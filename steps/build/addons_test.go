package build

import (
	"slices"
	"testing"

	"github.com/dind-cluster/dind-cluster/fixed"
	"github.com/dind-cluster/dind-cluster/steps/cache"
)

// An addon turned off costs nothing: neither its build nor its image is in
// the plan; turned on, the cluster images wait for its build.
func TestAddonsAreBuiltOnlyWhenOn(t *testing.T) {
	for _, tc := range []struct {
		storage, metrics bool
		want             []string
	}{
		{false, false, nil},
		{true, false, []string{"local-path-provisioner"}},
		{false, true, []string{"metrics-server"}},
		{true, true, []string{"local-path-provisioner", "metrics-server"}},
	} {
		b := New(fixed.Default, cache.Cache{Dir: t.TempDir()}, nil)
		b.WithStorage, b.WithMetrics = tc.storage, tc.metrics
		var built, imagesNeed []string
		for _, s := range b.Steps() {
			if s.Name == "local-path-provisioner" || s.Name == "metrics-server" {
				built = append(built, s.Name)
			}
			if s.Name == "cluster-images" {
				imagesNeed = s.Needs
			}
		}
		if !slices.Equal(built, tc.want) {
			t.Errorf("storage=%v metrics=%v: builds %v, want %v", tc.storage, tc.metrics, built, tc.want)
		}
		for _, w := range tc.want {
			if !slices.Contains(imagesNeed, w) {
				t.Errorf("the cluster images do not wait for %s (needs %v)", w, imagesNeed)
			}
		}
		wantImages := map[bool]int{false: 0, true: 2}[tc.storage] + map[bool]int{false: 0, true: 1}[tc.metrics]
		if got := len(b.addonImageSpecs()); got != wantImages {
			t.Errorf("storage=%v metrics=%v: %d addon images, want %d", tc.storage, tc.metrics, got, wantImages)
		}
	}
}

package build

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/dind-cluster/dind-cluster/fixed"
	"github.com/dind-cluster/dind-cluster/steps/cache"
)

var k9sBuild = goBuild{Module: "github.com/derailed/k9s", Version: fixed.K9s,
	Packages: []string{"github.com/derailed/k9s"},
	LDFlags:  []string{"-X", "github.com/derailed/k9s/cmd.version=" + fixed.K9s}}

// K9s builds the k9s terminal UI for this machine unless the cache has it,
// and returns its cache folder, whose bin/k9s it is. The folder's kind is
// "dashboard": the cache folder's own k9s is the binary placed beside kubectl.
func K9s(ctx context.Context, c cache.Cache, log io.Writer) (string, error) {
	key := cache.Key(append([]string{"recipe=" + recipe, "k9s"}, k9sBuild.inputs(runtime.GOARCH)...)...)
	if c.Has("dashboard", key) {
		return c.Path("dashboard", key), nil
	}
	if log != nil {
		fmt.Fprintf(log, "building k9s %s from its Go module (once; a few minutes on a cold Go cache)\n", fixed.K9s)
	}
	if err := checkFree("k9s", c.Dir); err != nil {
		return "", err
	}
	return c.Fill(ctx, "dashboard", key, func(dir string) error { return k9sBuild.build(ctx, dir, runtime.GOARCH) })
}

package build

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// goBuild builds the main packages of one Go module at one version, from the
// module proxy, in a scratch module of its own.
type goBuild struct {
	Module   string
	Version  string
	Packages []string // import paths of main packages, each at Version or at its own "@version"
	// Tests are packages whose test binary is built (`go test -c`), as
	// bin/NAME.test after the package's last path element.
	Tests    []string
	Replaces []string // "path => path version" lines for the scratch go.mod
	// Staging, when set, replaces each ./staging module that the module's own
	// go.mod points at by its published release of this version.
	Staging string
	Tags    []string
	LDFlags []string
	CGO     bool
	Static  bool              // cgo only: link statically
	Rename  map[string]string // output name => final name
}

// inputs are what the cache key of this build is made of.
func (g goBuild) inputs(arch string) []string {
	in := []string{"module=" + g.Module + "@" + g.Version, "arch=" + arch, "go=" + runtime.Version()}
	if len(g.Tests) > 0 { // only then: the keys of builds without tests stay as they were
		in = append(in, "tests="+strings.Join(g.Tests, ","))
	}
	in = append(in, "packages="+strings.Join(g.Packages, ","), "tags="+strings.Join(g.Tags, ","),
		"ldflags="+strings.Join(g.LDFlags, " "), fmt.Sprintf("cgo=%v static=%v", g.CGO, g.Static))
	in = append(in, g.Replaces...)
	in = append(in, "staging="+g.Staging)
	var renames []string
	for from, to := range g.Rename {
		renames = append(renames, from+"->"+to)
	}
	sort.Strings(renames)
	return append(in, renames...)
}

// build writes the binaries into dir/bin.
func (g goBuild) build(ctx context.Context, dir, arch string) error {
	src := filepath.Join(dir, "src")
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	replaces := g.Replaces
	if g.Staging != "" {
		info, err := downloadModule(ctx, g.Module, g.Version)
		if err != nil {
			return err
		}
		goMod, err := os.ReadFile(info.GoMod)
		if err != nil {
			return err
		}
		replaces = append(replaces, stagingReplaces(goMod, g.Staging)...)
	}
	mod := "module dindbuild\n\ngo 1.24\n\n"
	for _, r := range replaces {
		mod += "replace " + r + "\n"
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(mod), 0o644); err != nil {
		return err
	}
	env := goEnv(arch, g.CGO)
	// Test packages first: the module they come from then fixes the
	// versions of what the main packages share with it.
	if len(g.Tests) > 0 {
		get := []string{"-C", src, "get", "-t"}
		for _, p := range g.Tests {
			get = append(get, p+"@"+g.Version)
		}
		if err := shell.Command("go", get...).WithEnv(env...).Run(ctx); err != nil {
			return fmt.Errorf("fetching %s %s from the Go module proxy: %w", g.Module, g.Version, err)
		}
	}
	var mains []string
	if len(g.Packages) > 0 {
		get := []string{"-C", src, "get", "-tool"}
		for _, p := range g.Packages {
			path, _, versioned := strings.Cut(p, "@")
			if !versioned {
				p += "@" + g.Version
			}
			get = append(get, p)
			mains = append(mains, path)
		}
		if err := shell.Command("go", get...).WithEnv(env...).Run(ctx); err != nil {
			return fmt.Errorf("fetching %s %s from the Go module proxy: %w", g.Module, g.Version, err)
		}
	}
	ldflags := append([]string{"-s", "-w"}, g.LDFlags...)
	if g.Static {
		ldflags = append(ldflags, "-extldflags", "-static")
	}
	flags := []string{"-trimpath", "-ldflags", strings.Join(ldflags, " ")}
	if len(g.Tags) > 0 {
		flags = append(flags, "-tags", strings.Join(g.Tags, ","))
	}
	if len(mains) > 0 {
		args := append(append([]string{"-C", src, "build", "-o", bin + "/"}, flags...), mains...)
		if err := shell.Command("go", args...).WithEnv(env...).Run(ctx); err != nil {
			return fmt.Errorf("building %s %s: %w", g.Module, g.Version, err)
		}
	}
	for _, p := range g.Tests {
		out := filepath.Join(bin, p[strings.LastIndex(p, "/")+1:]+".test")
		args := append(append([]string{"-C", src, "test", "-c", "-o", out}, flags...), p)
		if err := shell.Command("go", args...).WithEnv(env...).Run(ctx); err != nil {
			return fmt.Errorf("building the tests of %s %s: %w", p, g.Version, err)
		}
	}
	for from, to := range g.Rename {
		if err := os.Rename(filepath.Join(bin, from), filepath.Join(bin, to)); err != nil {
			return err
		}
	}
	return nil
}

func goEnv(arch string, cgo bool) []string {
	env := []string{"GOOS=linux", "GOARCH=" + arch, "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0"}
	if cgo {
		env[len(env)-1] = "CGO_ENABLED=1"
	}
	return env
}

// moduleInfo is what `go mod download -json` tells of a module version.
type moduleInfo struct {
	Dir   string
	GoMod string
	Info  string
	Error string
}

func downloadModule(ctx context.Context, module, version string) (moduleInfo, error) {
	tmp, err := os.MkdirTemp("", "dind-mod-")
	if err != nil {
		return moduleInfo{}, err
	}
	defer os.RemoveAll(tmp)
	out, err := shell.Command("go", "-C", tmp, "mod", "download", "-json", module+"@"+version).
		WithEnv("GOFLAGS=-mod=mod", "GOWORK=off").Output(ctx)
	var info moduleInfo
	if jerr := json.Unmarshal([]byte(out), &info); jerr == nil && info.Error != "" {
		return info, fmt.Errorf("the Go module proxy has no %s@%s: %s", module, version, info.Error)
	}
	if err != nil {
		return info, fmt.Errorf("downloading %s@%s: %w", module, version, err)
	}
	return info, nil
}

// stagingReplaces reads the go.mod of k8s.io/kubernetes at version and turns
// each `k8s.io/NAME => ./staging/...` line into a replace by the published
// module of the same release.
func stagingReplaces(goMod []byte, staging string) []string {
	var out []string
	for _, line := range strings.Split(string(goMod), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "replace "))
		if len(f) == 3 && f[1] == "=>" && strings.HasPrefix(f[2], "./staging/") {
			out = append(out, f[0]+" => "+f[0]+" "+staging)
		}
	}
	sort.Strings(out)
	return out
}

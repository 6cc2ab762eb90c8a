// Package dashboard is the seed's dashboard command, offline: the
// Kubernetes dashboard's web UI needs a JavaScript toolchain and npm
// packages that cannot be had here, so it is k9s, a terminal UI built from
// its Go module on first use and placed beside kubectl in the cache folder.
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/cache"
)

// Install builds k9s unless the cache has it, places it in the cache folder
// as k9s, and returns its path.
func Install(ctx context.Context, cfg *config.Config, log io.Writer) (string, error) {
	c := cache.Cache{Dir: cfg.CacheDir, Waiting: log}
	dir, err := build.K9s(ctx, c, log)
	if err != nil {
		return "", err
	}
	path := filepath.Join(cfg.CacheDir, "k9s")
	if err := copyExecutable(filepath.Join(dir, "bin", "k9s"), path); err != nil {
		return "", fmt.Errorf("placing k9s in %s: %w", cfg.CacheDir, err)
	}
	return path, nil
}

// Run replaces this process by k9s on the cluster's context: a terminal UI
// needs the terminal's foreground, which a child in a process group of its
// own (as steps/shell runs them) does not get.
func Run(ctx context.Context, cfg *config.Config, log io.Writer) error {
	if _, err := os.Stat(cfg.Kubeconfig()); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no kubeconfig at %s: run up first", cfg.Kubeconfig())
	}
	path, err := Install(ctx, cfg, log)
	if err != nil {
		return err
	}
	args := []string{"k9s", "--kubeconfig", cfg.Kubeconfig(), "--context", cfg.ContextName()}
	return syscall.Exec(path, args, os.Environ())
}

func copyExecutable(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(to), ".k9s-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), to)
}

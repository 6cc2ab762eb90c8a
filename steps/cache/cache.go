// Package cache keeps built artifacts under one directory, each entry in a
// folder named by a key computed from every input that shapes it. An entry
// appears whole or not at all: it is filled in a temporary folder and renamed
// into place, under a lock that makes a second concurrent run wait for the
// first instead of building the same thing twice.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Cache is a directory of artifacts.
type Cache struct {
	Dir string
	// Waiting, when set, is told once that another process holds a lock.
	Waiting io.Writer
}

// Key hashes the inputs of an artifact into a short, stable name. Inputs
// are given as "name=value" strings so that a key changes when any one of
// them does.
func Key(inputs ...string) string {
	h := sha256.New()
	for _, in := range inputs {
		fmt.Fprintf(h, "%d:%s\n", len(in), in)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Path is where the entry kind/name lives once filled.
func (c Cache) Path(kind, name string) string {
	return filepath.Join(c.Dir, kind, name)
}

// Has reports whether the entry exists.
func (c Cache) Has(kind, name string) bool {
	_, err := os.Stat(c.Path(kind, name))
	return err == nil
}

// Fill makes sure the entry kind/name exists: if it does not, fill is called
// with an empty temporary folder to write into, which becomes the entry when
// fill succeeds and is removed when it fails.
func (c Cache) Fill(ctx context.Context, kind, name string, fill func(dir string) error) (string, error) {
	final := c.Path(kind, name)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", fmt.Errorf("cache %s: %w", c.Dir, err)
	}
	unlock, err := c.Lock(ctx, filepath.Join(kind, name))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	c.sweep(kind, name)
	tmp, err := os.MkdirTemp(filepath.Dir(final), "."+name+".tmp-")
	if err != nil {
		return "", fmt.Errorf("cache %s: %w", c.Dir, err)
	}
	if err := fill(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("cache %s: %w", c.Dir, err)
	}
	return final, nil
}

// sweep removes what fills of kind that were killed half-way left: the
// temporary folders of entry filling, whose lock the caller holds, and of
// every entry nobody is filling, as its lock tells.
func (c Cache) sweep(kind, filling string) {
	entries, _ := os.ReadDir(filepath.Join(c.Dir, kind))
	for _, e := range entries {
		name, _, isTemp := strings.Cut(strings.TrimPrefix(e.Name(), "."), ".tmp-")
		if !isTemp || !strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if name == filling {
			os.RemoveAll(filepath.Join(c.Dir, kind, e.Name()))
			continue
		}
		unlock, err := c.tryLock(filepath.Join(kind, name))
		if err != nil || unlock == nil {
			continue // being filled, by this process or another
		}
		os.RemoveAll(filepath.Join(c.Dir, kind, e.Name()))
		unlock()
	}
}

// Lock takes an exclusive lock named name (a path relative to the cache
// directory) and returns the function that releases it. It waits, as long as
// ctx allows, for another process holding the same lock.
func (c Cache) Lock(ctx context.Context, name string) (func(), error) {
	return c.LockAs(ctx, name, name)
}

// LockAs is Lock, telling whoever waits for the lock that it is for what.
func (c Cache) LockAs(ctx context.Context, name, what string) (func(), error) {
	told := false
	for {
		unlock, err := c.tryLock(name)
		if err != nil || unlock != nil {
			return unlock, err
		}
		if !told && c.Waiting != nil {
			who, _ := os.ReadFile(c.lockPath(name))
			if len(who) > 0 {
				who = append([]byte(" ("), append(who, ')')...)
			}
			fmt.Fprintf(c.Waiting, "waiting for another dind-cluster run%s to finish with %s\n", who, what)
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c Cache) lockPath(name string) string {
	return filepath.Join(c.Dir, "locks", strings.ReplaceAll(name, string(filepath.Separator), "_")+".lock")
}

// tryLock takes the lock name if it is free; a nil function when it is not.
// The kernel releases it when its holder dies, however it dies.
func (c Cache) tryLock(name string) (func(), error) {
	path := c.lockPath(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("cache %s: %w", c.Dir, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", c.Dir, err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, nil
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// Who holds it, for whoever waits: the lock file is never removed (that
	// would race), only rewritten by its holder.
	f.Truncate(0)
	f.WriteAt([]byte(holder()), 0)
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// holder describes this process for a lock file: its PID and command line.
func holder() string {
	args := os.Args
	if len(args) > 0 {
		args = append([]string{filepath.Base(args[0])}, args[1:]...)
	}
	return fmt.Sprintf("pid %d: %s", os.Getpid(), strings.Join(args, " "))
}

package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// lockWait is how long to wait for another kubectl's lock before failing.
var lockWait = 5 * time.Second

const lockPoll = 50 * time.Millisecond

func lockName(path string) string { return path + ".lock" }

// lock takes the lock kubectl takes before writing path: path.lock,
// created exclusively. A lock that stays past lockWait is reported.
func lock(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the folder of kubeconfig %s: %w", path, err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		f, err := os.OpenFile(lockName(path), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			_, werr := f.WriteString(lockHolder(os.Getpid()))
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(lockName(path))
				return nil, fmt.Errorf("locking kubeconfig %s: %w", path, werr)
			}
			// Under the lock, a temporary file is what a writer killed
			// half-way left, with a key in it.
			if target, err := followLinks(path); err == nil {
				os.Remove(tempName(target))
			}
			return func() { os.Remove(lockName(path)) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("locking kubeconfig %s: %w", path, err)
		}
		if removeStaleLock(lockName(path)) {
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("kubeconfig %s is locked by %s, still there after %s: "+
				"another kubectl may be writing it; if none is running, remove %s and try again",
				path, lockName(path), lockWait, lockName(path))
		}
		time.Sleep(lockPoll)
	}
}

// lockHolder is what a lock file of ours says: kubectl leaves its own
// empty, so that only a lock of a dind-cluster process can be known stale.
func lockHolder(pid int) string {
	return fmt.Sprintf("dind-cluster pid %d started %s\n", pid, shell.ProcessStart(pid))
}

// removeStaleLock removes the lock file of a dind-cluster process that was
// killed while it held it (SIGKILL gives it no chance to), and tells
// whether it did.
func removeStaleLock(name string) bool {
	// Two processes that both read the stale lock must not both remove:
	// the second would remove the lock the first has taken since.
	// Takeovers go one at a time, under a lock of the kernel's, which no
	// killed process can leave behind.
	side, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("dind-cluster-%d-kubeconfig-takeover", os.Getuid())),
		os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return false
	}
	defer side.Close()
	if err := syscall.Flock(int(side.Fd()), syscall.LOCK_EX); err != nil {
		return false
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return false
	}
	var pid int
	var started string
	if n, _ := fmt.Sscanf(string(data), "dind-cluster pid %d started %s", &pid, &started); n != 2 {
		return false
	}
	if pid == os.Getpid() || shell.ProcessStart(pid) == started {
		return false // its holder runs
	}
	return os.Remove(name) == nil
}

// lockAll locks every file of paths in sorted order, as kubectl does, so
// that two writers never wait on each other's second lock.
func lockAll(paths []string) (unlock func(), err error) {
	sorted := append([]string(nil), paths...)
	sort.Strings(sorted)
	var unlocks []func()
	unlockAll := func() {
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}
	for _, path := range sorted {
		unlock, err := lock(path)
		if err != nil {
			unlockAll()
			return nil, err
		}
		unlocks = append(unlocks, unlock)
	}
	return unlockAll, nil
}

// tempName is where path's next content is written before it is renamed
// over path. One name per file is enough under the lock, and a temporary
// file that a killed writer left behind is replaced by the next writer.
func tempName(path string) string {
	return filepath.Join(filepath.Dir(path), filepath.Base(path)+".dind-cluster-tmp")
}

// replaceFile puts data in path whole or not at all: a reader sees the old
// content or the new, never a part. keepMode keeps the existing file's mode
// and owner; a new file is 0600 in folders created 0755. A symbolic link is
// followed, so that a kubeconfig kept elsewhere stays linked.
func replaceFile(path string, data []byte, keepMode bool) error {
	target, err := followLinks(path)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	var owner *syscall.Stat_t
	if info, err := os.Stat(target); err == nil && keepMode {
		mode = info.Mode().Perm()
		owner, _ = info.Sys().(*syscall.Stat_t)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("creating the folder of kubeconfig %s: %w", path, err)
	}
	tmp := tempName(target)
	if err := writeSynced(tmp, data, mode, owner); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	syncFolder(filepath.Dir(target))
	return nil
}

// followLinks resolves path when it is a symbolic link.
func followLinks(path string) (string, error) {
	info, err := os.Lstat(path)
	if err != nil || info.Mode()&fs.ModeSymlink == 0 {
		return path, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s is a symbolic link that leads to no file (%v): point it at one or remove it", path, err)
	}
	return target, nil
}

// writeSynced writes a new file and flushes it to disk, so that the rename
// that follows can never expose an empty or partial file after a crash.
func writeSynced(path string, data []byte, mode os.FileMode, owner *syscall.Stat_t) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if owner != nil && (int(owner.Uid) != os.Geteuid() || int(owner.Gid) != os.Getegid()) {
		// Keeps a user's file theirs when root writes it. Writing in
		// place, as kubectl does, would keep the owner too; a writer not
		// allowed to give the file back owns it from now on.
		_ = f.Chown(int(owner.Uid), int(owner.Gid))
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// syncFolder makes a rename in dir durable. Some file systems cannot sync a
// folder; the rename is done all the same, so that is no failure.
func syncFolder(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

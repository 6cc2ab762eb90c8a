package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script is a sh -c command whose script gets a file of the test's temporary
// folder per name in files, as $1, $2...
func shellScript(t *testing.T, code string, files ...string) (*Cmd, []string) {
	dir := t.TempDir()
	args := []string{"-c", code, "sh"}
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(dir, f))
	}
	return Command("sh", append(args, paths...)...), paths
}

// waitForFile returns what path holds once it holds a line.
func waitForFile(t *testing.T, path string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b))
		}
	}
	t.Fatalf("%s was never written", path)
	return ""
}

// runAndCancel runs run in the background, cancels its context once the
// child has written ready, and returns Run's error and how long Run took
// after the cancel.
func runAndCancel(t *testing.T, run func(context.Context) error, ready string) (error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- run(ctx) }()
	waitForFile(t, ready)
	cancel()
	cancelled := time.Now()
	select {
	case err := <-result:
		return err, time.Since(cancelled)
	case <-time.After(GracePeriod + 5*time.Second):
		t.Fatal("Run did not return after the cancel")
		return nil, 0
	}
}

// killGroup kills what a test left in the process group whose id is in file.
func killGroup(t *testing.T, file string) {
	t.Cleanup(func() {
		if pgid, err := strconv.Atoi(waitForFile(t, file)); err == nil {
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})
}

func TestCancelSendsTermToTheChild(t *testing.T) {
	t.Parallel()
	cmd, files := shellScript(t, `trap 'echo got TERM > "$1"; exit 0' TERM; sleep 30 & echo ready > "$2"; wait`, "trapped", "ready")
	err, took := runAndCancel(t, cmd.Run, files[1])
	if !errors.Is(err, context.Canceled) || took > time.Second {
		t.Errorf("Run returned %v %s after the cancel, want context.Canceled within 1s", err, took)
	}
	if got := waitForFile(t, files[0]); got != "got TERM" {
		t.Errorf("the child's trap wrote %q", got)
	}
}

func TestCancelKillsAChildIgnoringTermAfterTheGrace(t *testing.T) {
	t.Parallel()
	cmd, files := shellScript(t, `trap '' TERM; echo ready > "$1"; sleep 30`, "ready")
	err, took := runAndCancel(t, cmd.Run, files[0])
	if !errors.Is(err, context.Canceled) || took < GracePeriod-100*time.Millisecond || took > GracePeriod+time.Second {
		t.Errorf("Run returned %v %s after the cancel, want context.Canceled after the %s grace", err, took, GracePeriod)
	}
}

const prSetChildSubreaper = 36 // from linux/prctl.h; syscall lacks it

func TestCancelLeavesNoProcessOfTheGroup(t *testing.T) {
	// Orphans come to the test, which reaps the grandchild: pid 1 of a
	// container may reap nothing, and a zombie still counts in its group.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Skipf("cannot become a subreaper: %v", errno)
	}
	cmd, files := shellScript(t, `(trap '' TERM; exec sleep 60) & echo $! > "$1"; echo $$ > "$2"; wait`, "grandchild", "group")
	killGroup(t, files[1])
	output := func(ctx context.Context) error { _, err := cmd.Output(ctx); return err }
	err, took := runAndCancel(t, output, files[1])
	if !errors.Is(err, context.Canceled) || took > time.Second {
		t.Errorf("Run returned %v %s after the cancel, want context.Canceled within 1s", err, took)
	}
	grandchild, _ := strconv.Atoi(waitForFile(t, files[0]))
	pgid, _ := strconv.Atoi(waitForFile(t, files[1]))
	reap(t, grandchild)
	if err := syscall.Kill(-pgid, 0); err != syscall.ESRCH {
		t.Errorf("kill(-%d, 0) = %v: a process of the cancelled command's group survives", pgid, err)
	}
}

// reap waits for pid, a child of the test's, to die.
func reap(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, err := syscall.Wait4(pid, nil, syscall.WNOHANG, nil); got == pid || err != nil {
			return
		}
	}
	t.Errorf("process %d survived its group's cancel", pid)
}

func TestALeftoverHoldingTheOutputDoesNotHangRun(t *testing.T) {
	t.Parallel()
	cmd, files := shellScript(t, `sleep 60 & echo $$ > "$1"; echo out`, "group")
	killGroup(t, files[0])
	start := time.Now()
	out, err := cmd.Output(context.Background())
	if took := time.Since(start); err != nil || out != "out" || took > PipeWaitDelay+time.Second {
		t.Errorf("Output = %q, %v after %s, want \"out\" within %s", out, err, took, PipeWaitDelay)
	}
}

// slowWriter stalls once, well past PipeWaitDelay, when it has most of the
// output: the child has exited by then, the rest waiting in the pipe.
type slowWriter struct {
	got, stallAt int
	stalled      bool
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if w.got += len(p); w.got >= w.stallAt && !w.stalled {
		w.stalled = true
		time.Sleep(2 * PipeWaitDelay)
	}
	return len(p), nil
}

func TestASlowReaderGetsAllTheOutput(t *testing.T) {
	t.Parallel()
	const size = 300000
	w := &slowWriter{stallAt: size - 40000}
	if err := Command("head", "-c", strconv.Itoa(size), "/dev/zero").WithStdout(w).Run(context.Background()); err != nil || w.got != size {
		t.Errorf("Run = %v, the writer got %d bytes of %d", err, w.got, size)
	}
}

func TestUninterruptibleRunsToItsEnd(t *testing.T) {
	t.Parallel()
	cmd, files := shellScript(t, `echo ready > "$2"; sleep 1; echo done > "$1"`, "done", "ready")
	err, _ := runAndCancel(t, cmd.Uninterruptible().Run, files[1])
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if b, _ := os.ReadFile(files[0]); string(b) != "done\n" {
		t.Errorf("the uninterruptible command was stopped before it wrote %s", files[0])
	}
}

func TestWithTerminalReturnsWhenTheChildExits(t *testing.T) {
	t.Parallel()
	cmd, files := shellScript(t, `sleep 30 & echo $$ > "$1"`, "group")
	killGroup(t, files[0])
	start := time.Now()
	if err := cmd.WithTerminal().Run(context.Background()); err != nil || time.Since(start) > time.Second {
		t.Errorf("Run = %v after %s, want nil within 1s", err, time.Since(start))
	}
}

// A child outlives no dind-cluster killed with SIGKILL. The test binary,
// started again as the parent, runs a child that writes its PID; the
// parent is killed, and the child must end.
func TestAKilledParentLeavesNoChild(t *testing.T) {
	if pidFile := os.Getenv("SHELL_TEST_PARENT"); pidFile != "" {
		Command("sh", "-c", `echo $$ >"$1"; exec sleep 300`, "sh", pidFile).Run(context.Background())
		os.Exit(0)
	}
	pidFile := filepath.Join(t.TempDir(), "child")
	parent := exec.Command(os.Args[0], "-test.run=^TestAKilledParentLeavesNoChild$")
	parent.Env = append(os.Environ(), "SHELL_TEST_PARENT="+pidFile)
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(waitForFile(t, pidFile))
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	parent.Process.Kill()
	parent.Wait()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(child, 0) == syscall.ESRCH || processState(child) == "Z" {
			return
		}
	}
	t.Errorf("child %d of a parent killed with SIGKILL still runs", child)
}

// processState is the state letter /proc gives a process.
func processState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && len(b) > i+2 {
		return string(b[i+2])
	}
	return ""
}

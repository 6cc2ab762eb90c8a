package shell

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOutputIsTrimmedAndStderrExplainsFailures(t *testing.T) {
	out, err := Command("sh", "-c", "echo one; echo two").Output(context.Background())
	if err != nil || out != "one\ntwo" {
		t.Errorf("Output = %q, %v", out, err)
	}
	err = Command("sh", "-c", "echo 'no such container: kube-master' >&2; exit 3").Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "exit status 3: no such container: kube-master") {
		t.Errorf("a failure's error %v lacks the exit status and stderr", err)
	}
}

func TestStdinAndLines(t *testing.T) {
	lines, err := Command("cat").WithStdin(strings.NewReader("a\n\n b \n")).Lines(context.Background())
	if err != nil || strings.Join(lines, "|") != "a|b" {
		t.Errorf("Lines = %q, %v", lines, err)
	}
}

func TestCancellationStopsTheCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Command("sleep", "10").Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("a cancelled command: %v after %s", err, time.Since(start))
	}
}

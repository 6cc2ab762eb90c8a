//go:build linux

package dump

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

// The tests here split large dumps in a child process, the test binary run
// again for TestHelperSplitChild, and measure its peak RSS, the Maxrss of
// its rusage. os/exec starts a process with CLONE_VM and at exec Linux
// counts the peak RSS of the memory it shared into the new program's
// Maxrss: a child of this test process would report this process's peak. So
// the child is started by a launcher, the test binary again, whose own peak
// is a few MiB.

const (
	childEnv     = "DUMP_TEST_CHILD" // "split", "split64", or "launch " and one of them
	inputEnv     = "DUMP_TEST_INPUT"
	outputEnv    = "DUMP_TEST_OUTPUT"
	resultPrefix = "dump-test-result: "
	memoryBudget = 100 << 20
)

type childResult struct {
	Files int
	Err   string

	VmHWM    int64 // the child's peak RSS in bytes, by /proc/self/status
	PeakRSS  int64 // the child's peak RSS in bytes, by the launcher's rusage
	Duration time.Duration
}

// TestHelperSplitChild is not a test: runChild runs it in child processes.
func TestHelperSplitChild(t *testing.T) {
	switch mode := os.Getenv(childEnv); {
	case mode == "":
		t.Skip("run by runChild")
	case strings.HasPrefix(mode, "launch "):
		result, err := execChild(strings.TrimPrefix(mode, "launch "))
		if err != nil {
			t.Fatal(err)
		}
		printResult(result)
	default:
		printResult(splitInChild(t, mode))
	}
}

func splitInChild(t *testing.T, mode string) childResult {
	in, err := os.Open(os.Getenv(inputEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	split := Split
	if mode == "split64" {
		split = Split64
	}
	paths, err := split(in, os.Getenv(outputEnv))
	result := childResult{Files: len(paths), VmHWM: vmHWM(t)}
	if err != nil {
		result.Err = err.Error()
	}
	return result
}

func vmHWM(t *testing.T) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			fmt.Sscanf(rest, "%d kB", &kib)
			return kib << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

func printResult(result childResult) {
	line, _ := json.Marshal(result)
	os.Stdout.WriteString("\n" + resultPrefix + string(line) + "\n")
}

// execChild runs the test binary for TestHelperSplitChild in mode and
// returns its result, with the peak RSS and duration it measures.
func execChild(mode string) (childResult, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSplitChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	duration := time.Since(start)
	if err != nil {
		return childResult{}, fmt.Errorf("child %q: %v\n%s", mode, err, out)
	}
	_, line, found := strings.Cut(string(out), resultPrefix)
	if !found {
		return childResult{}, fmt.Errorf("child %q printed no result:\n%s", mode, out)
	}
	var result childResult
	if err := json.Unmarshal([]byte(strings.SplitN(line, "\n", 2)[0]), &result); err != nil {
		return childResult{}, err
	}
	if result.PeakRSS == 0 {
		result.PeakRSS = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
		result.Duration = duration
	}
	return result, nil
}

// runChild splits the file input into dir with Split or Split64 (mode
// "split" or "split64") in a child process, and checks its peak RSS.
func runChild(t *testing.T, mode, input, dir string) childResult {
	t.Helper()
	t.Setenv(inputEnv, input)
	t.Setenv(outputEnv, dir)
	result, err := execChild("launch " + mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: peak RSS %.1f MiB (VmHWM %.1f MiB), %v", mode,
		float64(result.PeakRSS)/(1<<20), float64(result.VmHWM)/(1<<20), result.Duration.Round(time.Millisecond))
	if result.PeakRSS > memoryBudget {
		t.Errorf("peak RSS %d MiB, over the budget of %d MiB", result.PeakRSS>>20, memoryBudget>>20)
	}
	return result
}

func writeFile(t *testing.T, name string, parts ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, slices.Concat(parts...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSplit64LargeDump splits a block of a few hundred kilobytes that expands
// to 600 MiB: 300 xz streams of 2 MiB, compressed once each for three
// sections that duplicate sections append to.
func TestSplit64LargeDump(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 600 MiB")
	}
	const streamSize, repeats = 2 << 20, 100
	names := []string{"kube-master/kubelet.log", "kube-node-1/kubelet.log", "kube-node-2/kubelet.log"}
	var streams, payload []byte
	for _, name := range names {
		streams = append(streams, compressXZ(t, xz.WriterConfig{}, repeatedText(name, streamSize))...)
	}
	for range repeats {
		payload = append(payload, streams...)
	}
	log := writeFile(t, "ci.log", []byte("$ make e2e\n"), []byte(wrapBlock(payload)), []byte("+ exit 1\n"))
	t.Logf("log of %d KiB for %d MiB of dump", fileSize(t, log)>>10, len(names)*streamSize*repeats>>20)

	dir := filepath.Join(t.TempDir(), "cluster-dump")
	result := runChild(t, "split64", log, dir)
	if result.Err != "" || result.Files != len(names) {
		t.Fatalf("got %d files, error %q", result.Files, result.Err)
	}
	for _, name := range names {
		section := repeatedText(name, streamSize)
		content := section[bytes.IndexByte(section, '\n')+1:]
		checkRepeated(t, filepath.Join(dir, name), content, repeats)
	}
}

// checkRepeated checks that the file at path is content repeated n times,
// reading its first and last copies.
func checkRepeated(t *testing.T, path string, content []byte, n int) {
	t.Helper()
	if size := fileSize(t, path); size != int64(len(content)*n) {
		t.Fatalf("%s: %d bytes, want %d", path, size, len(content)*n)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, offset := range []int64{0, int64(len(content) * (n - 1))} {
		got := make([]byte, len(content))
		if _, err := f.ReadAt(got, offset); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s: wrong content at offset %d", path, offset)
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// TestSplit64RefusesOverOneGiB splits a block that expands to 1 GiB and one
// byte, and must refuse it before writing anything.
func TestSplit64RefusesOverOneGiB(t *testing.T) {
	const streamSize = 1 << 20
	stream := compressXZ(t, xz.WriterConfig{}, repeatedText("big.log", streamSize))
	payload := bytes.Repeat(stream, maxTextSize/streamSize)
	payload = append(payload, compressXZ(t, xz.WriterConfig{}, []byte("x"))...)
	log := writeFile(t, "ci.log", []byte(wrapBlock(payload)))

	dir := filepath.Join(t.TempDir(), "cluster-dump")
	result := runChild(t, "split64", log, dir)
	if want := "dump64: the decompressed dump exceeds 1 GiB; refusing it"; result.Err != want {
		t.Errorf("got error %q, want %q", result.Err, want)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("%s was created", dir)
	}
}

// TestSplitLongLine splits a text dump whose one section is a single line of
// 50 MB without a newline.
func TestSplitLongLine(t *testing.T) {
	const size = 50_000_000
	content := bytes.Repeat([]byte("0123456789"), size/10)
	input := writeFile(t, "dump.txt", []byte("noise\n@@@ long.log @@@\n"), content)

	dir := filepath.Join(t.TempDir(), "cluster-dump")
	result := runChild(t, "split", input, dir)
	if result.Err != "" || result.Files != 1 {
		t.Fatalf("got %d files, error %q", result.Files, result.Err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "long.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("long.log: %d bytes differ from the %d written", len(got), len(content))
	}
}

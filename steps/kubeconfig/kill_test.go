package kubeconfig

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// writerEnv, when set, makes the test binary a writer that merges into
// the file it names until it is killed.
const writerEnv = "DIND_KUBECONFIG_TEST_WRITER"

func TestMain(m *testing.M) {
	if path := os.Getenv(writerEnv); path != "" {
		mergeUntilKilled(path)
		return
	}
	os.Exit(m.Run())
}

// mergeUntilKilled changes the entry at every round, so that every round
// writes, and says "ready" once it has written.
func mergeUntilKilled(path string) {
	for round := 0; ; round++ {
		if err := Merge([]string{path}, testEntry("dind", 30000+round%1000), round%2 == 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if round == 0 {
			fmt.Println("ready")
		}
	}
}

func TestKilledWriterLeavesAWholeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	writeFile(t, path, foreign, 0o600)
	leftLocks, leftTemps, reads := 0, 0, 0
	for kill := 0; kill < 20; kill++ {
		writer := startWriter(t, path)
		// Read while it writes: a reader must never see a partial file.
		until := time.Now().Add(time.Duration(rand.IntN(30_000)) * time.Microsecond)
		for time.Now().Before(until) {
			assertWhole(t, path)
			reads++
		}
		if err := writer.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = writer.Wait()

		assertWhole(t, path)
		locked, temp := leftovers(t, dir)
		if locked {
			leftLocks++
			// A killed kubectl leaves its lock the same way; the
			// user removes it, as the lock error tells them to.
			os.Remove(lockName(path))
		}
		if temp {
			leftTemps++
		}
	}
	t.Logf("20 writers killed: %d left a lock, %d a temporary file; %d reads during the writes", leftLocks, leftTemps, reads)

	e := testEntry("dind", 1)
	if err := Merge([]string{path}, e, true); err != nil {
		t.Fatal(err)
	}
	assertEntry(t, path, e)
	assertFolderHolds(t, dir, "config")
}

func startWriter(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	writer := exec.Command(os.Args[0])
	writer.Env = append(os.Environ(), writerEnv+"="+path)
	stdout, err := writer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	writer.Stderr = os.Stderr
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		writer.Process.Kill()
		writer.Wait()
		t.Fatalf("the writer did not start: %q, %v", line, err)
	}
	return writer
}

// assertWhole checks that path parses and still holds the user's context.
func assertWhole(t *testing.T, path string) {
	t.Helper()
	f, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.doc.find(contexts, "prod"); !ok {
		data, _ := os.ReadFile(path)
		t.Fatalf("the user's context is gone; the file holds %d bytes", len(data))
	}
}

// leftovers tells what a killed writer left beside the file, and fails on
// anything else.
func leftovers(t *testing.T, dir string) (lock, temp bool) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Name() {
		case "config":
		case "config.lock":
			lock = true
		case filepath.Base(tempName(filepath.Join(dir, "config"))):
			temp = true
		default:
			t.Errorf("a killed writer left %s", e.Name())
		}
	}
	return lock, temp
}

package dump

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// sampleSections covers the awkward contents: no final newline, empty, CRLF,
// and lines that look like markers.
var sampleSections = []struct{ name, content string }{
	{"kube-master/kubelet.log", "line 1\nline 2\n"},
	{"kube-master/ps.txt", "no final newline"},
	{"kube-node-1/empty.txt", ""},
	{"cluster/pods/kube-system/coredns-abc/coredns.log", "crlf\r\nlines\r\n"},
	{"cluster/tricky.log", "@@@ not/a/section @@@\n  @@@ indented @@@\n@@@ crlf @@@\r\n@@@ x\n@@@@@@\n"},
	{"top-level.txt", "x\n"},
}

func writeSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, s := range sampleSections {
		if err := w.Section(s.name, []byte(s.content)); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func sampleFiles() map[string]string {
	files := make(map[string]string)
	for _, s := range sampleSections {
		content := s.content
		if content != "" && !strings.HasSuffix(content, "\n") {
			content += "\n"
		}
		files[s.name] = content
	}
	return files
}

// readTree returns the regular files under dir by slash-separated relative
// path, and symbolic links as "-> target".
func readTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := make(map[string]string)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			files[rel] = "-> " + target
			return err
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			files[rel] = string(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestWriterFormat(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Section("a/b.log", []byte("one\n@@@ x @@@\ntwo"))
	w.Section("c", nil)
	want := "@@@ a/b.log @@@\none\n @@@ x @@@\ntwo\n@@@ c @@@\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSplitRoundTrip(t *testing.T) {
	text := writeSample(t)
	dir := filepath.Join(t.TempDir(), "new", "cluster-dump")
	paths, err := Split(bytes.NewReader(text), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleFiles()
	if got := readTree(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("files:\n got %q\nwant %q", got, want)
	}
	var wantPaths []string
	for _, s := range sampleSections {
		wantPaths = append(wantPaths, filepath.Join(dir, filepath.FromSlash(s.name)))
	}
	if !slices.Equal(paths, wantPaths) {
		t.Errorf("paths: got %q, want %q", paths, wantPaths)
	}
}

func TestSplitPreambleDuplicatesAndCRLFMarkers(t *testing.T) {
	text := "+ ./dind-cluster dump\nnoise\n@@@ a @@@\r\n1\n@@@ b @@@\nb\n@@@ a @@@\n2\n"
	dir := t.TempDir()
	paths, err := Split(strings.NewReader(text), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1\n2\n", "b": "b\n"}
	if got := readTree(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(paths) != 2 {
		t.Errorf("paths: got %q, want two", paths)
	}
}

func TestSplitOverwritesEarlierSplit(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("old and longer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Split(strings.NewReader("@@@ a @@@\nnew\n"), dir); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dir)["a"]; got != "new\n" {
		t.Errorf("got %q", got)
	}
}

func TestSplitNoMarker(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	_, err := Split(strings.NewReader("just a log\n"), dir)
	if err == nil || !strings.Contains(err.Error(), "no \"@@@ NAME @@@\" marker") {
		t.Errorf("got %v", err)
	}
}

func TestWriterRejectsBadNames(t *testing.T) {
	for _, name := range []string{
		"", "/etc/x", "..", "../x", "a/../../x", "a/..", "./a", "a/./b", "a//b", "a/",
		`a\b`, "a\x00b", "a\nb", "a\rb", "a@@@b", "@@@", ".",
	} {
		var buf bytes.Buffer
		err := NewWriter(&buf).Section(name, []byte("x"))
		var sectionErr *SectionError
		if !errors.Is(err, ErrInvalidName) || !errors.As(err, &sectionErr) || sectionErr.Name != name {
			t.Errorf("Section(%q): got %v, want a *SectionError wrapping ErrInvalidName", name, err)
		}
		if buf.Len() != 0 {
			t.Errorf("Section(%q) wrote %q", name, buf.String())
		}
	}
	for _, name := range []string{"a", "a.b/c..d/...", "with space", "ünïcode/x"} {
		if err := NewWriter(new(bytes.Buffer)).Section(name, nil); err != nil {
			t.Errorf("Section(%q): %v", name, err)
		}
	}
}

// chunkyWriter hands each Write to the buffer a byte at a time, so that
// unserialized writers would interleave.
type chunkyWriter struct{ buf bytes.Buffer }

func (c *chunkyWriter) Write(p []byte) (int, error) {
	for i := range p {
		c.buf.WriteByte(p[i])
	}
	return len(p), nil
}

func TestWriterConcurrentSections(t *testing.T) {
	var out chunkyWriter
	w := NewWriter(&out)
	want := make(map[string]string)
	var wg sync.WaitGroup
	for i := range 40 {
		name := fmt.Sprintf("node-%d/log", i)
		content := strings.Repeat(fmt.Sprintf("line from section %d\n", i), 200)
		want[name] = content
		wg.Go(func() {
			if err := w.Section(name, []byte(content)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	dir := t.TempDir()
	if _, err := Split(&out.buf, dir); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dir); !reflect.DeepEqual(got, want) {
		t.Error("sections interleaved")
	}
}

// hostileLayout makes base/outside/secret, and dir = base/out/split holding
// links to outside and inside: the setting for TestSplitStaysInside and
// FuzzSplit.
func hostileLayout(t testing.TB) (base, dir string) {
	base = t.TempDir()
	dir = filepath.Join(base, "out", "split")
	for _, d := range []string{filepath.Join(base, "outside"), filepath.Join(dir, "inside")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "outside", "secret"), []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"link-dir":  filepath.Join(base, "outside"),
		"link-file": filepath.Join(base, "outside", "secret"),
		"link-rel":  "../../outside",
		"link-in":   "inside",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return base, dir
}

// outsideOf returns the tree under base without dir.
func outsideOf(t testing.TB, base, dir string) map[string]string {
	tree := readTree(t, base)
	rel, _ := filepath.Rel(base, dir)
	for name := range tree {
		if strings.HasPrefix(name, filepath.ToSlash(rel)+"/") {
			delete(tree, name)
		}
	}
	return tree
}

func TestSplitStaysInside(t *testing.T) {
	base, dir := hostileLayout(t)
	outsideBefore := outsideOf(t, base, dir)
	bad := []string{
		"../../x",
		"/etc/x",
		filepath.ToSlash(filepath.Join(base, "abs")),
		"a/../../x",
		"link-dir/x",
		"link-file",
		"link-rel/x",
		"link-in/x",
		"link-in",
		"inside",
		`..\..\x`,
	}
	var text strings.Builder
	text.WriteString("@@@ good/first @@@\nfirst\n")
	for _, name := range bad {
		fmt.Fprintf(&text, "@@@ %s @@@\npwned\n", name)
	}
	text.WriteString("@@@ good/last @@@\nlast\n")

	paths, err := Split(strings.NewReader(text.String()), dir)
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range bad {
		if !strings.Contains(err.Error(), fmt.Sprintf("section %q", name)) {
			t.Errorf("error does not list %q:\n%v", name, err)
		}
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("skipped %d of %d sections", len(bad), len(bad)+2)) {
		t.Errorf("error does not count the skipped sections:\n%v", err)
	}
	var sectionErr *SectionError
	if !errors.As(err, &sectionErr) {
		t.Errorf("error holds no *SectionError: %v", err)
	}
	wantPaths := []string{filepath.Join(dir, "good", "first"), filepath.Join(dir, "good", "last")}
	if !slices.Equal(paths, wantPaths) {
		t.Errorf("paths: got %q, want %q", paths, wantPaths)
	}

	if got := outsideOf(t, base, dir); !reflect.DeepEqual(got, outsideBefore) {
		t.Errorf("outside of dir changed:\n got %q\nwant %q", got, outsideBefore)
	}
	inside := readTree(t, dir)
	for name, content := range inside {
		if strings.Contains(content, "pwned") {
			t.Errorf("%s was written", name)
		}
	}
	if inside["good/first"] != "first\n" || inside["good/last"] != "last\n" {
		t.Errorf("good sections not written: %q", inside)
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte("@@@ a/b @@@\nx\n@@@ ../x @@@\ny\n"))
	f.Add([]byte("@@@ link-dir/x @@@\nx\n@@@ link-rel/../x @@@\n@@@ link-in/x @@@\n"))
	f.Add([]byte("@@@ link-file @@@\nx\n@@@ inside/x @@@\n@@@ /tmp/x @@@\n"))
	f.Add([]byte("@@@ a @@@\n@@@ a/b @@@\n @@@ c @@@\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		base, dir := hostileLayout(t)
		before := outsideOf(t, base, dir)
		Split(bytes.NewReader(text), dir)
		if after := outsideOf(t, base, dir); !reflect.DeepEqual(after, before) {
			t.Fatalf("wrote outside dir: got %q, want %q", after, before)
		}
	})
}

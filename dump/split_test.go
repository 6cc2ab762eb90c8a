package dump

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// markerLikeLines are content lines around the marker escape, with and
// without line endings.
var markerLikeLines = []string{
	"@@@ x @@@", " @@@ x @@@", "   @@@ x @@@", "@@@  @@@", " @@@  @@@", " @@@ @@@", "  @@@@@@",
	" @@@ x @@@\r", " @@@ x @@@ ", " @@@ x @@", " @@ x @@@", " ", "", "x", " @@@ ", "  @@@ a b c @@@",
}

func TestLineShapeAgreesWithLooksLikeMarker(t *testing.T) {
	for _, base := range markerLikeLines {
		for _, end := range []string{"", "\n", "\r\n"} {
			line := base + end
			want := line != "" && line[0] == ' ' && looksLikeMarker([]byte(line))
			for cut1 := 0; cut1 <= len(line); cut1++ {
				for cut2 := cut1; cut2 <= len(line); cut2++ {
					var shape lineShape
					for _, piece := range []string{line[:cut1], line[cut1:cut2], line[cut2:]} {
						shape.add([]byte(piece))
					}
					if got := shape.isEscapedMarker(); got != want {
						t.Errorf("%q cut at %d and %d: got %v, want %v", line, cut1, cut2, got, want)
					}
				}
			}
		}
	}
}

// TestSplitSmallBuffer cuts every line longer than 16 bytes into pieces,
// which must not change what is written, escaped markers included.
func TestSplitSmallBuffer(t *testing.T) {
	var content strings.Builder
	for _, line := range markerLikeLines {
		content.WriteString(line + "\n")
		content.WriteString(strings.Repeat(" ", 20) + line + "\n")
		content.WriteString(line + strings.Repeat("y", 20) + "\n")
		content.WriteString(" @@@ " + strings.Repeat("z", 30) + line + "\n")
	}
	content.WriteString(" @@@ a long last line without a newline @@@")
	var text bytes.Buffer
	w := NewWriter(&text)
	w.Section("a", []byte(content.String()))
	w.Section("b", []byte(content.String()))
	w.Section("a", []byte(" @@@ "+strings.Repeat("again ", 10)+"@@@\r\n"))

	want := splitText(t, text.Bytes())
	dir := t.TempDir()
	if _, err := splitBuffered(bytes.NewReader(text.Bytes()), dir, 16); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("a 16-byte buffer gives\n%q\nwhere a whole-line one gives\n%q", got, want)
	}
}

func TestSplitLongEscapedMarkerLines(t *testing.T) {
	long := strings.Repeat("0123456789", 10<<10) // 100 KiB
	content := "@@@ " + long + " @@@\n" + "  @@@ " + long + " @@@\r\n" + " @@@ " + long + " @@" + "\n" + "@@@ " + long + " @@@"
	var text bytes.Buffer
	if err := NewWriter(&text).Section("long", []byte(content)); err != nil {
		t.Fatal(err)
	}
	if got := splitText(t, text.Bytes())["long"]; got != content+"\n" {
		t.Errorf("long lines did not round-trip: got %d bytes, want %d", len(got), len(content)+1)
	}
}

func TestSplitLongMarkerLineIsContent(t *testing.T) {
	long := "@@@ " + strings.Repeat("n", maxLineLength) + " @@@\n"
	got := splitText(t, []byte("@@@ a @@@\n"+long+"end\n"))
	if want := map[string]string{"a": long + "end\n"}; !reflect.DeepEqual(got, want) {
		t.Errorf("a marker line longer than the buffer started a section: got %d files", len(got))
	}
}

func TestWriterRejectsNamesLongerThanPathMax(t *testing.T) {
	name := strings.Repeat("a/", maxNameLength/2) + "b"
	if err := NewWriter(new(bytes.Buffer)).Section(name, nil); !errors.Is(err, ErrInvalidName) {
		t.Errorf("a %d-byte name: got %v", len(name), err)
	}
}

// splitReference is the former Split, which read the whole text first,
// except that a line longer than bufferSize is never a marker line.
func splitReference(text []byte, dir string, bufferSize int) ([]string, error) {
	type section struct {
		name    string
		content []byte
	}
	var sections []section
	for line := range bytes.Lines(text) {
		fits := len(line) < bufferSize || len(line) == bufferSize && line[len(line)-1] == '\n'
		if name, ok := markerName(line); ok && fits {
			sections = append(sections, section{name: name})
			continue
		}
		if len(sections) == 0 {
			continue
		}
		if line[0] == ' ' && looksLikeMarker(line) {
			line = line[1:]
		}
		last := &sections[len(sections)-1]
		last.content = append(last.content, line...)
	}
	if len(sections) == 0 {
		return nil, errors.New(`dump: no "@@@ NAME @@@" marker line found: not a text dump`)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var paths []string
	var skipped []error
	written := make(map[string]bool)
	for _, s := range sections {
		f, _, err := openSection(root, s.name, written[s.name])
		if err == nil {
			_, err = f.Write(s.content)
			f.Close()
		}
		if err != nil {
			skipped = append(skipped, &SectionError{Name: s.name, Err: err})
			continue
		}
		if !written[s.name] {
			written[s.name] = true
			paths = append(paths, filepath.Join(dir, filepath.FromSlash(s.name)))
		}
	}
	if len(skipped) > 0 {
		return paths, fmt.Errorf("dump: skipped %d of %d sections:\n%w", len(skipped), len(sections), errors.Join(skipped...))
	}
	return paths, nil
}

func FuzzSplitMatchesWholeTextSplit(f *testing.F) {
	f.Add([]byte("@@@ a @@@\n @@@ x @@@\n@@@ b @@@\r\n" + strings.Repeat("y", 40) + "\n@@@ a @@@\nz"))
	f.Add([]byte("pre\n@@@ a @@@\n  @@@ " + strings.Repeat("long ", 10) + "@@@\r\n @@@ " + strings.Repeat("x", 20) + " @@"))
	f.Add([]byte("@@@ a @@@\n@@@ a/b @@@\nx\n@@@ ../c @@@\ny\n@@@ d/e @@@\n" + strings.Repeat(" ", 40) + "@@@ f @@@\n"))
	f.Add([]byte("@@@ a @@@\n" + strings.Repeat("@", 15) + "\n" + strings.Repeat("@", 16)))
	f.Fuzz(func(t *testing.T, text []byte) {
		const bufferSize = 16
		wantDir, gotDir := t.TempDir(), t.TempDir()
		wantPaths, wantErr := splitReference(text, wantDir, bufferSize)
		gotPaths, gotErr := splitBuffered(bytes.NewReader(text), gotDir, bufferSize)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Errorf("error:\n got %v\nwant %v", gotErr, wantErr)
		}
		rel := func(paths []string, dir string) []string {
			var names []string
			for _, p := range paths {
				names = append(names, strings.TrimPrefix(p, dir))
			}
			return names
		}
		if got, want := rel(gotPaths, gotDir), rel(wantPaths, wantDir); !slices.Equal(got, want) {
			t.Errorf("paths: got %q, want %q", got, want)
		}
		if got, want := readTree(t, gotDir), readTree(t, wantDir); !reflect.DeepEqual(got, want) {
			t.Errorf("files:\n got %q\nwant %q", got, want)
		}
	})
}

package dump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// SectionError reports a section that was not written: by Writer.Section
// because of an invalid name, or by Split and Split64 because of an invalid
// name or a failure to write its file.
type SectionError struct {
	Name string
	Err  error
}

func (e *SectionError) Error() string { return fmt.Sprintf("section %q: %v", e.Name, e.Err) }

func (e *SectionError) Unwrap() error { return e.Err }

// Split reads a whole text dump from r and writes the content of each section
// to dir/NAME, creating dir and parent directories as needed. It returns the
// paths of the files it wrote, in the order their sections first appear.
//
// Section names are untrusted: nothing is written outside dir, and no
// symbolic link or other non-regular file found inside dir is followed or
// overwritten. A section that has an invalid name or cannot be written is
// skipped and the others are written; the error then lists every skipped
// section as a *SectionError, and the returned paths are still valid.
func Split(r io.Reader, dir string) ([]string, error) {
	text, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("dump: reading the text dump: %w", err)
	}
	return writeSections(text, dir)
}

type section struct {
	name    string
	content []byte
}

func parse(text []byte) []section {
	var sections []section
	for line := range bytes.Lines(text) {
		if name, ok := markerName(line); ok {
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
	return sections
}

func writeSections(text []byte, dir string) ([]string, error) {
	sections := parse(text)
	if len(sections) == 0 {
		return nil, errors.New(`dump: no "@@@ NAME @@@" marker line found: not a text dump`)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dump: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("dump: %w", err)
	}
	defer root.Close()

	var paths []string
	var skipped []error
	written := make(map[string]bool)
	for _, s := range sections {
		if err := writeSection(root, s.name, s.content, written[s.name]); err != nil {
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

// writeSection writes content to name inside root, appending if an earlier
// section of the same name was written.
func writeSection(root *os.Root, name string, content []byte, appendToFile bool) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkExisting(root, name); err != nil {
		return err
	}
	if parent := path.Dir(name); parent != "." {
		if err := root.MkdirAll(filepath.FromSlash(parent), 0o755); err != nil {
			return err
		}
	}
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendToFile {
		flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := root.OpenFile(filepath.FromSlash(name), flag, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkExisting refuses a name whose existing parents are not all plain
// directories or which exists as anything but a regular file. os.Root already
// keeps every operation inside the root even if a link appears later; this
// also stops a split from following links (or opening FIFOs) that are already
// there.
func checkExisting(root *os.Root, name string) error {
	elems := strings.Split(name, "/")
	for i := range elems {
		sub := path.Join(elems[:i+1]...)
		info, err := root.Lstat(filepath.FromSlash(sub))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		isLast := i == len(elems)-1
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%s is a symbolic link", sub)
		case !isLast && !info.IsDir():
			return fmt.Errorf("%s is not a directory", sub)
		case isLast && !info.Mode().IsRegular():
			return fmt.Errorf("%s exists and is not a regular file", sub)
		}
	}
	return nil
}

package dump

import (
	"bufio"
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

// maxLineLength is the most of a text dump line that splitting holds in
// memory. A longer line is written in pieces and is never a marker line,
// which is why section names are limited to maxNameLength.
const maxLineLength = 64 << 10

// SectionError reports a section that was not written: by Writer.Section
// because of an invalid name, or by Split and Split64 because of an invalid
// name or a failure to write its file.
type SectionError struct {
	Name string
	Err  error
}

func (e *SectionError) Error() string { return fmt.Sprintf("section %q: %v", e.Name, e.Err) }

func (e *SectionError) Unwrap() error { return e.Err }

// Split reads a text dump from r and writes the content of each section to
// dir/NAME as it reads it, creating dir and parent directories as needed. It
// holds one line at most in memory, and only the first 64 KiB of a longer
// one. It returns the paths of the files it wrote, in the order their
// sections first appear.
//
// Section names are untrusted: nothing is written outside dir, and no
// symbolic link or other non-regular file found inside dir is followed or
// overwritten. A section that has an invalid name or cannot be written is
// skipped and the others are written; the error then lists every skipped
// section as a *SectionError, and the returned paths are still valid. If
// reading r fails, the sections read so far stay written.
func Split(r io.Reader, dir string) ([]string, error) {
	return splitBuffered(r, dir, maxLineLength)
}

// splitBuffered is Split with the line buffer size as a parameter, so that
// tests can cut lines into small pieces.
func splitBuffered(r io.Reader, dir string, bufferSize int) ([]string, error) {
	s := &splitter{dir: dir, written: make(map[string]bool)}
	err := s.readLines(bufio.NewReaderSize(r, bufferSize))
	s.endSection()
	if s.root != nil {
		s.root.Close()
	}
	switch {
	case err != nil:
		return s.paths, err
	case s.sections == 0:
		return nil, errors.New(`dump: no "@@@ NAME @@@" marker line found: not a text dump`)
	case len(s.skipped) > 0:
		return s.paths, fmt.Errorf("dump: skipped %d of %d sections:\n%w", len(s.skipped), s.sections, errors.Join(s.skipped...))
	}
	return s.paths, nil
}

// splitter writes the sections of a text dump as its lines arrive.
type splitter struct {
	dir      string
	root     *os.Root // opened at the first marker line
	sections int      // marker lines so far
	paths    []string
	written  map[string]bool // names whose file holds a complete section
	skipped  []error

	out    *sectionFile  // nil before the first section and in a skipped one
	buffer *bufio.Writer // for every section in turn
	long   *longLine     // the line being read in pieces, if any
}

// sectionFile is the file that the current section goes to, buffered:
// dumps are mostly short lines.
type sectionFile struct {
	name     string
	file     *os.File
	buffered *bufio.Writer
	size     int64
}

func (f *sectionFile) write(p []byte) error {
	n, err := f.buffered.Write(p)
	f.size += int64(n)
	return err
}

// dropByteAt removes the byte at offset at, moving the bytes after it back
// by one.
func (f *sectionFile) dropByteAt(at int64) error {
	if err := f.buffered.Flush(); err != nil {
		return err
	}
	if err := dropByteAt(f.file, at, f.size); err != nil {
		return err
	}
	f.size--
	return nil
}

func (f *sectionFile) close() error {
	err := f.buffered.Flush()
	if cerr := f.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// longLine follows a line too long for the read buffer.
type longLine struct {
	start int64 // offset of the line in the section file
	shape lineShape
}

func (s *splitter) readLines(in *bufio.Reader) error {
	for {
		piece, err := in.ReadSlice('\n')
		partial := errors.Is(err, bufio.ErrBufferFull)
		if err != nil && !partial && err != io.EOF {
			return fmt.Errorf("dump: reading the text dump: %w", err)
		}
		switch {
		case s.long != nil:
			s.continueLongLine(piece, partial)
		case partial:
			s.startLongLine(piece)
		case len(piece) > 0:
			if err := s.line(piece); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// line handles a line that fits the read buffer.
func (s *splitter) line(line []byte) error {
	if name, ok := markerName(line); ok {
		return s.startSection(name)
	}
	if line[0] == ' ' && looksLikeMarker(line) {
		line = line[1:]
	}
	s.write(line)
	return nil
}

func (s *splitter) startLongLine(piece []byte) {
	s.long = &longLine{}
	if s.out != nil {
		s.long.start = s.out.size
	}
	s.continueLongLine(piece, true)
}

// continueLongLine writes the pieces of a long line as they come. Whether the
// line is an escaped marker is only known at its end; then the escape is
// taken out of the file.
func (s *splitter) continueLongLine(piece []byte, partial bool) {
	s.long.shape.add(piece)
	s.write(piece)
	if partial {
		return
	}
	if s.out != nil && s.long.shape.isEscapedMarker() {
		if err := s.out.dropByteAt(s.long.start); err != nil {
			s.failSection(err)
		}
	}
	s.long = nil
}

// startSection ends the current section and opens the file for name, or
// records why the section is skipped. Only a failure to open dir is returned.
func (s *splitter) startSection(name string) error {
	s.endSection()
	s.sections++
	if s.root == nil {
		if err := s.openRoot(); err != nil {
			return err
		}
	}
	file, size, err := openSection(s.root, name, s.written[name])
	if err != nil {
		s.skipped = append(s.skipped, &SectionError{Name: name, Err: err})
		return nil
	}
	if s.buffer == nil {
		s.buffer = bufio.NewWriterSize(file, 64<<10)
	}
	s.buffer.Reset(file)
	s.out = &sectionFile{name: name, file: file, buffered: s.buffer, size: size}
	return nil
}

func (s *splitter) openRoot() error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	s.root = root
	return nil
}

func (s *splitter) write(p []byte) {
	if s.out == nil {
		return
	}
	if err := s.out.write(p); err != nil {
		s.failSection(err)
	}
}

// endSection closes the current section's file and counts it as written.
func (s *splitter) endSection() {
	if s.out == nil {
		return
	}
	name := s.out.name
	err := s.out.close()
	s.out = nil
	if err != nil {
		s.skipped = append(s.skipped, &SectionError{Name: name, Err: err})
		return
	}
	if !s.written[name] {
		s.written[name] = true
		s.paths = append(s.paths, filepath.Join(s.dir, filepath.FromSlash(name)))
	}
}

// failSection records a write error and drops the rest of the section.
func (s *splitter) failSection(err error) {
	s.out.close()
	s.skipped = append(s.skipped, &SectionError{Name: s.out.name, Err: err})
	s.out = nil
}

// openSection opens name inside root for writing, appending if an earlier
// section of the same name was written, and returns the file's size. The
// file is opened for reading too, so that the escape of a long line can be
// taken out.
func openSection(root *os.Root, name string, appendToFile bool) (*os.File, int64, error) {
	if err := checkName(name); err != nil {
		return nil, 0, err
	}
	if err := checkExisting(root, name); err != nil {
		return nil, 0, err
	}
	if parent := path.Dir(name); parent != "." {
		if err := root.MkdirAll(filepath.FromSlash(parent), 0o755); err != nil {
			return nil, 0, err
		}
	}
	flag := os.O_RDWR | os.O_CREATE | os.O_TRUNC
	if appendToFile {
		flag = os.O_RDWR | os.O_CREATE
	}
	f, err := root.OpenFile(filepath.FromSlash(name), flag, 0o644)
	if err != nil {
		return nil, 0, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

// dropByteAt removes the byte at offset at from f, of size bytes, moving the
// bytes after it back by one, and leaves the file offset at the new end.
func dropByteAt(f *os.File, at, size int64) error {
	buf := make([]byte, 32<<10)
	for pos := at; pos < size-1; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-1-pos)], pos+1)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt(buf[:n], pos); err != nil {
			return err
		}
		pos += int64(n)
	}
	if err := f.Truncate(size - 1); err != nil {
		return err
	}
	_, err := f.Seek(size-1, io.SeekStart)
	return err
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

// lineShape follows a line given in pieces and tells at its end what
// looksLikeMarker would say of the whole line, from its length, its leading
// spaces, the four bytes after them and its last six bytes.
type lineShape struct {
	length int64
	spaces int64 // leading spaces
	head   []byte
	tail   []byte
}

const markerOpen, markerClose = "@@@ ", " @@@"

func (l *lineShape) add(p []byte) {
	if l.spaces == l.length {
		l.spaces += int64(len(p) - len(bytes.TrimLeft(p, " ")))
	}
	if l.spaces < l.length+int64(len(p)) && len(l.head) < len(markerOpen) {
		afterSpaces := p[max(0, l.spaces-l.length):]
		l.head = append(l.head, afterSpaces[:min(len(afterSpaces), len(markerOpen)-len(l.head))]...)
	}
	l.length += int64(len(p))
	const keep = len(markerClose) + len("\r\n")
	l.tail = append(l.tail, p[max(0, len(p)-keep):]...)
	l.tail = l.tail[max(0, len(l.tail)-keep):]
}

// isEscapedMarker reports whether the line starts with a space and looks like
// a marker line: Writer added that space.
func (l *lineShape) isEscapedMarker() bool {
	end := strings.TrimSuffix(string(l.tail), "\n")
	end = strings.TrimSuffix(end, "\r")
	rest := l.length - l.spaces - int64(len(l.tail)-len(end))
	return l.spaces > 0 && rest >= int64(len(markerOpen+markerClose)) &&
		string(l.head) == markerOpen && strings.HasSuffix(end, markerClose)
}

// Package dump defines the formats in which dind-cluster dumps cluster state
// (for CI logs) and splits such dumps back into files.
//
// Users paste these dumps from CI logs, so the formats below are an interface:
// keep them stable.
//
// # Text dump
//
// A text dump is a sequence of sections. Each section starts with a marker line
//
//	@@@ NAME @@@
//
// (three at signs, a space, the name, a space, three at signs, and the end of
// the line) followed by the section's content lines. A section ends where the
// next marker line or the input ends. Text before the first marker line is
// ignored. A marker line may end in "\r\n" instead of "\n".
//
// NAME is a slash-separated relative path, such as kube-master/kubelet.log or
// cluster/pods/kube-system/coredns-abc/coredns.log: not empty, at most 4096
// bytes, no leading slash, no empty, "." or ".." elements, no backslash, no
// control characters (NUL, tab, CR, LF, ...) and no "@@@". A line longer than
// 64 KiB is therefore never a marker line.
//
// Content is written as it is, with a newline added at the end if it does not
// end in one. A content line that would read as a marker line, that is, one
// that after any leading spaces starts with "@@@ " and ends with " @@@", gets
// one extra leading space; splitting removes it again.
//
// If several sections have the same name, splitting appends their contents to
// the same file in order.
//
// # dump64
//
// dump64 is a text dump compressed with xz, encoded in standard base64
// (RFC 4648, with padding) and wrapped at 100 columns, between two marker
// lines. The dump "@@@ kube-master/kubelet.log @@@\nhello\n" reads:
//
//	%%% start-base64 %%%
//	/Td6WFoAAATm1rRGAgAhARYAAAB0L+WjAQAlQEBAIGt1YmUtbWFzdGVyL2t1YmVsZXQubG9nIEBAQApoZWxsbwoAAABm6ysY6e70
//	pgABPiarK06zH7bzfQEAAAAABFla
//	%%% end-base64 %%%
//
// kubeadm-dind-cluster wrote the same block with the payload compressed by the
// lzma command (legacy .lzma format) instead of xz. Readers tell the two apart
// by the xz magic bytes FD 37 7A 58 5A 00 at the start of the payload.
//
// When reading a block out of a CI log, lines before the start marker and
// after the end marker are ignored, and so is whatever the CI system puts in
// front of every line (timestamps, job names): the text before the start
// marker on its line is the prefix. A block line that starts with that prefix
// must hold nothing but base64 after it. On any other line the payload is the
// run of base64 characters at the end of the line, so a prefix that varies
// from line to line is dropped as long as it ends in a character outside the
// base64 alphabet, such as a space. Marker lines must have nothing after the
// marker. ANSI terminal escape sequences and trailing white space (including
// CR) are ignored. A start marker inside a block restarts the block, as the
// earlier one was cut off; the first complete block is read.
//
// # Limits
//
// Dumps come from CI logs, so splitting treats them as untrusted and streams
// them with bounded memory. Split writes each section as it reads it and
// holds at most 64 KiB of a line. Split64 decodes the base64 payload as it
// reads it into a temporary file (in $TMPDIR, removed afterwards),
// decompresses it once to check it without writing anything, then again
// into the files. It refuses, before writing anything:
//
//   - a dump that decompresses to more than 1 GiB;
//   - xz block headers or a legacy lzma header that declare a dictionary
//     larger than 64 MiB, the dictionary of xz -9 and lzma -9: decoders
//     allocate the declared size up front;
//   - xz data with filters other than LZMA2 alone, as dump64 writes it;
//   - a line longer than 1 MiB inside the block, as payload lines are 100
//     characters. Such lines outside the block are skipped.
package dump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// maxNameLength is PATH_MAX on Linux: a longer name could not be written.
const maxNameLength = 4096

// ErrInvalidName is wrapped by the errors for section names that the format
// does not allow.
var ErrInvalidName = errors.New("invalid section name")

// Writer writes a text dump. It is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	out io.Writer
}

// NewWriter returns a Writer that writes a text dump to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{out: w}
}

// Section writes a marker line for name followed by content, in a single Write
// to the underlying writer, so that concurrent sections do not interleave. An
// invalid name is reported as a *SectionError wrapping ErrInvalidName, and
// nothing is written.
func (w *Writer) Section(name string, content []byte) error {
	if err := checkName(name); err != nil {
		return &SectionError{Name: name, Err: err}
	}
	var buf bytes.Buffer
	buf.Grow(len(name) + len(content) + 16)
	buf.WriteString("@@@ " + name + " @@@\n")
	for line := range bytes.Lines(content) {
		if looksLikeMarker(line) {
			buf.WriteByte(' ')
		}
		buf.Write(line)
	}
	if len(content) > 0 && content[len(content)-1] != '\n' {
		buf.WriteByte('\n')
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.out.Write(buf.Bytes())
	return err
}

func checkName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrInvalidName, why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxNameLength:
		return bad(fmt.Sprintf("longer than %d bytes", maxNameLength))
	case strings.HasPrefix(name, "/"):
		return bad("absolute path")
	case strings.Contains(name, "\\"):
		return bad("contains a backslash")
	case strings.Contains(name, "@@@"):
		return bad(`contains "@@@"`)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return bad("contains a control character")
	}
	for elem := range strings.SplitSeq(name, "/") {
		switch elem {
		case "":
			return bad("empty path element")
		case ".", "..":
			return bad(fmt.Sprintf("%q path element", elem))
		}
	}
	return nil
}

// markerName reports whether line (with or without its line ending) is a
// marker line, and the name it holds.
func markerName(line []byte) (string, bool) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < len("@@@  @@@") || !bytes.HasPrefix(line, []byte("@@@ ")) || !bytes.HasSuffix(line, []byte(" @@@")) {
		return "", false
	}
	return string(line[4 : len(line)-4]), true
}

// looksLikeMarker reports whether a content line must be escaped with a
// leading space so that it is not read as a marker line.
func looksLikeMarker(line []byte) bool {
	_, ok := markerName(bytes.TrimLeft(line, " "))
	return ok
}

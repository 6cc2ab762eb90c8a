package dump

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/ulikunitz/xz"
)

const (
	startMarker = "%%% start-base64 %%%"
	endMarker   = "%%% end-base64 %%%"
	lineWidth   = 100

	// maxTextSize bounds the decompressed dump: a few kilobytes of a crafted
	// block could otherwise fill the disk, or memory in Decode64.
	maxTextSize = 1 << 30
)

// NewEncoder64 writes the start marker line to w and returns a WriteCloser
// that turns everything written to it (a text dump) into the dump64 payload.
// Close finishes the payload and writes the end marker line; it does not
// close w. If Close is never called, the block stays visibly truncated.
func NewEncoder64(w io.Writer) (io.WriteCloser, error) {
	if _, err := io.WriteString(w, startMarker+"\n"); err != nil {
		return nil, err
	}
	lines := &lineWrapper{out: w}
	b64 := base64.NewEncoder(base64.StdEncoding, lines)
	compressor, err := xz.NewWriter(b64)
	if err != nil {
		return nil, err
	}
	return &encoder64{compressor: compressor, b64: b64, lines: lines}, nil
}

// Encode64 writes the text dump read from text to w as a dump64 block.
func Encode64(w io.Writer, text io.Reader) error {
	enc, err := NewEncoder64(w)
	if err != nil {
		return fmt.Errorf("dump64: %w", err)
	}
	if _, err := io.Copy(enc, text); err != nil {
		return fmt.Errorf("dump64: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("dump64: %w", err)
	}
	return nil
}

type encoder64 struct {
	compressor *xz.Writer
	b64        io.WriteCloser
	lines      *lineWrapper
}

func (e *encoder64) Write(p []byte) (int, error) { return e.compressor.Write(p) }

func (e *encoder64) Close() error {
	if err := e.compressor.Close(); err != nil {
		return err
	}
	if err := e.b64.Close(); err != nil {
		return err
	}
	return e.lines.finish()
}

// lineWrapper breaks the base64 stream into lines of lineWidth columns.
type lineWrapper struct {
	out    io.Writer
	column int
	buf    []byte
}

func (lw *lineWrapper) Write(p []byte) (int, error) {
	lw.buf = lw.buf[:0]
	for rest := p; len(rest) > 0; {
		n := min(len(rest), lineWidth-lw.column)
		lw.buf = append(lw.buf, rest[:n]...)
		rest = rest[n:]
		lw.column += n
		if lw.column == lineWidth {
			lw.buf = append(lw.buf, '\n')
			lw.column = 0
		}
	}
	if _, err := lw.out.Write(lw.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (lw *lineWrapper) finish() error {
	end := endMarker + "\n"
	if lw.column > 0 {
		end = "\n" + end
	}
	_, err := io.WriteString(lw.out, end)
	return err
}

// Split64 finds the first complete dump64 block in a log read from r (see
// the package documentation for what it tolerates around it) and writes its
// sections into dir like Split. It streams: the payload goes to a temporary
// file as it is decoded, is decompressed once to check it, then again into
// the files. If the block is truncated or corrupt, or refused for its size
// (see the package documentation), nothing is written.
func Split64(r io.Reader, dir string) ([]string, error) {
	return splitLimited(r, dir, maxTextSize)
}

// splitLimited is Split64 with the cap on the decompressed size as a
// parameter, for tests.
func splitLimited(r io.Reader, dir string, limit int64) ([]string, error) {
	p, err := readPayload(r)
	if err != nil {
		return nil, err
	}
	defer p.remove()
	if err := p.decompress(io.Discard, limit); err != nil {
		return nil, err
	}
	text, err := p.open(limit)
	if err != nil {
		return nil, err
	}
	return Split(text, dir)
}

// Decode64 finds the first complete dump64 block in a log read from r and
// returns the text dump it holds, which it holds in memory: up to 1 GiB.
func Decode64(r io.Reader) ([]byte, error) {
	p, err := readPayload(r)
	if err != nil {
		return nil, err
	}
	defer p.remove()
	var text bytes.Buffer
	if err := p.decompress(&text, maxTextSize); err != nil {
		return nil, err
	}
	return text.Bytes(), nil
}

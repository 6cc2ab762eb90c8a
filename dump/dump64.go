package dump

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

const (
	startMarker = "%%% start-base64 %%%"
	endMarker   = "%%% end-base64 %%%"
	lineWidth   = 100

	// maxTextSize bounds the decompressed dump, which is held in memory:
	// a few kilobytes of a crafted block could otherwise expand without limit.
	maxTextSize = 1 << 30
	// maxLegacyDictSize is the dictionary size of lzma -9; a larger one in a
	// legacy header means a corrupt header, not a real dump.
	maxLegacyDictSize = 64 << 20
)

var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

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
// the package documentation for what it tolerates around it), decodes it
// fully in memory and then writes its sections into dir with Split. If the
// block is truncated or corrupt, nothing is written.
func Split64(r io.Reader, dir string) ([]string, error) {
	text, err := Decode64(r)
	if err != nil {
		return nil, err
	}
	return Split(bytes.NewReader(text), dir)
}

// Decode64 finds the first complete dump64 block in a log read from r and
// returns the text dump it holds.
func Decode64(r io.Reader) ([]byte, error) {
	compressed, err := readBlock(r)
	if err != nil {
		return nil, err
	}
	return decompress(compressed)
}

// payloadLine records where a log line's payload starts in the joined base64
// text, to point decoding errors at the log line.
type payloadLine struct {
	offset  int
	logLine int
}

func readBlock(r io.Reader) ([]byte, error) {
	in := bufio.NewReader(r)
	var (
		inBlock   bool
		prefix    string
		startLine int
		encoded   strings.Builder
		lines     []payloadLine
	)
	for logLine := 1; ; logLine++ {
		line, err := in.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("dump64: reading the log: %w", err)
		}
		if line == "" && err == io.EOF {
			break
		}
		if inBlock || strings.Contains(line, "%%%") {
			line = cleanLine(line)
		}
		start, isStart := markerPrefix(line, startMarker)
		_, isEnd := markerPrefix(line, endMarker)
		switch {
		case isStart:
			// A second start marker means the block so far was cut off.
			inBlock, prefix, startLine = true, start, logLine
			encoded.Reset()
			lines = lines[:0]
		case !inBlock:
		case isEnd:
			if encoded.Len() == 0 {
				return nil, fmt.Errorf("dump64: the block between log lines %d and %d is empty", startLine, logLine)
			}
			return decodeBase64(encoded.String(), lines)
		default:
			if data := payload(line, prefix); data != "" {
				lines = append(lines, payloadLine{offset: encoded.Len(), logLine: logLine})
				encoded.WriteString(data)
			}
		}
		if err == io.EOF {
			break
		}
	}
	if !inBlock {
		return nil, fmt.Errorf("dump64: no %q line found in the log", startMarker)
	}
	return nil, fmt.Errorf("dump64: no %q line after the start marker on log line %d: the log is truncated", endMarker, startLine)
}

var ansiEscape = regexp.MustCompile("\x1b\\[[0-?]*[ -/]*[@-~]")

// cleanLine drops terminal escape sequences and trailing white space.
func cleanLine(line string) string {
	if strings.Contains(line, "\x1b") {
		line = ansiEscape.ReplaceAllString(line, "")
	}
	return strings.TrimRight(line, " \t\r\n")
}

// markerPrefix reports whether a cleaned line holds marker with nothing
// after it, and returns what precedes it.
func markerPrefix(line, marker string) (string, bool) {
	prefix, rest, found := strings.Cut(line, marker)
	if !found || rest != "" {
		return "", false
	}
	return prefix, true
}

// payload returns the base64 text of a cleaned block line. A line that starts
// with the prefix seen on the start marker line must hold nothing but base64
// after it (decoding reports anything else); for other lines, whose prefix
// varies (timestamps), it is the run of base64 characters at the end.
func payload(line, prefix string) string {
	if rest, ok := strings.CutPrefix(line, prefix); ok {
		return rest
	}
	start := len(line)
	for start > 0 && isBase64(line[start-1]) {
		start--
	}
	return line[start:]
}

func isBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}

func decodeBase64(encoded string, lines []payloadLine) ([]byte, error) {
	data, err := base64.StdEncoding.DecodeString(encoded)
	if err == nil {
		return data, nil
	}
	// Find the most likely culprit for the user.
	lengths := make([]int, len(lines))
	for i := range lines {
		end := len(encoded)
		if i+1 < len(lines) {
			end = lines[i+1].offset
		}
		lengths[i] = end - lines[i].offset
	}
	if i, width := oddLine(lengths); i >= 0 {
		return nil, fmt.Errorf("dump64: log line %d has %d base64 characters where the other lines of the block have %d: it is cut, comes from other output, or has a line prefix that was not recognized",
			lines[i].logLine, lengths[i], width)
	}
	last := lines[len(lines)-1].logLine
	if len(encoded)%4 != 0 {
		return nil, fmt.Errorf("dump64: the base64 data ends in the middle of a 4-character group on log line %d: the end of the block is missing", last)
	}
	var corrupt base64.CorruptInputError
	if errors.As(err, &corrupt) {
		offset := int(corrupt)
		i := sort.Search(len(lines), func(i int) bool { return lines[i].offset > offset }) - 1
		return nil, fmt.Errorf("dump64: invalid base64 data on log line %d at payload column %d", lines[i].logLine, offset-lines[i].offset+1)
	}
	return nil, fmt.Errorf("dump64: %w", err)
}

// oddLine returns the index of the first payload line whose length does not
// fit the block's most common line width (the last line may be shorter), and
// that width; or -1.
func oddLine(lengths []int) (int, int) {
	if len(lengths) < 3 {
		return -1, 0
	}
	count := make(map[int]int)
	width := 0
	for _, n := range lengths[:len(lengths)-1] {
		count[n]++
		if count[n] > count[width] {
			width = n
		}
	}
	for i, n := range lengths {
		if n != width && (i < len(lengths)-1 || n > width) {
			return i, width
		}
	}
	return -1, 0
}

func decompress(compressed []byte) ([]byte, error) {
	var (
		format       string
		decompressor io.Reader
		err          error
	)
	if bytes.HasPrefix(compressed, xzMagic) {
		format = "xz"
		decompressor, err = xz.NewReader(bytes.NewReader(compressed))
		if err != nil {
			return nil, fmt.Errorf("dump64: corrupt xz data: %w", err)
		}
	} else {
		format = "legacy lzma"
		decompressor, err = lzma.ReaderConfig{DictCap: maxLegacyDictSize}.NewReader(bytes.NewReader(compressed))
		if err != nil {
			return nil, fmt.Errorf("dump64: the block is neither xz data (no xz magic bytes) nor legacy lzma data (%w)", err)
		}
	}
	text, err := io.ReadAll(io.LimitReader(decompressor, maxTextSize+1))
	if err != nil {
		return nil, fmt.Errorf("dump64: %s data is corrupt or truncated: %w", format, err)
	}
	if len(text) > maxTextSize {
		return nil, fmt.Errorf("dump64: the decompressed dump exceeds %d bytes; refusing it", maxTextSize)
	}
	return text, nil
}

package dump

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

const (
	// maxLogLine bounds a log line inside a block, which is held in memory.
	// Longer lines outside a block are skipped.
	maxLogLine = 1 << 20
	// maxPayloadSize bounds the compressed payload kept in the temporary
	// file: a dump of at most maxTextSize does not need more.
	maxPayloadSize = maxTextSize
	// maxLineWidths bounds the distinct line widths remembered to point at
	// an odd line.
	maxLineWidths = 64
)

// readPayload finds the first complete dump64 block in a log read from r and
// decodes its base64 payload, as it reads it, into a temporary file. The
// caller removes the file with payload.remove.
func readPayload(r io.Reader) (*payload, error) {
	file, err := os.CreateTemp("", "dump64-*.payload")
	if err != nil {
		return nil, fmt.Errorf("dump64: creating a temporary file for the payload: %w", err)
	}
	p := &payload{file: file}
	if p.size, err = readBlock(r, file); err != nil {
		p.remove()
		return nil, err
	}
	magic := make([]byte, len(xzMagic))
	_, err = file.ReadAt(magic, 0)
	p.isXZ = err == nil && bytes.Equal(magic, xzMagic)
	return p, nil
}

// readBlock writes the payload of the first complete block to file, starting
// over at every start marker, and returns its size.
func readBlock(r io.Reader, file *os.File) (int64, error) {
	log := &logReader{in: bufio.NewReaderSize(r, maxLogLine)}
	var (
		block     *base64Lines // nil outside a block
		prefix    string
		startLine int
	)
	for {
		line, tooLong, err := log.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("dump64: reading the log: %w", err)
		}
		if tooLong {
			if block != nil {
				return 0, fmt.Errorf("dump64: log line %d in the block is longer than %s, where payload lines have %d base64 characters: rewrap the payload (fold -w %d) and try again", log.number, sizeText(maxLogLine), lineWidth, lineWidth)
			}
			continue
		}
		if block != nil || strings.Contains(line, "%%%") {
			line = cleanLine(line)
		}
		start, isStart := markerPrefix(line, startMarker)
		_, isEnd := markerPrefix(line, endMarker)
		switch {
		case isStart:
			// A second start marker means the block so far was cut off.
			if block, err = newBase64Lines(file); err != nil {
				return 0, err
			}
			prefix, startLine = start, log.number
		case block == nil:
		case isEnd:
			return block.finish(startLine, log.number)
		default:
			if err := block.add(linePayload(line, prefix), log.number); err != nil {
				return 0, err
			}
		}
	}
	if block == nil {
		return 0, fmt.Errorf("dump64: no %q line found in the log", startMarker)
	}
	return 0, fmt.Errorf("dump64: no %q line after the start marker on log line %d: the log is truncated", endMarker, startLine)
}

// logReader reads a log line by line without holding more than maxLogLine
// bytes of a line.
type logReader struct {
	in     *bufio.Reader
	number int // of the last line returned
}

// next returns the next line, or reports that it is longer than maxLogLine
// and skips it.
func (l *logReader) next() (line string, tooLong bool, err error) {
	piece, err := l.in.ReadSlice('\n')
	if len(piece) == 0 && err == io.EOF {
		return "", false, io.EOF
	}
	l.number++
	for errors.Is(err, bufio.ErrBufferFull) {
		tooLong = true
		_, err = l.in.ReadSlice('\n')
	}
	if err != nil && err != io.EOF {
		return "", false, err
	}
	if tooLong {
		return "", true, nil
	}
	return string(piece), false, nil
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

// linePayload returns the base64 text of a cleaned block line. A line that starts
// with the prefix seen on the start marker line must hold nothing but base64
// after it (decoding reports anything else); for other lines, whose prefix
// varies (timestamps), it is the run of base64 characters at the end.
func linePayload(line, prefix string) string {
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
	return isBase64Digit(c) || c == '='
}

func isBase64Digit(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/'
}

// base64Lines decodes a block's payload line by line into a file. After the
// first invalid character it only keeps what explains the failure best: the
// position of that character and the widths of the lines.
type base64Lines struct {
	out     io.Writer
	size    int64  // bytes written to out
	pending []byte // checked characters not decoded yet
	decoded []byte

	group  int  // characters in the current 4-character group
	pads   int  // "=" in the current group
	ended  bool // a group with padding ended the data
	chars  int64
	first  error // the first invalid character
	widths lineWidths
}

// newBase64Lines empties file and returns a decoder writing to it.
func newBase64Lines(file *os.File) (*base64Lines, error) {
	if err := file.Truncate(0); err != nil {
		return nil, fmt.Errorf("dump64: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("dump64: %w", err)
	}
	return &base64Lines{out: file, widths: lineWidths{seen: make(map[int]*widthSeen)}}, nil
}

// decodeChunk is how many base64 characters are decoded at once.
const decodeChunk = 16 << 10

// add takes the payload of one log line. It fails only if the payload
// outgrows maxPayloadSize or the file cannot be written: invalid base64 is
// reported by finish, once the block's lines are known.
func (b *base64Lines) add(data string, logLine int) error {
	if data == "" {
		return nil
	}
	b.widths.add(len(data), logLine)
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '\r' || c == '\n' {
			continue // as base64.StdEncoding does
		}
		b.chars++
		if b.first != nil {
			continue
		}
		if why := b.check(c); why != "" {
			b.first = fmt.Errorf("dump64: invalid base64 data on log line %d at payload column %d: %s", logLine, i+1, why)
			continue
		}
		b.pending = append(b.pending, c)
	}
	if len(b.pending) >= decodeChunk {
		return b.decode(len(b.pending) / 4 * 4)
	}
	return nil
}

// check follows the 4-character groups and says what is wrong with c, if
// anything.
func (b *base64Lines) check(c byte) string {
	switch {
	case b.ended:
		return "data after the padding that ends the payload"
	case c == '=' && b.group < 2:
		return `"=" too early in a 4-character group`
	case c == '=':
		b.pads++
	case !isBase64Digit(c):
		return fmt.Sprintf("%q is not a base64 character", c)
	case b.pads > 0:
		return `data after "=" in a 4-character group`
	}
	b.group++
	if b.group == 4 {
		b.ended = b.pads > 0
		b.group, b.pads = 0, 0
	}
	return ""
}

// decode decodes the first n pending characters, a multiple of 4, which
// check has accepted.
func (b *base64Lines) decode(n int) error {
	var err error
	if b.decoded, err = base64.StdEncoding.AppendDecode(b.decoded[:0], b.pending[:n]); err != nil {
		return fmt.Errorf("dump64: %w", err) // check let through what the decoder does not take
	}
	b.pending = b.pending[:copy(b.pending, b.pending[n:])]
	b.size += int64(len(b.decoded))
	if b.size > maxPayloadSize {
		return refusal(fmt.Sprintf("dump64: the block holds more than %s of compressed data; refusing it", sizeText(maxPayloadSize)))
	}
	if _, err := b.out.Write(b.decoded); err != nil {
		return fmt.Errorf("dump64: writing the payload to a temporary file: %w", err)
	}
	return nil
}

// finish ends the block at its end marker and returns the payload's size,
// or explains why the payload does not decode.
func (b *base64Lines) finish(startLine, endLine int) (int64, error) {
	if b.chars == 0 {
		return 0, fmt.Errorf("dump64: the block between log lines %d and %d is empty", startLine, endLine)
	}
	if b.first == nil && b.group == 0 {
		return b.size, b.decode(len(b.pending))
	}
	// Find the most likely culprit for the user.
	if odd, ok := b.widths.odd(); ok {
		return 0, fmt.Errorf("dump64: log line %d has %d base64 characters where the other lines of the block have %d: it is cut, comes from other output, or has a line prefix that was not recognized",
			odd.logLine, odd.length, odd.width)
	}
	if b.chars%4 != 0 {
		return 0, fmt.Errorf("dump64: the base64 data ends in the middle of a 4-character group on log line %d: the end of the block is missing", b.widths.last.logLine)
	}
	return 0, b.first
}

// lineWidths keeps, for the first maxLineWidths distinct widths of payload
// lines, how often they occur and where first, to find an odd line.
type lineWidths struct {
	seen  map[int]*widthSeen
	lines int
	last  widthSeen // the last line, with count 1
}

type widthSeen struct {
	width, count, index, logLine int
}

func (w *lineWidths) add(width, logLine int) {
	w.last = widthSeen{width: width, count: 1, index: w.lines, logLine: logLine}
	w.lines++
	if seen, ok := w.seen[width]; ok {
		seen.count++
	} else if len(w.seen) < maxLineWidths {
		first := w.last
		w.seen[width] = &first
	}
}

type oddLine struct{ logLine, length, width int }

// odd returns the first line whose width does not fit the block's most
// common width (the last line may be shorter). With fewer than 3 lines there
// is no telling.
func (w *lineWidths) odd() (oddLine, bool) {
	if w.lines < 3 {
		return oddLine{}, false
	}
	width := w.commonWidth()
	var first *widthSeen
	for _, seen := range w.seen {
		onlyLast := seen.index == w.last.index
		if seen.width == width || onlyLast && seen.width < width {
			continue
		}
		if first == nil || seen.index < first.index {
			first = seen
		}
	}
	if first == nil {
		return oddLine{}, false
	}
	return oddLine{logLine: first.logLine, length: first.width, width: width}, true
}

// commonWidth is the most common width of the lines but the last, the one
// seen first on a tie.
func (w *lineWidths) commonWidth() int {
	var best *widthSeen
	bestCount := 0
	for _, seen := range w.seen {
		count := seen.count
		if seen.width == w.last.width {
			count--
		}
		if count > bestCount || count == bestCount && best != nil && seen.index < best.index {
			best, bestCount = seen, count
		}
	}
	return best.width
}

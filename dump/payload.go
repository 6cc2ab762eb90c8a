package dump

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ulikunitz/xz/lzma"
)

// payload is the compressed dump of a dump64 block, in a temporary file.
type payload struct {
	file *os.File
	size int64
	isXZ bool // or else legacy lzma, told apart by the xz magic bytes
}

func (p *payload) remove() {
	p.file.Close()
	os.Remove(p.file.Name())
}

func (p *payload) format() string {
	if p.isXZ {
		return "xz"
	}
	return "legacy lzma"
}

func (p *payload) reader() io.Reader { return io.NewSectionReader(p.file, 0, p.size) }

// checkHeaders refuses, without decompressing anything, a payload whose
// headers declare more than the caps allow or that is not xz or legacy lzma
// data. For xz, that means walking every block header and LZMA2 chunk
// header.
func (p *payload) checkHeaders(limit int64) error {
	if !p.isXZ {
		header := make([]byte, lzma.HeaderLen)
		n, _ := io.ReadFull(p.reader(), header)
		return checkLegacyHeader(header[:n], limit)
	}
	scan, err := newXZScanner(p.reader(), limit)
	if err != nil {
		return fmt.Errorf("dump64: corrupt xz data: %w", err)
	}
	for {
		_, err := scan.nextBlock()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return p.corrupt(err)
		}
	}
}

const notLZMA = "dump64: the block is neither xz data (no xz magic bytes) nor legacy lzma data"

// checkLegacyHeader checks the 13-byte header of the .lzma format: a
// properties byte, the dictionary size and the uncompressed size (all ones
// if unknown), little-endian.
func checkLegacyHeader(header []byte, limit int64) error {
	if len(header) < lzma.HeaderLen {
		return fmt.Errorf("%s (%d bytes, shorter than an lzma header)", notLZMA, len(header))
	}
	if header[0] >= 9*5*5 {
		return fmt.Errorf("%s (invalid lzma properties byte %#x)", notLZMA, header[0])
	}
	if dictSize := binary.LittleEndian.Uint32(header[1:5]); dictSize > maxDictSize {
		return refusal(fmt.Sprintf("%s with a dictionary of at most %s, the dictionary of lzma -9: its header declares a dictionary of %s; refusing it",
			notLZMA, sizeText(maxDictSize), sizeText(int64(dictSize))))
	}
	if size := binary.LittleEndian.Uint64(header[5:]); size != 1<<64-1 && size > uint64(limit) {
		return errTooBig(limit)
	}
	return nil
}

// open returns a reader of the decompressed dump. The headers must have
// been checked.
func (p *payload) open(limit int64) (io.Reader, error) {
	if p.isXZ {
		text, err := newXZReader(p.file, p.size, limit)
		if err != nil {
			return nil, fmt.Errorf("dump64: corrupt xz data: %w", err)
		}
		return text, nil
	}
	collectBeforeDictionary(maxDictSize) // lzma.Reader allocates the header's size, up to this
	text, err := lzma.ReaderConfig{DictCap: maxDictSize}.NewReader(bufio.NewReader(p.reader()))
	if err != nil {
		return nil, fmt.Errorf("%s (%w)", notLZMA, err)
	}
	return text, nil
}

// decompress checks the headers and writes the decompressed dump to w,
// refusing more than limit bytes.
func (p *payload) decompress(w io.Writer, limit int64) error {
	if err := p.checkHeaders(limit); err != nil {
		return err
	}
	text, err := p.open(limit)
	if err != nil {
		return err
	}
	n, err := io.Copy(w, io.LimitReader(text, limit+1))
	if err != nil {
		return p.corrupt(err)
	}
	if n > limit {
		return errTooBig(limit)
	}
	return nil
}

func (p *payload) corrupt(err error) error {
	if _, ok := errors.AsType[refusal](err); ok {
		return err
	}
	return fmt.Errorf("dump64: %s data is corrupt or truncated: %w", p.format(), err)
}

// refusal is an error for data that may well be intact but is refused for
// what its size would cost.
type refusal string

func (r refusal) Error() string { return string(r) }

func errTooBig(limit int64) error {
	return refusal(fmt.Sprintf("dump64: the decompressed dump exceeds %s; refusing it", sizeText(limit)))
}

// sizeText writes n in the largest binary unit that divides it.
func sizeText(n int64) string {
	for _, unit := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= unit.size && n%unit.size == 0 {
			return fmt.Sprintf("%d %s", n/unit.size, unit.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

package dump

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// wrapBlock puts a compressed payload between the markers, base64-encoded
// in lines of 100 columns.
func wrapBlock(payload []byte) string {
	encoded := base64.StdEncoding.EncodeToString(payload)
	var block strings.Builder
	block.WriteString(startMarker + "\n")
	for len(encoded) > 0 {
		n := min(len(encoded), lineWidth)
		block.WriteString(encoded[:n] + "\n")
		encoded = encoded[n:]
	}
	block.WriteString(endMarker + "\n")
	return block.String()
}

func compressXZ(t testing.TB, config xz.WriterConfig, text []byte) []byte {
	t.Helper()
	var compressed bytes.Buffer
	w, err := config.NewWriter(&compressed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(text); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return compressed.Bytes()
}

func compressLegacy(t testing.TB, config lzma.WriterConfig, text []byte) []byte {
	t.Helper()
	var compressed bytes.Buffer
	w, err := config.NewWriter(&compressed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(text); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return compressed.Bytes()
}

// repeatedText is a text dump of one section of size bytes that
// compresses well and ends in a newline, so that such dumps can follow
// each other.
func repeatedText(name string, size int) []byte {
	text := []byte("@@@ " + name + " @@@\n")
	for i := 0; len(text) < size; i++ {
		text = append(text, "I1125 06:00:00.000000    1234 kubelet.go:1234] pod sandbox is ready "...)
		text = append(text, byte('a'+i%16), '\n')
	}
	text = text[:size]
	text[size-1] = '\n'
	return text
}

func TestDecode64XZVariants(t *testing.T) {
	text := bigText(t)
	half := len(text) / 2
	for name, payload := range map[string][]byte{
		"no check":     compressXZ(t, xz.WriterConfig{NoCheckSum: true}, text),
		"CRC32":        compressXZ(t, xz.WriterConfig{CheckSum: xz.CRC32}, text),
		"SHA-256":      compressXZ(t, xz.WriterConfig{CheckSum: xz.SHA256}, text),
		"three blocks": compressXZ(t, xz.WriterConfig{BlockSize: 8 << 10}, text),
		"streams with padding": slices.Concat(
			compressXZ(t, xz.WriterConfig{}, text[:half]), make([]byte, 8),
			compressXZ(t, xz.WriterConfig{CheckSum: xz.CRC32}, text[half:]), make([]byte, 4)),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Decode64(strings.NewReader(wrapBlock(payload)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, text) {
				t.Error("text differs")
			}
		})
	}
}

// xzUtilsBlocks is bigText compressed by xz-utils 5.4.1 with xz -T2
// --block-size=4KiB --check=crc32: five blocks whose headers give their
// sizes, which the Go writer never writes.
func xzUtilsBlocks(t *testing.T) []byte {
	t.Helper()
	payload, err := os.ReadFile(filepath.Join("testdata", "xz-utils-4KiB-blocks.xz"))
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

func TestDecode64XZUtilsBlocks(t *testing.T) {
	got, err := Decode64(strings.NewReader(wrapBlock(xzUtilsBlocks(t))))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bigText(t)) {
		t.Error("text differs")
	}
}

func TestSplit64XZBlockHeaderSizes(t *testing.T) {
	payload := xzUtilsBlocks(t)
	header := payload[xzHeaderSize : xzHeaderSize+16]
	if header[0] != 3 || header[1] != 0xc0 || !bytes.Equal(header[4:6], []byte{0x80, 0x20}) {
		t.Fatalf("block 1 header % x: want sizes, the uncompressed one 4096", header)
	}
	header[4], header[5] = 0xff, 0x1f // 4095
	binary.LittleEndian.PutUint32(header[12:], crc32.ChecksumIEEE(header[:12]))
	checkRefused(t, wrapBlock(payload), "xz data is corrupt or truncated: block 1: the header gives 4095 uncompressed bytes, the LZMA2 chunks 4096")
}

func TestSplit64XZIntegrityCheck(t *testing.T) {
	payload := compressXZ(t, xz.WriterConfig{}, bigText(t))
	footer := payload[len(payload)-xzHeaderSize:]
	indexSize := (int(binary.LittleEndian.Uint32(footer[4:])) + 1) * 4
	payload[len(payload)-xzHeaderSize-indexSize-1] ^= 1 // in the last block's CRC64
	checkRefused(t, wrapBlock(payload), "block 1: the integrity check does not match")
}

// checkRefused runs Split64 on log, which must fail with an error holding
// want, write nothing and leave no temporary file behind.
func checkRefused(t *testing.T, log, want string) {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := filepath.Join(t.TempDir(), "cluster-dump")
	paths, err := Split64(strings.NewReader(log), dir)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got error %v, want one containing %q", err, want)
	}
	if paths != nil {
		t.Errorf("paths %q", paths)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("%s was created", dir)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestSplit64RemovesTemporaryFile(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if _, err := Split64(strings.NewReader(encode64(t, bigText(t))), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// craftedBlock is an xz block for craftXZ.
type craftedBlock struct {
	dictProperty byte
	lzma2        []byte // the LZMA2 chunks, end chunk included
	uncompressed int
}

// craftXZ assembles an xz stream without integrity checks, with a correct
// index and footer, around blocks whose headers give no sizes.
func craftXZ(blocks ...craftedBlock) []byte {
	flags := []byte{0, 0}
	stream := slices.Concat(xzMagic, flags, binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(flags)))
	index := binary.AppendUvarint([]byte{0}, uint64(len(blocks)))
	for _, b := range blocks {
		header := []byte{2, 0, lzma2FilterID, 1, b.dictProperty, 0, 0, 0}
		header = binary.LittleEndian.AppendUint32(header, crc32.ChecksumIEEE(header))
		stream = slices.Concat(stream, header, b.lzma2, make([]byte, padding(int64(len(b.lzma2)))))
		index = binary.AppendUvarint(index, uint64(len(header)+len(b.lzma2)))
		index = binary.AppendUvarint(index, uint64(b.uncompressed))
	}
	index = append(index, make([]byte, padding(int64(len(index))))...)
	index = binary.LittleEndian.AppendUint32(index, crc32.ChecksumIEEE(index))
	footer := append(binary.LittleEndian.AppendUint32(nil, uint32(len(index)/4-1)), flags...)
	return slices.Concat(stream, index, binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(footer)), footer, xzFooterMagic)
}

// storedChunk is an LZMA2 chunk holding data uncompressed, resetting the
// dictionary.
func storedChunk(data string) []byte {
	return append([]byte{0x01, byte((len(data) - 1) >> 8), byte(len(data) - 1)}, data...)
}

// allocatedBy returns the bytes that f allocates: unlike the peak RSS, it
// counts a dictionary that is allocated but never touched.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const allocationBudget = 100 << 20

func TestCraftXZIsValid(t *testing.T) {
	text := "@@@ a @@@\nhello\n"
	payload := craftXZ(craftedBlock{dictProperty: 0, lzma2: append(storedChunk(text), 0), uncompressed: len(text)})
	got, err := Decode64(strings.NewReader(wrapBlock(payload)))
	if err != nil || string(got) != text {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestSplit64RefusesHugeXZDictionary(t *testing.T) {
	text := "@@@ a @@@\nhello\n"
	const threeGiB = 39 // the LZMA2 dictionary property for 3 GiB
	log := wrapBlock(craftXZ(
		craftedBlock{dictProperty: 0, lzma2: append(storedChunk(text), 0), uncompressed: len(text)},
		craftedBlock{dictProperty: threeGiB, lzma2: append(storedChunk(text), 0), uncompressed: len(text)},
	))
	allocated := allocatedBy(func() {
		checkRefused(t, log, "dump64: xz block 2 declares a dictionary of 3 GiB, more than the 64 MiB of xz -9; refusing it")
	})
	t.Logf("allocated %d KiB", allocated>>10)
	if allocated > allocationBudget {
		t.Errorf("allocated %d MiB", allocated>>20)
	}
}

// TestSplit64HiddenBlockHeader hides a block header declaring a 3 GiB
// dictionary inside an LZMA chunk whose declared compressed size is larger
// than what its range decoder reads. github.com/ulikunitz/xz's Reader goes on
// after the range decoder and allocates that dictionary.
func TestSplit64HiddenBlockHeader(t *testing.T) {
	text := repeatedText("a", 4000)
	var chunks bytes.Buffer
	w, err := lzma.Writer2Config{}.NewWriter2(&chunks)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(text)
	w.Close()
	lzma2 := chunks.Bytes()
	if lzma2[0] < 0xe0 || lzma2[len(lzma2)-1] != 0 {
		t.Fatalf("unexpected LZMA2 chunks % x", lzma2)
	}
	const chunkHeader = 6
	compressed := int(binary.BigEndian.Uint16(lzma2[3:])) + 1
	if chunkHeader+compressed+1 != len(lzma2) {
		t.Fatalf("want a single LZMA chunk, got % x", lzma2)
	}
	hiddenHeader := []byte{2, 0, lzma2FilterID, 1, 39, 0, 0, 0}
	hiddenHeader = binary.LittleEndian.AppendUint32(hiddenHeader, crc32.ChecksumIEEE(hiddenHeader))
	hidden := slices.Concat([]byte{0}, make([]byte, padding(chunkHeader+int64(compressed)+1)), hiddenHeader, storedChunk("x"), []byte{0})
	crafted := slices.Concat(lzma2[:chunkHeader+compressed], hidden, []byte{0})
	binary.BigEndian.PutUint16(crafted[3:], uint16(compressed+len(hidden)-1))

	log := wrapBlock(craftXZ(craftedBlock{dictProperty: 0, lzma2: crafted, uncompressed: len(text)}))
	allocated := allocatedBy(func() {
		checkRefused(t, log, "block 1: the LZMA2 data does not end where its chunk headers say")
	})
	t.Logf("allocated %d KiB", allocated>>10)
	if allocated > allocationBudget {
		t.Errorf("allocated %d MiB", allocated>>20)
	}
}

func TestSplit64RefusesHugeLegacyDictionary(t *testing.T) {
	header := []byte{0x5d}
	header = binary.LittleEndian.AppendUint32(header, 1<<30)
	header = binary.LittleEndian.AppendUint64(header, 1<<64-1)
	log := wrapBlock(append(header, bytes.Repeat([]byte{0x42}, 100)...))
	allocated := allocatedBy(func() {
		checkRefused(t, log, "neither xz data (no xz magic bytes) nor legacy lzma data with a dictionary of at most 64 MiB, the dictionary of lzma -9: its header declares a dictionary of 1 GiB; refusing it")
	})
	if allocated > allocationBudget {
		t.Errorf("allocated %d MiB", allocated>>20)
	}
}

// TestSplit64SizeCap checks the cap on the decompressed size, lowered to
// 2 MiB: a test at 1 GiB would decompress 1 GiB for each format.
func TestSplit64SizeCap(t *testing.T) {
	const limit = 2 << 20
	exact, over := repeatedText("a", limit), repeatedText("a", limit+1)
	for _, tc := range []struct {
		name    string
		payload []byte
		refused bool
	}{
		{"xz at the cap", compressXZ(t, xz.WriterConfig{}, exact), false},
		{"xz over the cap", compressXZ(t, xz.WriterConfig{}, over), true},
		{"xz streams over the cap", slices.Concat(compressXZ(t, xz.WriterConfig{}, exact), compressXZ(t, xz.WriterConfig{}, []byte("x"))), true},
		{"lzma at the cap", compressLegacy(t, lzma.WriterConfig{}, exact), false},
		{"lzma over the cap", compressLegacy(t, lzma.WriterConfig{}, over), true},
		{"lzma over the cap in its header", compressLegacy(t, lzma.WriterConfig{SizeInHeader: true, Size: limit + 1}, over), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cluster-dump")
			_, err := splitLimited(strings.NewReader(wrapBlock(tc.payload)), dir, limit)
			_, statErr := os.Lstat(dir)
			switch {
			case !tc.refused && err != nil:
				t.Fatal(err)
			case !tc.refused:
				if info, err := os.Stat(filepath.Join(dir, "a")); err != nil || info.Size() != limit-int64(len("@@@ a @@@\n")) {
					t.Errorf("file a: %v, %v", info, err)
				}
			case err == nil || err.Error() != "dump64: the decompressed dump exceeds 2 MiB; refusing it":
				t.Errorf("got error %v", err)
			case !os.IsNotExist(statErr):
				t.Errorf("%s was created", dir)
			}
		})
	}
}

func TestSplit64LongLines(t *testing.T) {
	block := encode64(t, bigText(t))
	junk := strings.Repeat("x", 3*maxLogLine) + "\n"
	if _, err := split64(t, junk+block+junk); err != nil {
		t.Errorf("a long line around the block: %v", err)
	}
	lines := strings.SplitAfter(block, "\n")
	long := slices.Concat(lines[:3], []string{junk}, lines[3:])
	checkRefused(t, strings.Join(long, ""), "dump64: log line 4 in the block is longer than 1 MiB, where payload lines have 100 base64 characters: rewrap the payload (fold -w 100) and try again")
}

func TestSplit64Base64Errors(t *testing.T) {
	body := base64.StdEncoding.EncodeToString(compressXZ(t, xz.WriterConfig{}, []byte("@@@ a @@@\nx\n")))
	for _, tc := range []struct{ payload, want string }{
		{"QQ==" + body, "log line 2 at payload column 5: data after the padding that ends the payload"},
		{"Q===" + body, `log line 2 at payload column 2: "=" too early in a 4-character group`},
		{"QQ=Q" + body, `log line 2 at payload column 4: data after "=" in a 4-character group`},
	} {
		checkRefused(t, startMarker+"\n"+tc.payload+"\n"+endMarker+"\n", "dump64: invalid base64 data on "+tc.want)
	}
}

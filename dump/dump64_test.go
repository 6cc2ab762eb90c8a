package dump

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ulikunitz/xz/lzma"
)

func encode64(t *testing.T, text []byte) string {
	t.Helper()
	var block strings.Builder
	if err := Encode64(&block, bytes.NewReader(text)); err != nil {
		t.Fatal(err)
	}
	return block.String()
}

// legacyBlock is what kubeadm-dind-cluster's dump64 printed:
// lzma | base64 -w 100 between the markers.
func legacyBlock(t *testing.T, text []byte) string {
	t.Helper()
	var compressed bytes.Buffer
	w, err := lzma.NewWriter(&compressed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(text); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	encoded := base64.StdEncoding.EncodeToString(compressed.Bytes())
	var block strings.Builder
	block.WriteString(startMarker + "\n")
	for len(encoded) > 0 {
		n := min(len(encoded), 100)
		block.WriteString(encoded[:n] + "\n")
		encoded = encoded[n:]
	}
	block.WriteString(endMarker + "\n")
	return block.String()
}

// bigText is a dump long enough for a block of many lines.
func bigText(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for i := range 10 {
		var content strings.Builder
		for j := range 60 {
			fmt.Fprintf(&content, "node %d: event %d, id %x\n", i, j, i*7919+j*104729)
		}
		if err := w.Section(fmt.Sprintf("node-%d/events.log", i), []byte(content.String())); err != nil {
			t.Fatal(err)
		}
	}
	return append(writeSample(t), buf.Bytes()...)
}

func splitText(t *testing.T, text []byte) map[string]string {
	t.Helper()
	dir := t.TempDir()
	if _, err := Split(bytes.NewReader(text), dir); err != nil {
		t.Fatal(err)
	}
	return readTree(t, dir)
}

func split64(t *testing.T, log string) (map[string]string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cluster-dump")
	paths, err := Split64(strings.NewReader(log), dir)
	if err != nil {
		return nil, err
	}
	files := readTree(t, dir)
	if len(paths) != len(files) {
		t.Errorf("%d paths for %d files", len(paths), len(files))
	}
	return files, nil
}

func TestEncode64Format(t *testing.T) {
	block := encode64(t, bigText(t))
	lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	if lines[0] != startMarker || lines[len(lines)-1] != endMarker {
		t.Fatalf("markers missing: first %q, last %q", lines[0], lines[len(lines)-1])
	}
	payload := lines[1 : len(lines)-1]
	if len(payload) < 3 {
		t.Fatalf("only %d payload lines", len(payload))
	}
	for i, line := range payload {
		if i < len(payload)-1 && len(line) != 100 || len(line) == 0 || len(line) > 100 {
			t.Errorf("payload line %d is %d columns", i+1, len(line))
		}
	}
	data, err := base64.StdEncoding.DecodeString(strings.Join(payload, ""))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, xzMagic) {
		t.Errorf("payload is not xz: % x", data[:6])
	}
}

func TestEncoder64WithWriter(t *testing.T) {
	var block bytes.Buffer
	enc, err := NewEncoder64(&block)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(enc)
	for _, s := range sampleSections {
		if err := w.Section(s.name, []byte(s.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	text, err := Decode64(&block)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(text, writeSample(t)) {
		t.Errorf("got %q", text)
	}
}

func TestSplit64MatchesSplit(t *testing.T) {
	text := bigText(t)
	want := splitText(t, text)
	for name, block := range map[string]string{
		"xz":          encode64(t, text),
		"legacy lzma": legacyBlock(t, text),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := split64(t, block)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Error("Split64 and Split disagree")
			}
		})
	}
}

// inLog embeds a block in a CI log, prefixing line i of the whole log with
// prefix(i) and ending lines with eol.
func inLog(block string, prefix func(i int) string, eol string) string {
	lines := []string{
		"$ make test",
		"+ echo '%%% start-base64 %%%'",
		"FAIL: TestSomething (12.3s)",
	}
	lines = append(lines, strings.Split(strings.TrimSuffix(block, "\n"), "\n")...)
	lines = append(lines, "+ exit 1", "Done. Your build exited with 1.")
	var log strings.Builder
	for i, line := range lines {
		log.WriteString(prefix(i) + line + eol)
	}
	return log.String()
}

func TestSplit64FromCILogs(t *testing.T) {
	text := bigText(t)
	want := splitText(t, text)
	prefixes := map[string]func(int) string{
		"none":        func(int) string { return "" },
		"RFC 3339":    func(i int) string { return fmt.Sprintf("2026-11-25T06:%02d:%02d.%dZ ", i/60%60, i%60, 1000+i*37) },
		"fixed-time":  func(int) string { return "[12:00:01] " },
		"clock":       func(i int) string { return fmt.Sprintf("[12:%02d:%02d] ", i/60%60, i%60) },
		"job name":    func(int) string { return "e2e-job/shard-2 | " },
		"ends in b64": func(int) string { return "job1/" },
		"ansi":        func(i int) string { return fmt.Sprintf("\x1b[32m%d\x1b[0m ", i) },
	}
	blocks := map[string]string{"xz": encode64(t, text), "lzma": legacyBlock(t, text)}
	for _, eol := range []string{"\n", "\r\n", "\x1b[0K\n"} {
		for name, prefix := range prefixes {
			for format, block := range blocks {
				t.Run(fmt.Sprintf("%s/%s/%q", format, name, eol), func(t *testing.T) {
					got, err := split64(t, inLog(block, prefix, eol))
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Error("files differ from Split")
					}
				})
			}
		}
	}
}

func TestSplit64UsesFirstCompleteBlock(t *testing.T) {
	first := []byte("@@@ first @@@\n1\n")
	cut := encode64(t, bigText(t))
	cut = cut[:len(cut)/2] // no end marker
	log := "noise\n" + cut + "\nmore noise\n" + encode64(t, first) + encode64(t, []byte("@@@ second @@@\n2\n"))
	got, err := split64(t, log)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"first": "1\n"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSplit64Errors(t *testing.T) {
	text := bigText(t)
	block := encode64(t, text)
	lines := strings.Split(block, "\n")
	legacy := legacyBlock(t, text)
	legacyLines := strings.Split(legacy, "\n")
	withLine := func(lines []string, i int, line string) string {
		changed := slices.Clone(lines)
		changed[i] = line
		return strings.Join(changed, "\n")
	}
	flip := func(line string, col int) string {
		b := []byte(line)
		if b[col] == 'A' {
			b[col] = 'B'
		} else {
			b[col] = 'A'
		}
		return string(b)
	}

	for _, tc := range []struct {
		name, log, want string
	}{
		{"no block", "just\na log\n", `no "%%% start-base64 %%%" line found`},
		{"no end marker", strings.Join(lines[:len(lines)/2], "\n"), `no "%%% end-base64 %%%" line after the start marker on log line 1: the log is truncated`},
		{"empty block", startMarker + "\n" + endMarker + "\n", "block between log lines 1 and 2 is empty"},
		{"bad character", withLine(lines, 3, lines[3][:10]+"*"+lines[3][11:]), "invalid base64 data on log line 4 at payload column 11"},
		{"cut line", withLine(lines, 2, lines[2][:50]), "log line 3 has 50 base64 characters where the other lines of the block have 100"},
		{"cut group", withLine(lines, len(lines)-3, lines[len(lines)-3][:len(lines[len(lines)-3])-1]), "ends in the middle of a 4-character group on log line " + fmt.Sprint(len(lines)-2)},
		{"foreign line", withLine(lines, 4, lines[4]+"\nWARNING: slow"), "log line 6 has 13 base64 characters"},
		{"missing lines", strings.Join(append(slices.Clone(lines[:3]), lines[len(lines)-4:]...), "\n"), "xz data is corrupt or truncated"},
		{"flipped xz byte", withLine(lines, 5, flip(lines[5], 40)), "xz data is corrupt or truncated"},
		{"missing lzma lines", strings.Join(append(slices.Clone(legacyLines[:3]), legacyLines[len(legacyLines)-4:]...), "\n"), "legacy lzma data is corrupt or truncated"},
		{"not compressed", startMarker + "\n" + base64.StdEncoding.EncodeToString([]byte("hello, world")) + "\n" + endMarker + "\n", "neither xz data (no xz magic bytes) nor legacy lzma data"},
		{"xz header", startMarker + "\n" + base64.StdEncoding.EncodeToString(append(slices.Clone(xzMagic), 1, 2, 3, 4, 5, 6)) + "\n" + endMarker + "\n", "corrupt xz data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cluster-dump")
			paths, err := Split64(strings.NewReader(tc.log), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
			if paths != nil {
				t.Errorf("paths %q", paths)
			}
			if _, err := os.Lstat(dir); !os.IsNotExist(err) {
				t.Errorf("%s was created", dir)
			}
		})
	}
}

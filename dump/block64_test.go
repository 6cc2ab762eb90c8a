package dump

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzBase64LinesMatchesStdlib feeds lines to base64Lines and checks that it
// accepts what base64.StdEncoding accepts of the joined lines, and decodes
// it the same.
func FuzzBase64LinesMatchesStdlib(f *testing.F) {
	f.Add("QUJD\nREVG\nRw==")
	f.Add("QQ==QUFB")
	f.Add("QUJ\nD")
	f.Add("QR==\n")
	f.Add("Q===")
	f.Add("QQ=\n=")
	f.Add("QUJD\r\nRE\rVG")
	f.Fuzz(func(t *testing.T, payload string) {
		var out bytes.Buffer
		b := &base64Lines{out: &out, widths: lineWidths{seen: make(map[int]*widthSeen)}}
		for i, line := range strings.Split(payload, "\n") {
			if err := b.add(line, i+1); err != nil {
				t.Fatal(err)
			}
		}
		_, err := b.finish(1, 1)
		want, wantErr := base64.StdEncoding.DecodeString(payload)
		switch {
		case payload == "" || strings.Trim(payload, "\r\n") == "":
		case (err == nil) != (wantErr == nil):
			t.Fatalf("%q: got error %v, encoding/base64 %v", payload, err, wantErr)
		case err == nil && !bytes.Equal(out.Bytes(), want):
			t.Fatalf("%q: got % x, want % x", payload, out.Bytes(), want)
		}
	})
}

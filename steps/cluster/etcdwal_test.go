package cluster

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"testing"
)

// frame encodes one WAL record as etcd does: padded to 8 bytes.
func frame(data []byte) []byte {
	pad := (8 - len(data)%8) % 8
	field := uint64(len(data))
	if pad > 0 {
		field |= uint64(0x80|pad) << 56
	}
	out := binary.LittleEndian.AppendUint64(nil, field)
	out = append(out, data...)
	return append(out, make([]byte, pad)...)
}

func TestWALIsCutAfterItsLastRecord(t *testing.T) {
	// A record whose data ends in zeros must keep them.
	records := append(frame([]byte("first record")), frame([]byte{1, 2, 0, 0, 0})...)
	seg := append(append([]byte{}, records...), make([]byte, 4096)...)
	if got := walUsed(seg); got != len(records) {
		t.Errorf("walUsed = %d, want %d", got, len(records))
	}
	torn := append(append([]byte{}, records...), frame(make([]byte, 64))[:20]...)
	if got := walUsed(torn); got != len(records) {
		t.Errorf("a torn last record: walUsed = %d, want %d", got, len(records))
	}
	if walUsed(make([]byte, 100)) != 0 {
		t.Error("an empty segment has records")
	}
}

func TestSnapshotLeavesOutPreallocatedWAL(t *testing.T) {
	records := frame([]byte("entry"))
	files := map[string][]byte{
		"etc/kubernetes/admin.conf":                         []byte("admin"),
		"var/lib/etcd/member/wal/0000000000000000-0000.wal": append(append([]byte{}, records...), make([]byte, 1<<20)...),
		"var/lib/etcd/member/wal/0.tmp":                     make([]byte, 1<<20),
		"var/lib/etcd/member/snap/db":                       {0, 0, 7},
	}
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	var out bytes.Buffer
	if err := compactSnapshot(&out, &in); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name], _ = io.ReadAll(tr)
	}
	if _, ok := got["var/lib/etcd/member/wal/0.tmp"]; ok {
		t.Error("the spare WAL segment was kept")
	}
	if wal := got["var/lib/etcd/member/wal/0000000000000000-0000.wal"]; !bytes.Equal(wal, records) {
		t.Errorf("WAL segment kept %d bytes, want its %d bytes of records", len(wal), len(records))
	}
	for _, name := range []string{"etc/kubernetes/admin.conf", "var/lib/etcd/member/snap/db"} {
		if !bytes.Equal(got[name], files[name]) {
			t.Errorf("%s changed: %q", name, got[name])
		}
	}
}

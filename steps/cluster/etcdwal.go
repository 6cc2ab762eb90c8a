package cluster

import (
	"archive/tar"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"strings"
)

// etcd preallocates each WAL segment to 64 MB and keeps a spare segment
// ready: a fresh cluster's snapshot held 128 MB of zeros, which a restore
// wrote out again through the node's slow root file system. A segment cut
// after its last record opens as well: etcd reads records until a zero
// length field or the end of the file, appends to it, and preallocates the
// segments it starts after it.

// walUsed is how many leading bytes of WAL segment seg hold whole records.
// A record is framed by a little-endian 64-bit length field: the record's
// size in the low 56 bits and, when the top bit is set, its padding in the
// 3 bits above them.
func walUsed(seg []byte) int {
	off := 0
	for off+8 <= len(seg) {
		field := binary.LittleEndian.Uint64(seg[off:])
		if field == 0 {
			break
		}
		size := field &^ (0xff << 56)
		var pad uint64
		if field>>63 == 1 {
			pad = (field >> 56) & 0x7
		}
		if size+pad > uint64(len(seg)-off-8) {
			break // torn: etcd drops it too
		}
		off += 8 + int(size+pad)
	}
	return off
}

// isWAL tells the etcd WAL files of a snapshot: segments (.wal) and spare
// segments (.tmp).
func isWAL(name string) (segment, spare bool) {
	if path.Base(path.Dir(name)) != "wal" || !strings.Contains(name, "etcd/") {
		return false, false
	}
	return strings.HasSuffix(name, ".wal"), strings.HasSuffix(name, ".tmp")
}

// compactSnapshot copies the tar src to dst, gzipped, with etcd's WAL
// segments cut after their last record and its spare segments left out.
func compactSnapshot(dst io.Writer, src io.Reader) error {
	zw, err := gzip.NewWriterLevel(dst, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tr, tw := tar.NewReader(src), tar.NewWriter(zw)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			// tar pads its output to whole records after the end marker.
			if _, err := io.Copy(io.Discard, src); err != nil {
				return err
			}
			break
		}
		if err != nil {
			return fmt.Errorf("reading the node's files: %w", err)
		}
		segment, spare := isWAL(hdr.Name)
		if spare {
			continue
		}
		var body io.Reader = tr
		if segment && hdr.Typeflag == tar.TypeReg {
			seg, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			seg = seg[:walUsed(seg)]
			hdr.Size, body = int64(len(seg)), strings.NewReader(string(seg))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

package index

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
)

// Snapshot format, all integers little-endian:
//
//	magic    8 bytes "MEMDIDX\x00"
//	version  u32
//	kind     u8 (1 HNSW, 2 exact)
//	stateID  u32 length + bytes: the store state the index matches
//	body     kind-specific, see writeHNSWBody and writeExactBody
//	crc      u32 CRC-32C (Castagnoli) of every byte before it
//
// The state id comes first so a stale snapshot is rejected without reading
// the body. The checksum comes last so a truncated file always fails it.

var (
	// ErrSnapshotCorrupt means the snapshot is truncated, damaged or not a
	// snapshot at all; the caller must rebuild the index from the store.
	ErrSnapshotCorrupt = errors.New("index: snapshot is corrupt")
	// ErrSnapshotStale means the snapshot is intact but was taken at another
	// store state; the caller must rebuild the index from the store.
	ErrSnapshotStale = errors.New("index: snapshot does not match the store state")
	// ErrSnapshotVersion means the snapshot was written by an incompatible
	// version of memoryd.
	ErrSnapshotVersion = errors.New("index: unsupported snapshot version")
)

const (
	snapshotMagic   = "MEMDIDX\x00"
	snapshotVersion = 1

	kindHNSW  = 1
	kindExact = 2

	// maxSnapshotString bounds ids and state ids so a damaged length field
	// cannot make the loader allocate gigabytes before the checksum fails.
	maxSnapshotString = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeFileAtomic writes through fn into a temporary file beside path, syncs
// it and renames it over path, so a crash leaves either the old snapshot or
// the new one, never half of one.
func writeFileAtomic(path string, fn func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	buffered := bufio.NewWriterSize(tmp, 1<<20)
	if err = fn(buffered); err != nil {
		return err
	}
	if err = buffered.Flush(); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Sync the directory so the rename itself survives a crash.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// snapshotWriter encodes values and keeps the running checksum.
type snapshotWriter struct {
	w   io.Writer
	crc hash.Hash32
	buf []byte
	err error
}

func newSnapshotWriter(w io.Writer, kind uint8, stateID string) *snapshotWriter {
	sw := &snapshotWriter{w: w, crc: crc32.New(castagnoli), buf: make([]byte, 0, 64<<10)}
	sw.buf = append(sw.buf, snapshotMagic...)
	sw.u32(snapshotVersion)
	sw.u8(kind)
	sw.str(stateID)
	return sw
}

func (sw *snapshotWriter) flushIfFull() {
	if len(sw.buf) >= 60<<10 {
		sw.flush()
	}
}

func (sw *snapshotWriter) flush() {
	if sw.err == nil && len(sw.buf) > 0 {
		sw.crc.Write(sw.buf)
		_, sw.err = sw.w.Write(sw.buf)
	}
	sw.buf = sw.buf[:0]
}

func (sw *snapshotWriter) u8(v uint8) { sw.buf = append(sw.buf, v); sw.flushIfFull() }
func (sw *snapshotWriter) u32(v uint32) {
	sw.buf = binary.LittleEndian.AppendUint32(sw.buf, v)
	sw.flushIfFull()
}
func (sw *snapshotWriter) u64(v uint64) {
	sw.buf = binary.LittleEndian.AppendUint64(sw.buf, v)
	sw.flushIfFull()
}
func (sw *snapshotWriter) str(s string) {
	sw.u32(uint32(len(s)))
	sw.buf = append(sw.buf, s...)
	sw.flushIfFull()
}
func (sw *snapshotWriter) floats(fs []float32) {
	for _, f := range fs {
		sw.buf = binary.LittleEndian.AppendUint32(sw.buf, math.Float32bits(f))
		if len(sw.buf) >= 60<<10 {
			sw.flush()
		}
	}
}
func (sw *snapshotWriter) words(ws []uint32) {
	for _, v := range ws {
		sw.buf = binary.LittleEndian.AppendUint32(sw.buf, v)
		if len(sw.buf) >= 60<<10 {
			sw.flush()
		}
	}
}

// finish writes the checksum trailer.
func (sw *snapshotWriter) finish() error {
	sw.flush()
	if sw.err != nil {
		return sw.err
	}
	_, err := sw.w.Write(binary.LittleEndian.AppendUint32(nil, sw.crc.Sum32()))
	return err
}

// snapshotReader decodes values, keeping the running checksum; any short
// read or absurd length is reported as ErrSnapshotCorrupt.
type snapshotReader struct {
	r     *bufio.Reader
	crc   hash.Hash32
	buf   [8]byte
	chunk []byte // decode buffer for arrays, reused across calls
	err   error
}

func (sr *snapshotReader) read(p []byte) {
	if sr.err != nil {
		clear(p)
		return
	}
	if _, err := io.ReadFull(sr.r, p); err != nil {
		sr.err = fmt.Errorf("%w: %v", ErrSnapshotCorrupt, err)
		clear(p)
		return
	}
	sr.crc.Write(p)
}

func (sr *snapshotReader) u8() uint8 { sr.read(sr.buf[:1]); return sr.buf[0] }
func (sr *snapshotReader) u32() uint32 {
	sr.read(sr.buf[:4])
	return binary.LittleEndian.Uint32(sr.buf[:4])
}
func (sr *snapshotReader) u64() uint64 {
	sr.read(sr.buf[:8])
	return binary.LittleEndian.Uint64(sr.buf[:8])
}
func (sr *snapshotReader) str() string {
	n := sr.u32()
	if n > maxSnapshotString {
		sr.fail("string too long")
		return ""
	}
	b := make([]byte, n)
	sr.read(b)
	return string(b)
}

// floats fills dst, decoding through a chunk buffer.
func (sr *snapshotReader) floats(dst []float32) {
	chunk := sr.chunkBuffer()
	for len(dst) > 0 && sr.err == nil {
		n := min(len(dst), len(chunk)/4)
		sr.read(chunk[:n*4])
		for i := range n {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(chunk[i*4:]))
		}
		dst = dst[n:]
	}
}

func (sr *snapshotReader) words(dst []uint32) {
	chunk := sr.chunkBuffer()
	for len(dst) > 0 && sr.err == nil {
		n := min(len(dst), len(chunk)/4)
		sr.read(chunk[:n*4])
		for i := range n {
			dst[i] = binary.LittleEndian.Uint32(chunk[i*4:])
		}
		dst = dst[n:]
	}
}

func (sr *snapshotReader) chunkBuffer() []byte {
	if sr.chunk == nil {
		sr.chunk = make([]byte, 64<<10)
	}
	return sr.chunk
}

func (sr *snapshotReader) fail(why string) {
	if sr.err == nil {
		sr.err = fmt.Errorf("%w: %s", ErrSnapshotCorrupt, why)
	}
}

// verify reads the trailer and checks it against the running checksum; it
// also insists that nothing follows it.
func (sr *snapshotReader) verify() error {
	if sr.err != nil {
		return sr.err
	}
	want := sr.crc.Sum32()
	var trailer [4]byte
	if _, err := io.ReadFull(sr.r, trailer[:]); err != nil {
		return fmt.Errorf("%w: missing checksum", ErrSnapshotCorrupt)
	}
	if binary.LittleEndian.Uint32(trailer[:]) != want {
		return fmt.Errorf("%w: checksum mismatch", ErrSnapshotCorrupt)
	}
	if _, err := sr.r.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", ErrSnapshotCorrupt)
	}
	return nil
}

// openSnapshot checks magic, version and state id, and returns the kind.
func openSnapshot(r io.Reader, wantStateID string) (*snapshotReader, uint8, error) {
	sr := &snapshotReader{r: bufio.NewReaderSize(r, 1<<20), crc: crc32.New(castagnoli)}
	magic := make([]byte, len(snapshotMagic))
	sr.read(magic)
	if sr.err != nil || !bytes.Equal(magic, []byte(snapshotMagic)) {
		return nil, 0, fmt.Errorf("%w: bad magic", ErrSnapshotCorrupt)
	}
	if v := sr.u32(); sr.err == nil && v != snapshotVersion {
		return nil, 0, fmt.Errorf("%w: %d", ErrSnapshotVersion, v)
	}
	kind := sr.u8()
	stateID := sr.str()
	if sr.err != nil {
		return nil, 0, sr.err
	}
	if kind != kindHNSW && kind != kindExact {
		return nil, 0, fmt.Errorf("%w: unknown kind %d", ErrSnapshotCorrupt, kind)
	}
	if stateID != wantStateID {
		return nil, 0, fmt.Errorf("%w: snapshot has %q, store is at %q", ErrSnapshotStale, stateID, wantStateID)
	}
	return sr, kind, nil
}

package cache

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// An entry file is
//
//	head     magic "ferryc1\n" | meta length u32 | CRC-32C of meta u32
//	meta     JSON of meta
//	body     the response body
//	trailer  body length u64 | CRC-32C of body u32 | "fend"
//
// The meta is checked when the index is rebuilt at start, the body before
// its first byte is served. A file torn anywhere fails the size, magic or
// CRC check; the temp file + fsync + rename write makes a torn file rare,
// the checks make it harmless.
const (
	headMagic    = "ferryc1\n"
	trailerMagic = "fend"
	headLen      = 16
	trailerLen   = 16
	maxMetaLen   = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks an entry file that failed a check; it is deleted.
var errCorrupt = errors.New("cache: corrupt entry")

// encodeHead returns the head and meta bytes of an entry, and the meta CRC.
func encodeHead(m *meta) ([]byte, uint32, error) {
	js, err := json.Marshal(m)
	if err != nil {
		return nil, 0, err
	}
	if len(js) > maxMetaLen {
		return nil, 0, fmt.Errorf("cache: meta of %d bytes", len(js))
	}
	sum := crc32.Checksum(js, castagnoli)
	b := make([]byte, headLen, headLen+len(js))
	copy(b, headMagic)
	binary.BigEndian.PutUint32(b[8:], uint32(len(js)))
	binary.BigEndian.PutUint32(b[12:], sum)
	return append(b, js...), sum, nil
}

func encodeTrailer(bodyLen int64, sum uint32) []byte {
	b := make([]byte, trailerLen)
	binary.BigEndian.PutUint64(b, uint64(bodyLen))
	binary.BigEndian.PutUint32(b[8:], sum)
	copy(b[12:], trailerMagic)
	return b
}

// diskEntry is what reading an entry file's head and trailer yields.
type diskEntry struct {
	meta    meta
	metaCRC uint32
	bodyOff int64
	bodyLen int64
	bodyCRC uint32
}

// readEntry reads and checks everything in f but the body.
func readEntry(f *os.File) (*diskEntry, error) {
	e, err := readFrame(f)
	if err != nil {
		return nil, err
	}
	js := make([]byte, e.bodyOff-headLen)
	if _, err := f.ReadAt(js, headLen); err != nil {
		return nil, fmt.Errorf("%w: meta: %v", errCorrupt, err)
	}
	if crc32.Checksum(js, castagnoli) != e.metaCRC {
		return nil, fmt.Errorf("%w: meta checksum", errCorrupt)
	}
	if err := json.Unmarshal(js, &e.meta); err != nil || e.meta.Key == "" || e.meta.Status < 200 {
		return nil, fmt.Errorf("%w: meta: %v", errCorrupt, err)
	}
	// An entry an older ferry wrote may hold the cookies of the client
	// that fetched it; they are no longer served (see unstored).
	delete(e.meta.Header, setCookie)
	delete(e.meta.Header, setCookie2)
	if e.meta.Route == "" {
		// An older ferry recorded no route. With the origin's address it
		// fetched the response itself: direct. Without, it came through
		// an upstream, which one unknown: served to no route, it is
		// dropped (errUnrouted).
		if !e.meta.Addr.IsValid() {
			return nil, errUnrouted
		}
		e.meta.Route = RouteDirect
	}
	return e, nil
}

// errUnrouted is an entry an older ferry fetched through an upstream
// without recording which: no request's route is known to match it.
var errUnrouted = errors.New("cache: entry fetched through an upstream an older ferry did not record; dropped")

// readFrame reads and checks the head and trailer of f: magic, lengths
// and checksums, not the meta itself. That is enough to find the body of
// a version whose meta was read and checked before (its metaCRC).
func readFrame(f *os.File) (*diskEntry, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < headLen+trailerLen {
		return nil, fmt.Errorf("%w: %d bytes", errCorrupt, size)
	}
	var head [headLen]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return nil, fmt.Errorf("%w: head: %v", errCorrupt, err)
	}
	if string(head[:8]) != headMagic {
		return nil, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	metaLen := int64(binary.BigEndian.Uint32(head[8:]))
	if metaLen > maxMetaLen || headLen+metaLen+trailerLen > size {
		return nil, fmt.Errorf("%w: meta length %d", errCorrupt, metaLen)
	}
	var tr [trailerLen]byte
	if _, err := f.ReadAt(tr[:], size-trailerLen); err != nil {
		return nil, fmt.Errorf("%w: trailer: %v", errCorrupt, err)
	}
	e := &diskEntry{
		metaCRC: binary.BigEndian.Uint32(head[12:]),
		bodyOff: headLen + metaLen,
		bodyLen: int64(binary.BigEndian.Uint64(tr[:8])),
		bodyCRC: binary.BigEndian.Uint32(tr[8:]),
	}
	if string(tr[12:]) != trailerMagic || e.bodyLen != size-headLen-metaLen-trailerLen {
		return nil, fmt.Errorf("%w: trailer", errCorrupt)
	}
	return e, nil
}

// copyBody copies the body of e in f to w and fails with errCorrupt if its
// checksum does not match. The checksum is known only at the end, so w is
// a buffer, a temp file or io.Discard, never a client.
func copyBody(w io.Writer, f *os.File, e *diskEntry) error {
	h := crc32.New(castagnoli)
	n, err := io.Copy(io.MultiWriter(h, w), io.NewSectionReader(f, e.bodyOff, e.bodyLen))
	if err != nil {
		return err
	}
	if n != e.bodyLen || h.Sum32() != e.bodyCRC {
		return fmt.Errorf("%w: body checksum", errCorrupt)
	}
	return nil
}

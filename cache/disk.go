package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// errChanged means an entry file was replaced between reading its meta and
// its body; the caller treats the lookup as a miss.
var errChanged = errors.New("cache: entry replaced")

// diskStore keeps entries as files dir/ab/abcd… (one per variant, named by
// its id) within a byte budget. Its index lives in memory and is rebuilt
// from the files at start; meta and bodies are read from the files.
type diskStore struct {
	dir  string
	warn func(op string, err error)

	mu  sync.Mutex
	idx *lru[*diskItem]
}

type diskItem struct {
	metaCRC  uint32 // identifies the file's version
	verified bool   // the body's checksum was checked (or written) by this process
}

// openDisk opens or creates the store in dir: leftover temp files (writes
// a crash cut short) are removed and the index is rebuilt from the entry
// files, dropping any that fail their checks.
func openDisk(dir string, budget int64, warn func(string, error)) (*diskStore, error) {
	d := &diskStore{dir: dir, warn: warn, idx: newLRU[*diskItem](budget)}
	if err := claimDir(dir); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(d.tmpDir()); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.tmpDir(), 0o700); err != nil {
		return nil, err
	}
	subs, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type found struct {
		id, key string
		size    int64
		crc     uint32
		at      time.Time
	}
	var all []found
	for _, sub := range subs {
		if !sub.IsDir() || len(sub.Name()) != 2 || !isHex(sub.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, sub.Name()))
		if err != nil {
			return nil, err
		}
		for _, fi := range files {
			id := fi.Name()
			if len(id) != 32 || !isHex(id) || id[:2] != sub.Name() {
				continue
			}
			e, size, err := d.readMeta(id)
			if err == nil && newObject(e.meta, e.bodyLen, nil).id != id {
				err = fmt.Errorf("%s: %w: holds another entry", id, errCorrupt)
			}
			if err != nil {
				warn("load", err)
				os.Remove(d.path(id))
				continue
			}
			all = append(all, found{id, e.meta.Key, size, e.metaCRC, e.meta.RespTime})
		}
	}
	// Oldest first, so the most recent end up at the front of the LRU.
	slices.SortFunc(all, func(a, b found) int { return a.at.Compare(b.at) })
	for _, f := range all {
		evicted, ok := d.idx.add(f.id, f.key, f.size, &diskItem{metaCRC: f.crc})
		if !ok {
			os.Remove(d.path(f.id))
		}
		for _, it := range evicted {
			os.Remove(d.path(it.id))
		}
	}
	return d, nil
}

// markerName marks a directory as a ferry cache. ferry deletes files it
// does not recognise as good entries in such a directory, so it only
// takes a directory that is new, empty, or marked by an earlier run: a
// disk_dir pointed at the wrong place by mistake is refused, not emptied.
const markerName = "FERRY-CACHE"

func claimDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	marked, err := claimable(dir)
	if err != nil || marked {
		return err
	}
	return os.WriteFile(filepath.Join(dir, markerName), []byte("This directory is ferry's HTTP cache (see disk_dir in its config).\n"), 0o600)
}

// claimable tells whether dir is ferry's already (marked), or may become
// so (it does not exist or is empty), or is refused; it changes nothing,
// so that Config.Validate can ask it too.
func claimable(dir string) (marked bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, markerName)); err == nil {
		return true, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(entries) > 0 {
		return false, fmt.Errorf("cache: %s is not empty and has no %s file: not a ferry cache directory, refusing to use it", dir, markerName)
	}
	return false, nil
}

func (d *diskStore) tmpDir() string { return filepath.Join(d.dir, "tmp") }

func (d *diskStore) path(id string) string { return filepath.Join(d.dir, id[:2], id) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// readMeta reads and checks the head, meta and trailer of entry id.
func (d *diskStore) readMeta(id string) (*diskEntry, int64, error) {
	f, err := os.Open(d.path(id))
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	e, err := readEntry(f)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", id, err)
	}
	return e, e.bodyOff + e.bodyLen + trailerLen, nil
}

// variants lists the ids stored under key.
func (d *diskStore) variants(key string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.idx.ids(key)
}

// load reads the meta of entry id; a corrupt entry is dropped.
func (d *diskStore) load(id string) (*object, error) {
	e, _, err := d.readMeta(id)
	if err != nil {
		if errors.Is(err, errCorrupt) {
			d.drop(id, err)
		}
		return nil, err
	}
	o := newObject(e.meta, e.bodyLen, nil)
	if o.id != id {
		err := fmt.Errorf("%s: %w: names %s", id, errCorrupt, o.id)
		d.drop(id, err)
		return nil, err
	}
	o.metaCRC = e.metaCRC
	return o, nil
}

// open returns the body of entry id, checked against its checksum before
// a byte of it is returned. The file must be one of the versions named by
// crcs (a 304 update rewrites the meta, not the body). With inMemory the
// body is read whole, for the memory store; otherwise the file is
// returned, its body checked once per process.
func (d *diskStore) open(id string, size int64, crcs []uint32, inMemory bool) ([]byte, io.ReadCloser, error) {
	f, err := os.Open(d.path(id))
	if err != nil {
		return nil, nil, err
	}
	body, rc, err := d.openFile(f, id, size, crcs, inMemory)
	if err != nil {
		f.Close()
		if errors.Is(err, errCorrupt) {
			d.drop(id, err)
		}
		return nil, nil, err
	}
	if rc == nil {
		f.Close()
	}
	return body, rc, nil
}

func (d *diskStore) openFile(f *os.File, id string, size int64, crcs []uint32, inMemory bool) ([]byte, io.ReadCloser, error) {
	e, err := readFrame(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", id, err)
	}
	if !slices.Contains(crcs, e.metaCRC) || e.bodyLen != size {
		return nil, nil, errChanged
	}
	d.mu.Lock()
	it, ok := d.idx.get(id)
	verified := ok && it.val.verified && it.val.metaCRC == e.metaCRC
	d.mu.Unlock()
	if inMemory {
		var buf bytes.Buffer
		buf.Grow(int(e.bodyLen))
		if err := copyBody(&buf, f, e); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", id, err)
		}
		d.markVerified(id, e.metaCRC)
		return buf.Bytes(), nil, nil
	}
	if !verified {
		if err := copyBody(io.Discard, f, e); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", id, err)
		}
		d.markVerified(id, e.metaCRC)
	}
	return nil, &fileBody{io.NewSectionReader(f, e.bodyOff, e.bodyLen), f}, nil
}

func (d *diskStore) markVerified(id string, crc uint32) {
	d.mu.Lock()
	if e, ok := d.idx.items[id]; ok {
		if it := e.Value.(*lruItem[*diskItem]); it.val.metaCRC == crc {
			it.val.verified = true
		}
	}
	d.mu.Unlock()
}

type fileBody struct {
	*io.SectionReader
	f *os.File
}

func (b *fileBody) Close() error { return b.f.Close() }

// slice is the n bytes of the body from off on, the same file under it.
func (b *fileBody) slice(off, n int64) *fileBody {
	_, base, _ := b.Outer()
	return &fileBody{io.NewSectionReader(b.f, base+off, n), b.f}
}

// touch marks id as just used.
func (d *diskStore) touch(id string) {
	d.mu.Lock()
	d.idx.get(id)
	d.mu.Unlock()
}

// current reports whether id is stored in the version crc names.
func (d *diskStore) current(id string, crc uint32) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.idx.items[id]
	return ok && e.Value.(*lruItem[*diskItem]).val.metaCRC == crc
}

// create starts a temp file holding m's head; the body follows at the
// returned offset. It returns the meta's checksum too.
func (d *diskStore) create(m *meta) (*os.File, int64, uint32, error) {
	head, sum, err := encodeHead(m)
	if err != nil {
		return nil, 0, 0, err
	}
	f, err := os.CreateTemp(d.tmpDir(), "fill-")
	if err != nil {
		return nil, 0, 0, err
	}
	if _, err := f.Write(head); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, 0, err
	}
	return f, int64(len(head)), sum, nil
}

// commit makes the complete temp file f the entry of o: fsync, then, if
// keep still says so, rename over any older version, then fsync the
// directory. keep runs under the store's lock so an invalidation is never
// undone by a commit that was already under way.
func (d *diskStore) commit(f *os.File, o *object, keep func() bool) error {
	err := f.Sync()
	var st os.FileInfo
	if err == nil {
		st, err = f.Stat()
	}
	if err == nil {
		err = os.MkdirAll(filepath.Dir(d.path(o.id)), 0o700)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	d.mu.Lock()
	if keep != nil && !keep() {
		d.mu.Unlock()
		os.Remove(f.Name())
		return nil
	}
	if err := os.Rename(f.Name(), d.path(o.id)); err != nil {
		d.mu.Unlock()
		os.Remove(f.Name())
		return err
	}
	evicted, ok := d.idx.add(o.id, o.Key, st.Size(), &diskItem{metaCRC: o.metaCRC, verified: true})
	if !ok {
		os.Remove(d.path(o.id))
	}
	for _, it := range evicted {
		os.Remove(d.path(it.id))
	}
	d.mu.Unlock()
	return syncDir(filepath.Dir(d.path(o.id)))
}

// rewrite stores o, a 304 update of old, by copying old's body (checked on
// the way) behind o's new meta.
func (d *diskStore) rewrite(old, o *object) error {
	src, err := os.Open(d.path(old.id))
	if err != nil {
		return err
	}
	defer src.Close()
	e, err := readEntry(src)
	if err != nil || e.metaCRC != old.metaCRC {
		return err // replaced or gone meanwhile: nothing to update
	}
	f, _, sum, err := d.create(&o.meta)
	if err != nil {
		return err
	}
	defer f.Close()
	if sum != o.metaCRC {
		os.Remove(f.Name())
		return fmt.Errorf("cache: meta of %s encodes differently", o.id)
	}
	if err := copyBody(f, src, e); err != nil {
		os.Remove(f.Name())
		if errors.Is(err, errCorrupt) {
			d.drop(old.id, err)
		}
		return err
	}
	if _, err := f.Write(encodeTrailer(e.bodyLen, e.bodyCRC)); err != nil {
		os.Remove(f.Name())
		return err
	}
	return d.commit(f, o, func() bool {
		it, ok := d.idx.items[old.id]
		return ok && it.Value.(*lruItem[*diskItem]).val.metaCRC == old.metaCRC
	})
}

// remove deletes entry id.
func (d *diskStore) remove(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.idx.remove(id)
	if err := os.Remove(d.path(id)); err == nil {
		ok = true
	}
	return ok
}

// drop deletes an entry that failed a check, so it is never served.
func (d *diskStore) drop(id string, why error) {
	d.warn("corrupt", why)
	d.remove(id)
}

// usage reports the entries held and their bytes.
func (d *diskStore) usage() (n int, bytes int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.idx.len(), d.idx.used
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

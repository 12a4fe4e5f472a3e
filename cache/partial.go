package cache

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// storePartial starts storing resp, a 206 to req (RFC 9111 §3.3), as the
// partial variant of its secondary key: one single-part range with a
// known complete length, whose body length its Content-Range states. A
// stored partial of the same representation (the same strong ETag and
// length) that overlaps or touches it is combined with it (§3.4): the
// stored bytes before and after resp's are kept around resp's, under
// resp's header merged into the stored one (§3.2). A combination that
// covers the whole representation is stored as the complete 200, and the
// partial it came from is removed once that is stored.
func (c *Cache) storePartial(req *http.Request, resp *http.Response, m meta) (*object, *fill) {
	cr, ok := parseContentRange(resp.Header["Content-Range"])
	if !ok || resp.ContentLength >= 0 && resp.ContentLength != cr.size() || multipart(resp.Header) {
		return nil, nil
	}
	o := newObject(m, cr.size(), nil)
	var head, tail []byte
	var replaces string
	if old := c.storedPartial(o); old != nil && combinable(old, o) {
		head, tail = old.body[:max(0, cr.first-old.span.first)], old.body[min(old.size, cr.last+1-old.span.first):]
		union := contentRange{first: min(cr.first, old.span.first), last: max(cr.last, old.span.last), total: cr.total}
		m.Header = mergeHeader(old.Header, m.Header)
		m.Header.Set("Content-Range", union.String())
		m.Header.Set("Content-Length", strconv.FormatInt(union.size(), 10))
		if union.size() == union.total {
			m.Status = http.StatusOK
			m.Header.Del("Content-Range")
			replaces = old.id
		}
		o = newObject(m, union.size(), nil)
	}
	if o.size > c.maxObject || o.lifetime <= 0 && !o.hasValidator() {
		return nil, nil
	}
	f := c.newFill(o, o.size)
	if f == nil {
		return nil, nil
	}
	f.write(head)
	f.tail, f.replaces = tail, replaces
	return o, f
}

// multipart reports a multipart/byteranges 206, which ferry passes on
// unstored.
func multipart(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return strings.HasPrefix(mt, "multipart/")
}

// combinable reports whether the stored partial old and the new partial o
// are ranges of one representation that can be joined (§3.4): both carry
// the same strong entity tag, the same complete length, and their ranges
// overlap or touch.
func combinable(old, o *object) bool {
	etag := o.Header.Get("ETag")
	a, b := old.span, o.span
	return strings.HasPrefix(etag, `"`) && etag == old.Header.Get("ETag") && a.total == b.total &&
		b.first <= a.last+1 && a.first <= b.last+1 && int64(len(old.body)) == old.size
}

// storedPartial returns the stored partial variant with o's id, with its
// body in memory (read from disk if need be: it is at most
// max_object_size), or nil.
func (c *Cache) storedPartial(o *object) *object {
	if c.mem != nil {
		if old := c.mem.get(o.id); old != nil {
			return old
		}
	}
	if c.disk == nil {
		return nil
	}
	old, err := c.disk.load(o.id)
	if err != nil || !old.partial {
		return nil
	}
	b, _, err := c.disk.open(old.id, old.size, []uint32{old.metaCRC}, true)
	if err != nil {
		return nil
	}
	old.body = b
	return old
}

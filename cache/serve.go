package cache

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// part is what of a stored response answers a request: all of it, one
// range of it (206), or nothing (416).
type part struct {
	status int    // of the answer
	off, n int64  // the bytes of the stored body sent
	cr     string // Content-Range of a 206 or 416; "" otherwise
}

// pick decides what of o answers req (RFC 9110 §14): a GET whose Range
// holds one satisfiable range, with any If-Range still naming o, gets
// that range; several ranges get the whole response (a server may ignore
// Range, and ferry builds no multipart/byteranges); no satisfiable range
// gets 416. A stored partial o answers only a single range it holds
// whole; ok is false otherwise. A Range of a response that is no 200 (a
// 404, a redirect) is ignored: it is evaluated "only if the result in
// absence of the Range header field would be a 200" (§14.2).
func pick(req *http.Request, o *object) (p part, ok bool) {
	whole := part{status: o.Status, n: o.size}
	if o.partial {
		whole.cr = o.span.String()
	}
	specs, _ := requestRanges(req)
	ranged := o.Status == http.StatusOK || o.partial
	if specs == nil || !ranged || !ifRange(req, o.Header, dateOf(o.Header, o.RespTime)) {
		return whole, !o.partial
	}
	if len(specs) > 1 {
		return whole, !o.partial
	}
	total := o.size
	if o.partial {
		total = o.span.total
	}
	off, n, satisfiable := specs[0].resolve(total)
	switch {
	case o.partial && (!satisfiable || off < o.span.first || off+n > o.span.first+o.size):
		return part{}, false
	case !satisfiable:
		return part{status: http.StatusRequestedRangeNotSatisfiable, cr: "bytes */" + strconv.FormatInt(total, 10)}, true
	}
	cr := contentRange{first: off, last: off + n - 1, total: total}
	if o.partial {
		off -= o.span.first
	}
	return part{status: http.StatusPartialContent, off: off, n: n, cr: cr.String()}, true
}

// requestRanges is the Range of req as ferry answers it from store: nil
// for none (or a method other than GET, for which Range means nothing,
// RFC 9110 §14.2); ok false for one it sends on to the origin unread.
func requestRanges(req *http.Request) (specs []rangeSpec, ok bool) {
	vs := req.Header.Values("Range")
	if len(vs) == 0 || req.Method != http.MethodGet {
		return nil, true
	}
	if len(vs) > 1 {
		return nil, false
	}
	return parseRange(vs[0])
}

// serve answers req from o; nil if o's body failed its check (it is then
// dropped and the caller goes to the origin), or o is a partial response
// that does not hold what req asks for. src is the object whose body file
// to read: o itself, or the one o is a 304 update of while the disk copy
// has not been rewritten yet.
func (t *Transport) serve(req *http.Request, o, src *object, status string) *http.Response {
	c := t.Cache
	if notModified(req, o) {
		return t.respondNotModified(req, o, status)
	}
	p, ok := pick(req, o)
	if !ok {
		return nil
	}
	if req.Method == http.MethodHead || p.n == 0 {
		return t.respond(req, o, p, http.NoBody, status)
	}
	if o.body != nil {
		return t.respond(req, o, p, io.NopCloser(bytes.NewReader(o.body[p.off:p.off+p.n])), status)
	}
	inMem := c.mem != nil && o.size <= c.memLimit
	crcs := []uint32{o.metaCRC, src.metaCRC}
	b, rc, err := c.disk.open(o.id, o.size, crcs, inMem)
	if err != nil {
		return nil
	}
	if inMem && !o.transient {
		cp := *o
		cp.body = b
		c.mem.put(&cp, func() bool {
			return c.disk.current(o.id, o.metaCRC) || c.disk.current(o.id, src.metaCRC)
		})
	}
	if inMem {
		rc = io.NopCloser(bytes.NewReader(b[p.off : p.off+p.n]))
	} else if p.n != o.size {
		rc = rc.(*fileBody).slice(p.off, p.n)
	}
	return t.respond(req, o, p, rc, status)
}

// respond builds the response for a stored o: the part p of it, with
// body.
func (t *Transport) respond(req *http.Request, o *object, p part, body io.ReadCloser, status string) *http.Response {
	h := o.Header.Clone()
	h.Set("Age", strconv.FormatInt(min(wholeSeconds(o.age(t.Cache.now())), maxDelta), 10))
	switch {
	case p.status == http.StatusNoContent:
		h.Del("Content-Length")
	default:
		h.Set("Content-Length", strconv.FormatInt(p.n, 10))
	}
	if p.cr != "" {
		h.Set("Content-Range", p.cr)
	}
	if p.status == http.StatusRequestedRangeNotSatisfiable {
		// The answer holds none of the representation.
		h.Del("Content-Type")
		h.Del("Content-Encoding")
	}
	h.Add("Cache-Status", t.member(status))
	t.report(req, status)
	return &http.Response{
		Status:        strconv.Itoa(p.status) + " " + http.StatusText(p.status),
		StatusCode:    p.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          body,
		ContentLength: p.n,
		Request:       req,
	}
}

// teeBody copies the origin's body into a fill as the client reads it.
type teeBody struct {
	rc   io.ReadCloser
	f    *fill
	done bool
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if n > 0 && !t.done {
		t.f.write(p[:n])
	}
	if err != nil && !t.done {
		t.done = true
		if err == io.EOF {
			t.f.finish()
		} else {
			t.f.fail(err)
		}
	}
	return n, err
}

// Close before the end is a client or proxy giving up: the store is
// abandoned, never committed half full.
func (t *teeBody) Close() error {
	if !t.done {
		t.done = true
		t.f.fail(errClosed)
	}
	return t.rc.Close()
}

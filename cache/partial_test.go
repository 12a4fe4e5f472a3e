package cache

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rangeLM = newClock().now().Add(-100 * time.Hour)

// rangeOrigin serves body with net/http's ServeContent, which answers
// Range (206, multipart for several), If-Range and If-None-Match, with
// ETag etag, Last-Modified rangeLM and Cache-Control cc.
func rangeOrigin(body, etag, cc string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Date", date(now))
		w.Header().Set("Cache-Control", cc)
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Content-Type", "text/plain")
		http.ServeContent(w, r, "", rangeLM, strings.NewReader(body))
	}
}

func rg(v string, more ...string) map[string]string {
	h := map[string]string{"Range": v}
	for i := 0; i+1 < len(more); i += 2 {
		h[more[i]] = more[i+1]
	}
	return h
}

// TestRangeFromComplete is RFC 9110 §14 answered from a stored complete
// response (RFC 9111 §3.3, §4.3.2): one range is a 206 of it, several
// the whole 200, none satisfiable a 416; If-Range decides as the origin
// would.
func TestRangeFromComplete(t *testing.T) {
	body := "01234567890"
	runCases(t, []conformanceCase{{
		name:   "ranges of a stored response",
		origin: rangeOrigin(body, `"c"`, "max-age=60"),
		steps: []step{
			{cache: "fwd=uri-miss; fwd-status=200; stored", body: body, hits: 1},
			{header: rg("bytes=0-1"), status: 206, cache: "hit; ttl=60", body: "01",
				want: map[string]string{"Content-Range": "bytes 0-1/11", "Content-Length": "2", "Etag": `"c"`, "Content-Type": "text/plain"}, hits: 1},
			{header: rg("bytes=1-"), status: 206, cache: "hit; ttl=60", body: "1234567890", want: map[string]string{"Content-Range": "bytes 1-10/11"}, hits: 1},
			{header: rg("bytes=-1"), status: 206, cache: "hit; ttl=60", body: "0", want: map[string]string{"Content-Range": "bytes 10-10/11"}, hits: 1},
			{header: rg("bytes=5-100"), status: 206, cache: "hit; ttl=60", body: "567890", want: map[string]string{"Content-Range": "bytes 5-10/11"}, hits: 1},
			{header: rg("bytes=0-1,3-4"), cache: "hit; ttl=60", body: body, want: map[string]string{"Content-Range": "", "Content-Length": "11"}, hits: 1},
			{header: rg("bytes=20-"), status: 416, cache: "hit; ttl=60", empty: true,
				want: map[string]string{"Content-Range": "bytes */11", "Content-Length": "0", "Content-Type": ""}, hits: 1},
			{header: rg("bytes=0-1", "If-Range", `"c"`), status: 206, cache: "hit; ttl=60", body: "01", hits: 1},
			{header: rg("bytes=0-1", "If-Range", `"x"`), cache: "hit; ttl=60", body: body, hits: 1},
			{header: rg("bytes=0-1", "If-Range", `W/"c"`), cache: "hit; ttl=60", body: body, hits: 1},
			{header: rg("bytes=0-1", "If-Range", date(rangeLM)), status: 206, cache: "hit; ttl=60", body: "01", hits: 1},
			{header: rg("bytes=0-1", "If-Range", date(rangeLM.Add(time.Second))), cache: "hit; ttl=60", body: body, hits: 1},
			{header: rg("bytes=0-1", "If-None-Match", `"c"`), status: 304, cache: "hit; ttl=60", empty: true, hits: 1},
			{method: "HEAD", header: rg("bytes=0-1"), cache: "hit; ttl=60", empty: true, want: map[string]string{"Content-Length": "11", "Content-Range": ""}, hits: 1},
		},
	}, {
		name:   "a stale stored response and a Range: validated, then the range",
		origin: rangeOrigin(body, `"c"`, "max-age=10"),
		steps: []step{
			{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
			{advance: 20 * time.Second, header: rg("bytes=0-1"), status: 206, cache: "fwd=stale; fwd-status=304", body: "01", hits: 2},
			{header: rg("bytes=2-3"), status: 206, cache: "hit; ttl=10", body: "23", hits: 2},
		},
	}, {
		name:   "a changed stored response and a Range with If-Range: the origin's whole new response",
		origin: changedOrigin(),
		steps: []step{
			{cache: "fwd=uri-miss; fwd-status=200; stored", body: "old-content", hits: 1},
			{advance: 20 * time.Second, header: rg("bytes=0-2", "If-Range", `"old"`), cache: "fwd=stale; fwd-status=200", body: "new-content", hits: 2},
		},
	}})
}

// changedOrigin stores "old-content" (ETag "old", max-age=10), then
// serves "new-content" (ETag "new") with ServeContent.
func changedOrigin() originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		body, etag := "new-content", `"new"`
		if n == 1 {
			body, etag = "old-content", `"old"`
		}
		rangeOrigin(body, etag, "max-age=10")(w, r, n, now)
	}
}

// TestPartialStore is RFC 9111 §3.3 and §3.4: a 206 is stored as a
// partial response that answers ranges it holds; ranges of one
// representation (one strong ETag) are combined, into the complete
// response once they cover it; a partial response never answers a
// request for the whole.
func TestPartialStore(t *testing.T) {
	body := "0123456789"
	o := rangeOrigin(body, `"p"`, "max-age=60")
	runCases(t, []conformanceCase{{
		name:   "stored, reused, combined, completed by a full response",
		origin: o,
		steps: []step{
			{header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", body: "01234", hits: 1},
			{header: rg("bytes=0-4"), status: 206, cache: "hit; ttl=60", body: "01234", want: map[string]string{"Content-Range": "bytes 0-4/10"}, hits: 1},
			{header: rg("bytes=1-3"), status: 206, cache: "hit; ttl=60", body: "123", want: map[string]string{"Content-Range": "bytes 1-3/10"}, hits: 1},
			{header: rg("bytes=3-7"), status: 206, cache: "fwd=partial; fwd-status=206; stored", body: "34567", hits: 2},
			{header: rg("bytes=0-7"), status: 206, cache: "hit; ttl=60", body: "01234567", want: map[string]string{"Content-Range": "bytes 0-7/10"}, hits: 2},
			{header: rg("bytes=-2"), status: 206, cache: "fwd=partial; fwd-status=206; stored", body: "89", hits: 3},
			{cache: "hit; ttl=60", body: body, want: map[string]string{"Content-Range": "", "Content-Length": "10"}, hits: 3},
			{header: rg("bytes=8-9"), status: 206, cache: "hit; ttl=60", body: "89", hits: 3},
		},
	}, {
		name:   "a partial response does not answer the whole",
		origin: o,
		steps: []step{
			{header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", hits: 1},
			{cache: "fwd=partial; fwd-status=200; stored", body: body, hits: 2},
			{cache: "hit; ttl=60", body: body, hits: 2},
			{header: rg("bytes=0-4"), status: 206, cache: "hit; ttl=60", body: "01234", hits: 2},
		},
	}, {
		name:   "a weak ETag: not combined, the newer range replaces",
		origin: rangeOrigin(body, `W/"w"`, "max-age=60"),
		steps: []step{
			{header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", hits: 1},
			{header: rg("bytes=5-9"), status: 206, cache: "fwd=partial; fwd-status=206; stored", hits: 2},
			{header: rg("bytes=5-9"), status: 206, cache: "hit; ttl=60", body: "56789", hits: 2},
			{header: rg("bytes=0-4"), status: 206, cache: "fwd=partial; fwd-status=206; stored", body: "01234", hits: 3},
		},
	}, {
		name:   "no ETag: not combined",
		origin: rangeOrigin(body, "", "max-age=60"),
		steps: []step{
			{header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", hits: 1},
			{header: rg("bytes=5-9"), status: 206, cache: "fwd=partial; fwd-status=206; stored", hits: 2},
			{cache: "fwd=partial; fwd-status=200; stored", body: body, hits: 3},
		},
	}, {
		name:   "If-Range another ETag: the partial response does not answer",
		origin: o,
		steps: []step{
			{header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", hits: 1},
			{header: rg("bytes=0-4", "If-Range", `"q"`), cache: "fwd=partial; fwd-status=200", body: body, hits: 2},
		},
	}, {
		name:   "only-if-cached: a held range, and one not held",
		origin: o,
		steps: []step{
			{header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", hits: 1},
			{header: rg("bytes=0-4", "Cache-Control", "only-if-cached"), status: 206, cache: "hit; ttl=60", body: "01234", hits: 1},
			{header: rg("bytes=5-9", "Cache-Control", "only-if-cached"), status: 504, cache: "detail=only-if-cached", hits: 1},
			{header: map[string]string{"Cache-Control": "only-if-cached"}, status: 504, cache: "detail=only-if-cached", hits: 1},
		},
	}, {
		name:   "a stale partial response is not used",
		origin: rangeOrigin(body, `"p"`, "max-age=10"),
		steps: []step{
			{header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", hits: 1},
			{advance: 20 * time.Second, header: rg("bytes=0-4"), status: 206, cache: "fwd=partial; fwd-status=206; stored", body: "01234", hits: 2},
			{header: rg("bytes=0-4"), status: 206, cache: "hit; ttl=10", hits: 2},
		},
	}, {
		name:   "an unsafe method invalidates the partial response too",
		origin: o,
		steps: []step{
			{header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", hits: 1},
			{method: "POST", cache: "fwd=method", hits: 2},
			{header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", hits: 3},
		},
	}, {
		name:   "several ranges: the origin's multipart answer is passed on unstored",
		origin: o,
		steps: []step{
			{header: rg("bytes=0-1,3-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206", hits: 1},
			{header: rg("bytes=0-1"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", body: "01", hits: 2},
		},
	}, {
		name:   "a 200 to a Range request is passed on unstored",
		origin: fixed(200, body, "Cache-Control", "max-age=60"),
		steps: []step{
			{header: rg("bytes=0-4"), cache: "fwd=uri-miss; fwd-status=200", body: body, hits: 1},
			{cache: "fwd=uri-miss; fwd-status=200; stored", body: body, hits: 2},
		},
	}, {
		name:   "a 206 whose length is not its Content-Range's is not stored",
		origin: rawPartial("bytes 4-9/10", "01234"),
		steps: []step{
			{header: rg("bytes=-5"), status: 206, cache: "fwd=uri-miss; fwd-status=206", body: "01234", hits: 1},
			{header: rg("bytes=-5"), status: 206, cache: "fwd=uri-miss; fwd-status=206", hits: 2},
		},
	}, {
		name:   "a 206 to a request without Range is not stored",
		origin: rawPartial("bytes 0-4/10", "01234"),
		steps: []step{
			{status: 206, cache: "fwd=uri-miss; fwd-status=206", body: "01234", hits: 1},
			{header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", hits: 2},
		},
	}})
}

// rawPartial answers every request with a 206 carrying Content-Range cr
// and body, whatever they say.
func rawPartial(cr, body string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		raw(w, "206 Partial Content", body, "Date", date(now), "Cache-Control", "max-age=60",
			"Content-Range", cr, "Content-Length", strconv.Itoa(len(body)))
	}
}

// TestPartialJoinUpdatesHeader is §3.4: joining a new 206 with a stored
// one takes the new response's fields (§3.2), and keeps the stored ones
// it leaves out.
func TestPartialJoinUpdatesHeader(t *testing.T) {
	origin := func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("X-N", strconv.Itoa(n))
		if n == 1 {
			w.Header().Set("X-First", "kept")
		}
		rangeOrigin("0123456789", `"j"`, "max-age=60")(w, r, n, now)
	}
	runCases(t, []conformanceCase{{name: "joined header", origin: origin, steps: []step{
		{header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", want: map[string]string{"X-N": "1"}, hits: 1},
		{header: rg("bytes=5-9"), status: 206, cache: "fwd=partial; fwd-status=206; stored", want: map[string]string{"X-N": "2"}, hits: 2},
		{cache: "hit; ttl=60", body: "0123456789", want: map[string]string{"X-N": "2", "X-First": "kept"}, hits: 2},
	}}})
}

// TestPartialSurvivesRestart: a stored partial response, and one joined
// into the complete response, are found again by a new process on the
// same disk store.
func TestPartialSurvivesRestart(t *testing.T) {
	cfg := Config{DiskDir: t.TempDir(), DiskBytes: 8 << 20}
	w := newWorld(t, cfg, rangeOrigin("0123456789", `"s"`, "max-age=60"))
	runSteps(t, w, []step{
		{path: "/a", header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", hits: 1},
		{path: "/b", header: rg("bytes=0-4"), status: 206, cache: "fwd=uri-miss; fwd-status=206; stored", hits: 2},
		{path: "/b", header: rg("bytes=5-9"), status: 206, cache: "fwd=partial; fwd-status=206; stored", hits: 3},
	})
	w.open(cfg)
	runSteps(t, w, []step{
		{path: "/a", header: rg("bytes=1-2"), status: 206, cache: "hit; ttl=60", body: "12", hits: 3},
		{path: "/a", cache: "fwd=partial; fwd-status=200; stored", body: "0123456789", hits: 4},
		{path: "/b", cache: "hit; ttl=60", body: "0123456789", hits: 4},
	})
	if s := w.cache.Stats(); s.DiskObjects != 2 {
		t.Errorf("%d entries on disk, want 2 (the partial ones replaced by the complete)", s.DiskObjects)
	}
}

// TestRangeAndConditionalsOnlyForSuccess is RFC 9110 §14.2 and §13.2.1
// for a stored response that is no 200: a Range is evaluated "only if the
// result in absence of the Range header field would be a 200", and
// preconditions only where it would be a 2xx. A client resuming a
// download of a URL that now answers 404 must get the 404, not its error
// page as a 206 to append to the file, nor a 416 or a 304 that keeps its
// old copy alive.
func TestRangeAndConditionalsOnlyForSuccess(t *testing.T) {
	page := "no-such-file"
	lm := date(rangeLM)
	var cases []conformanceCase
	for _, status := range []int{http.StatusNotFound, http.StatusMovedPermanently, http.StatusGone, http.StatusInternalServerError} {
		cases = append(cases, conformanceCase{
			name:   strconv.Itoa(status),
			origin: fixed(status, page, "Cache-Control", "max-age=60", "ETag", `"e"`, "Last-Modified", lm, "Location", "/elsewhere"),
			steps: []step{
				{status: status, cache: "fwd=uri-miss; fwd-status=" + strconv.Itoa(status) + "; stored", body: page, hits: 1},
				{header: rg("bytes=3-"), status: status, cache: "hit; ttl=60", body: page, want: map[string]string{"Content-Range": ""}, hits: 1},
				{header: rg("bytes=100-"), status: status, cache: "hit; ttl=60", body: page, want: map[string]string{"Content-Range": ""}, hits: 1},
				{header: map[string]string{"If-None-Match": `"e"`}, status: status, cache: "hit; ttl=60", body: page, hits: 1},
				{header: map[string]string{"If-Modified-Since": lm}, status: status, cache: "hit; ttl=60", body: page, hits: 1},
			},
		})
	}
	// A 2xx other than 200 takes preconditions, not ranges.
	cases = append(cases, conformanceCase{
		name:   "203",
		origin: fixed(http.StatusNonAuthoritativeInfo, page, "Cache-Control", "max-age=60", "ETag", `"e"`),
		steps: []step{
			{status: 203, cache: "fwd=uri-miss; fwd-status=203; stored", hits: 1},
			{header: rg("bytes=3-"), status: 203, cache: "hit; ttl=60", body: page, hits: 1},
			{header: map[string]string{"If-None-Match": `"e"`}, status: 304, cache: "hit; ttl=60", empty: true, hits: 1},
		},
	})
	runCases(t, cases)
}

package cache

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// headOrigin stores, for a GET, "body" with ETag "h1", max-age=10 and
// Template-A: 1; it answers a HEAD with status and the given fields
// (Date the clock's), and any later GET with ETag "h2" and "body-2".
func headOrigin(status int, fields ...string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		h := w.Header()
		h.Set("Date", date(now))
		if r.Method == http.MethodHead {
			for i := 0; i+1 < len(fields); i += 2 {
				h.Add(fields[i], fields[i+1])
			}
			w.WriteHeader(status)
			return
		}
		h.Set("Cache-Control", "max-age=10")
		h.Set("Template-A", "1")
		if n > 1 {
			h.Set("ETag", `"h2"`)
			fmt.Fprint(w, "body-2")
			return
		}
		h.Set("ETag", `"h1"`)
		fmt.Fprint(w, "body")
	}
}

// TestHeadConformance is §4.3.5: a 200 to a HEAD the cache forwards
// freshens the stored GET when their validators and length agree, and
// makes it unusable when they do not; HEAD is answered from a stored GET.
func TestHeadConformance(t *testing.T) {
	stored := step{cache: "fwd=uri-miss; fwd-status=200; stored", body: "body", hits: 1}
	runCases(t, []conformanceCase{
		{
			name:   "same ETag and length: fields and freshness updated",
			origin: headOrigin(200, "ETag", `"h1"`, "Content-Length", "4", "Cache-Control", "max-age=100", "Template-A", "2"),
			steps: []step{
				stored,
				{advance: 20 * time.Second, method: "HEAD", cache: "fwd=stale; fwd-status=200", empty: true,
					want: map[string]string{"Template-A": "2", "Content-Length": "4", "Age": "0"}, hits: 2},
				{advance: 50 * time.Second, cache: "hit; ttl=50", body: "body", want: map[string]string{"Template-A": "2"}, hits: 2},
				{method: "HEAD", cache: "hit; ttl=50", empty: true, want: map[string]string{"Template-A": "2"}, hits: 2},
			},
		},
		{
			name:   "stored fields the HEAD answer leaves out are kept",
			origin: headOrigin(200, "ETag", `"h1"`, "Cache-Control", "max-age=100"),
			steps: []step{
				stored,
				{advance: 20 * time.Second, method: "HEAD", cache: "fwd=stale; fwd-status=200", empty: true,
					want: map[string]string{"Template-A": "1", "Cache-Control": "max-age=100"}, hits: 2},
				{cache: "hit; ttl=100", body: "body", want: map[string]string{"Template-A": "1"}, hits: 2},
			},
		},
		{
			name:   "another ETag: the stored GET is not used again",
			origin: headOrigin(200, "ETag", `"h2"`, "Cache-Control", "max-age=100"),
			steps: []step{
				stored,
				{advance: 20 * time.Second, method: "HEAD", cache: "fwd=stale; fwd-status=200", empty: true,
					want: map[string]string{"ETag": `"h2"`, "Template-A": ""}, hits: 2},
				{cache: "fwd=uri-miss; fwd-status=200; stored", body: "body-2", hits: 3},
			},
		},
		{
			name:   "another Content-Length: the stored GET is not used again",
			origin: headOrigin(200, "ETag", `"h1"`, "Content-Length", "9", "Cache-Control", "max-age=100"),
			steps: []step{
				stored,
				{advance: 20 * time.Second, method: "HEAD", cache: "fwd=stale; fwd-status=200", empty: true, hits: 2},
				{cache: "fwd=uri-miss; fwd-status=200; stored", body: "body-2", hits: 3},
			},
		},
		{
			name:   "another Last-Modified: the stored GET is not used again",
			origin: headOrigin(200, "Last-Modified", date(newClock().now()), "Cache-Control", "max-age=100"),
			steps: []step{
				stored,
				{advance: 20 * time.Second, method: "HEAD", cache: "fwd=stale; fwd-status=200", empty: true, hits: 2},
				{cache: "fwd=uri-miss; fwd-status=200; stored", body: "body-2", hits: 3},
			},
		},
		{
			name:   "a HEAD's cookie reaches its client only, and private removes the entry",
			origin: headOrigin(200, "ETag", `"h1"`, "Cache-Control", "private, max-age=100", "Set-Cookie", "sid=1"),
			steps: []step{
				stored,
				{advance: 20 * time.Second, method: "HEAD", cache: "fwd=stale; fwd-status=200", empty: true,
					want: map[string]string{"Set-Cookie": "sid=1", "Cache-Control": "private, max-age=100"}, hits: 2},
				{cache: "fwd=uri-miss; fwd-status=200; stored", body: "body-2", want: map[string]string{"Set-Cookie": ""}, hits: 3},
			},
		},
		{
			name:   "a HEAD's cookie never enters the entry",
			origin: headOrigin(200, "ETag", `"h1"`, "Cache-Control", "max-age=100", "Set-Cookie", "sid=1"),
			steps: []step{
				stored,
				{advance: 20 * time.Second, method: "HEAD", cache: "fwd=stale; fwd-status=200", empty: true,
					want: map[string]string{"Set-Cookie": "sid=1"}, hits: 2},
				{cache: "hit; ttl=100", body: "body", want: map[string]string{"Set-Cookie": ""}, hits: 2},
			},
		},
		{
			name:   "a 410 to a HEAD updates nothing",
			origin: headOrigin(410, "Cache-Control", "max-age=100"),
			steps: []step{
				stored,
				{advance: 20 * time.Second, method: "HEAD", status: 410, cache: "fwd=stale; fwd-status=410", empty: true, hits: 2},
				{cache: "fwd=stale; fwd-status=200; stored", body: "body", hits: 3},
			},
		},
		{
			name:   "a fresh GET answers a HEAD; request no-cache sends it on",
			origin: headOrigin(200, "ETag", `"h1"`, "Cache-Control", "max-age=100"),
			steps: []step{
				stored,
				{method: "HEAD", cache: "hit; ttl=10", empty: true, want: map[string]string{"Content-Length": "4", "Template-A": "1"}, hits: 1},
				{method: "HEAD", header: map[string]string{"Cache-Control": "no-cache"}, cache: "fwd=request; fwd-status=200", empty: true, hits: 2},
				{cache: "hit; ttl=100", body: "body", hits: 2},
			},
		},
	})
}

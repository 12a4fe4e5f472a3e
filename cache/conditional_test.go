package cache

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestConditionalsOnHit is §4.3.2: a cache answers If-None-Match and
// If-Modified-Since from a stored response, but not for a URI it holds
// nothing for; after a revalidation answered 304, a client whose own tags
// did not match gets the stored response, 200. (If-Match and
// If-Unmodified-Since: TestOriginPreconditions.)
func TestConditionalsOnHit(t *testing.T) {
	runCases(t, []conformanceCase{{
		name:   "conditionals",
		origin: validating("max-age=10", "max-age=10"),
		steps: []step{
			{header: map[string]string{"If-None-Match": `"v1"`}, status: 304, cache: "fwd=uri-miss; fwd-status=304", hits: 1},
			{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 2},
			{header: map[string]string{"If-None-Match": `"v1"`}, status: 304, cache: "hit; ttl=10", empty: true, hits: 2},
			{header: map[string]string{"If-Modified-Since": date(newClock().now())}, status: 304, cache: "hit; ttl=10", empty: true, hits: 2},
			{advance: 20 * time.Second, header: map[string]string{"If-None-Match": `"other"`}, cache: "fwd=stale; fwd-status=304", body: "body-v1", hits: 3},
		},
	}})
}

// TestDirectivesPassThrough is §5.2: a proxy passes cache directives on
// in both directions, whether it acts on them or not.
func TestDirectivesPassThrough(t *testing.T) {
	origin := func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Date", date(now))
		w.Header().Set("X-Request-CC", fmt.Sprint(r.Header["Cache-Control"]))
		w.Header().Set("Cache-Control", "max-age=60, x-ext=\"a, b\", community=\"UCI\"")
		fmt.Fprint(w, "d")
	}
	runCases(t, []conformanceCase{{name: "directives", origin: origin, steps: []step{
		{header: map[string]string{"Cache-Control": "max-age=0, x-req-ext=1"}, cache: "fwd=uri-miss; fwd-status=200; stored",
			want: map[string]string{"X-Request-CC": "[max-age=0, x-req-ext=1]", "Cache-Control": "max-age=60, x-ext=\"a, b\", community=\"UCI\""}, hits: 1},
		{header: map[string]string{"Cache-Control": "no-cache, x-req-ext=2"}, cache: "fwd=request; fwd-status=200; stored",
			want: map[string]string{"X-Request-CC": "[no-cache, x-req-ext=2]"}, hits: 2},
	}}})
}

// preconditioned is an origin that judges preconditions as RFC 9110
// §13.2.2 orders them: If-Match, else If-Unmodified-Since (412, which
// says max-age=60 to tempt a cache), then If-None-Match (304). Its
// representation is "v1", modified an hour before the clock's start.
func preconditioned(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
	lm := newClock().now().Add(-time.Hour)
	h := w.Header()
	h.Set("Date", date(now))
	ius, iusErr := http.ParseTime(r.Header.Get("If-Unmodified-Since"))
	if im := r.Header.Get("If-Match"); im != "" && im != `"v1"` && im != "*" ||
		r.Header.Get("If-Match") == "" && iusErr == nil && lm.After(ius) {
		h.Set("Cache-Control", "max-age=60")
		w.WriteHeader(http.StatusPreconditionFailed)
		fmt.Fprint(w, "precondition failed")
		return
	}
	h.Set("ETag", `"v1"`)
	h.Set("Last-Modified", date(lm))
	h.Set("Cache-Control", "max-age=10")
	if r.Header.Get("If-None-Match") == `"v1"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	fmt.Fprint(w, "body-v1")
}

// TestOriginPreconditions: If-Match and If-Unmodified-Since are the
// origin's to judge (§4.3.2). A request with either is not answered from
// store alone, fresh or stale: the revalidation carries them beside the
// cache's own If-None-Match, so the client gets the origin's 412 where
// they fail (RFC 9110 §13.2.2), and the stored response after a 304
// where they hold. A 412 is never stored, nor removes the stored
// response.
func TestOriginPreconditions(t *testing.T) {
	before := date(newClock().now().Add(-2 * time.Hour))
	after := date(newClock().now())
	runCases(t, []conformanceCase{{
		name:   "preconditions",
		origin: preconditioned,
		steps: []step{
			{cache: "fwd=uri-miss; fwd-status=200; stored", body: "body-v1", hits: 1},
			// Fresh.
			{header: map[string]string{"If-Match": `"v0"`}, status: 412, cache: "fwd=request; fwd-status=412", hits: 2},
			{header: map[string]string{"If-Unmodified-Since": before}, status: 412, cache: "fwd=request; fwd-status=412", hits: 3},
			{cache: "hit; ttl=10", body: "body-v1", hits: 3},
			{header: map[string]string{"If-Match": `"v1"`}, cache: "fwd=request; fwd-status=304", body: "body-v1", hits: 4},
			{header: map[string]string{"If-Unmodified-Since": after}, cache: "fwd=request; fwd-status=304", body: "body-v1", hits: 5},
			// Stale.
			{advance: 20 * time.Second, header: map[string]string{"If-Match": `"v0"`}, status: 412, cache: "fwd=stale; fwd-status=412", hits: 6},
			{header: map[string]string{"If-Match": `"v1"`}, cache: "fwd=stale; fwd-status=304", body: "body-v1", hits: 7},
			{cache: "hit; ttl=10", body: "body-v1", hits: 7},
		},
	}, {
		name:   "a miss with a failing precondition stores nothing",
		origin: preconditioned,
		steps: []step{
			{header: map[string]string{"If-Match": `"v0"`}, status: 412, cache: "fwd=uri-miss; fwd-status=412", hits: 1},
			{cache: "fwd=uri-miss; fwd-status=200; stored", body: "body-v1", hits: 2},
		},
	}})
}

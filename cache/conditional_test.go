package cache

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestConditionalsOnHit is §4.3.2: a cache answers If-None-Match and
// If-Modified-Since from a stored response, but never evaluates the
// conditionals meant for the origin (If-Match, If-Unmodified-Since), nor
// any for a URI it holds nothing for; after a revalidation answered 304,
// a client whose own tags did not match gets the stored response, 200.
func TestConditionalsOnHit(t *testing.T) {
	runCases(t, []conformanceCase{{
		name:   "conditionals",
		origin: validating("max-age=10", "max-age=10"),
		steps: []step{
			{header: map[string]string{"If-None-Match": `"v1"`}, status: 304, cache: "fwd=uri-miss; fwd-status=304", hits: 1},
			{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 2},
			{header: map[string]string{"If-Match": `"nope"`}, cache: "hit; ttl=10", body: "body-v1", hits: 2},
			{header: map[string]string{"If-Unmodified-Since": date(newClock().now().Add(-time.Hour))}, cache: "hit; ttl=10", body: "body-v1", hits: 2},
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

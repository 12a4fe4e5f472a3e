package cache

import (
	"strconv"
	"testing"
	"time"
)

// TestHeuristicConformance is RFC 9111 §4.2.2: without explicit
// freshness, a response with a heuristically cacheable status (RFC 9110
// §15.1) or marked public is fresh for 10% of the time since its
// Last-Modified (at most heuristicCap); any explicit expiration, even an
// invalid one, rules the heuristic out; other statuses get none.
func TestHeuristicConformance(t *testing.T) {
	now := newClock().now()
	lm := date(now.Add(-10 * time.Hour)) // 10% is one hour
	heuristic := func(status int) []step {
		return []step{
			{status: status, cache: "fwd=uri-miss; fwd-status=" + strconv.Itoa(status) + "; stored", hits: 1},
			{advance: 59 * time.Minute, status: status, cache: "hit; ttl=60", hits: 1},
			{advance: time.Minute, status: status, cache: "fwd=stale; fwd-status=" + strconv.Itoa(status) + "; stored", hits: 2},
		}
	}
	none := func(status int) []step {
		return []step{
			{status: status, cache: "fwd=uri-miss; fwd-status=" + strconv.Itoa(status), hits: 1},
			{status: status, cache: "fwd=uri-miss; fwd-status=" + strconv.Itoa(status), hits: 2},
		}
	}
	var cases []conformanceCase
	for _, code := range []int{200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501} {
		cases = append(cases, conformanceCase{name: "heuristic " + strconv.Itoa(code), origin: fixed(code, "", "Last-Modified", lm), steps: heuristic(code)})
	}
	for _, code := range []int{201, 202, 302, 303, 307, 400, 403, 500, 502, 503, 599} {
		cases = append(cases, conformanceCase{name: "no heuristic " + strconv.Itoa(code), origin: fixed(code, "", "Last-Modified", lm), steps: none(code)})
	}
	cases = append(cases,
		conformanceCase{name: "public makes an unknown status heuristically fresh",
			origin: fixed(299, "", "Last-Modified", lm, "Cache-Control", "public"), steps: heuristic(299)},
		conformanceCase{name: "an invalid Expires is explicit: stale, no heuristic",
			origin: fixed(200, "x", "Last-Modified", lm, "Expires", "soon"), steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{cache: "fwd=stale; fwd-status=200; stored", hits: 2},
			}},
		conformanceCase{name: "max-age=0 is explicit: stale, no heuristic",
			origin: fixed(200, "x", "Last-Modified", lm, "Cache-Control", "max-age=0"), steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{cache: "fwd=stale; fwd-status=200; stored", hits: 2},
			}},
		conformanceCase{name: "a Last-Modified after Date gives nothing",
			origin: fixed(200, "x", "Last-Modified", date(now.Add(time.Hour))), steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{cache: "fwd=stale; fwd-status=200; stored", hits: 2},
			}},
		conformanceCase{name: "an old Last-Modified: at most heuristicCap",
			origin: fixed(200, "x", "Last-Modified", date(now.Add(-10*365*24*time.Hour))), steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
				{cache: "hit; ttl=86400", hits: 1},
			}},
	)
	runCases(t, cases)
}

// TestPragmaConformance is §5.4: a request's Pragma: no-cache asks for
// validation only without a Cache-Control; other pragmas mean nothing.
func TestPragmaConformance(t *testing.T) {
	origin := validating("max-age=60", "max-age=60")
	runCases(t, []conformanceCase{{name: "Pragma", origin: origin, steps: []step{
		{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
		{header: map[string]string{"Pragma": "no-cache"}, cache: "fwd=request; fwd-status=304", hits: 2},
		{header: map[string]string{"Pragma": "x-foo, No-Cache"}, cache: "fwd=request; fwd-status=304", hits: 3},
		{header: map[string]string{"Pragma": "no-cache", "Cache-Control": "max-stale=5"}, cache: "hit; ttl=60", hits: 3},
		{header: map[string]string{"Pragma": "x-foo"}, cache: "hit; ttl=60", hits: 3},
	}}})
}

package cache

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// joins reports every join of a flight to the test: true for a follower,
// false for a leader or a request turned away by the waiter bound.
func joins(w *world) <-chan bool {
	ch := make(chan bool, 64)
	w.cache.joinHook = func(following bool) { ch <- following }
	return ch
}

type outcome struct {
	status string
	body   string
	err    error
}

// fetchAsync sends n GETs for path at once; each reads firstPart bytes,
// reports on first, then reads the rest and reports on done.
func fetchAsync(t *testing.T, w *world, path string, n int) (first <-chan struct{}, done <-chan outcome) {
	firstCh, doneCh := make(chan struct{}, n), make(chan outcome, n)
	for range n {
		go func() {
			req, _ := http.NewRequest("GET", w.origin.URL+path, nil)
			resp, err := w.tr.RoundTrip(req)
			if err != nil {
				firstCh <- struct{}{}
				doneCh <- outcome{err: err}
				return
			}
			defer resp.Body.Close()
			b := make([]byte, firstPart)
			k, err := io.ReadFull(resp.Body, b)
			firstCh <- struct{}{}
			if err != nil {
				doneCh <- outcome{status: cacheStatus(resp.Header), body: string(b[:k]), err: err}
				return
			}
			rest, err := io.ReadAll(resp.Body)
			doneCh <- outcome{status: cacheStatus(resp.Header), body: string(b) + string(rest), err: err}
		}()
	}
	return firstCh, doneCh
}

// TestCollapse: N concurrent misses of one URI make one origin request;
// the followers stream the body from the leader's fetch as it arrives.
func TestCollapse(t *testing.T) {
	const n = 8
	for _, store := range []string{"memory", "disk", "both"} {
		t.Run(store, func(t *testing.T) {
			w, g := held(t, storeConfig(t, store), "Cache-Control", "max-age=60")
			joined := joins(w)
			first, done := fetchAsync(t, w, "/big", n)
			followers := 0
			for range n {
				if within(t, joined, "a join") {
					followers++
				}
			}
			if followers != n-1 {
				t.Fatalf("%d followers, want %d", followers, n-1)
			}
			// Everyone has the first part while the origin still holds
			// the rest: the followers read the leader's fetch as it grows.
			for range n {
				within(t, first, "first part")
			}
			g.open()
			statuses := map[string]int{}
			for range n {
				o := within(t, done, "a response")
				if o.err != nil || o.body != strings.Repeat("1", bigSize) {
					t.Fatalf("response %q: %d bytes, %v", o.status, len(o.body), o.err)
				}
				statuses[o.status]++
			}
			want := map[string]int{
				"fwd=uri-miss; fwd-status=200; stored":    1,
				"fwd=uri-miss; fwd-status=200; collapsed": n - 1,
			}
			if !equalCounts(statuses, want) {
				t.Errorf("Cache-Status %v, want %v", statuses, want)
			}
			if got := w.originHits(); got != 1 {
				t.Errorf("origin saw %d requests, want 1", got)
			}
			w.settle()
			if r := w.do("GET", "/big", nil); cacheStatus(r.header) != "hit; ttl=60" {
				t.Errorf("afterwards: %q", cacheStatus(r.header))
			}
		})
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCollapseFallbacks: followers fetch for themselves when the response
// cannot be shared, past the waiter bound, after the wait limit, and they
// see an error, never a short body passed off as whole, when the leader's
// fetch breaks off.
func TestCollapseFallbacks(t *testing.T) {
	t.Run("uncacheable response", func(t *testing.T) {
		w, g := held(t, Config{}, "Cache-Control", "no-store")
		joined := joins(w)
		_, done := fetchAsync(t, w, "/big", 4)
		for range 4 {
			within(t, joined, "a join")
		}
		g.open()
		for range 4 {
			if o := within(t, done, "a response"); o.err != nil || len(o.body) != bigSize {
				t.Fatalf("%q: %d bytes, %v", o.status, len(o.body), o.err)
			}
		}
		if got := w.originHits(); got != 4 {
			t.Errorf("origin saw %d requests, want 4 (each fetches its own)", got)
		}
	})
	t.Run("waiter bound", func(t *testing.T) {
		// The leader's head is held back, so the followers keep waiting.
		w := newWorld(t, Config{MemoryBytes: 8 << 20, CollapseWaiters: 2}, nil)
		w.handler = headHeldOrigin(w.gate())
		g := w.gates[0]
		joined := joins(w)
		_, leader := fetchAsync(t, w, "/big", 1)
		within(t, g.arrived, "the leader at the origin")
		_, done := fetchAsync(t, w, "/big", 4)
		var followers, others int
		for range 5 {
			if within(t, joined, "a join") {
				followers++
			} else {
				others++
			}
		}
		if followers != 2 || others != 3 {
			t.Fatalf("%d followers and %d others, want 2 and 3 (leader + 2 turned away)", followers, others)
		}
		// The two turned away fetch on their own while the leader is held.
		for range 2 {
			if o := within(t, done, "an uncollapsed response"); o.err != nil || strings.HasSuffix(o.status, "collapsed") {
				t.Fatalf("%q, %v", o.status, o.err)
			}
		}
		g.open()
		for range 2 {
			if o := within(t, done, "a follower"); o.err != nil || len(o.body) != bigSize || !strings.HasSuffix(o.status, "collapsed") {
				t.Fatalf("%q: %d bytes, %v", o.status, len(o.body), o.err)
			}
		}
		if o := within(t, leader, "the leader"); o.err != nil || len(o.body) != bigSize {
			t.Fatalf("leader %q: %d bytes, %v", o.status, len(o.body), o.err)
		}
		if got := w.originHits(); got != 3 {
			t.Errorf("origin saw %d requests, want 3", got)
		}
	})
	t.Run("wait limit", func(t *testing.T) {
		// The leader's head is held back, so the follower's wait runs out.
		w := newWorld(t, Config{MemoryBytes: 8 << 20, CollapseWait: 20 * time.Millisecond}, nil)
		w.handler = headHeldOrigin(w.gate())
		g := w.gates[0]
		joined := joins(w)
		_, leader := fetchAsync(t, w, "/slow", 1)
		within(t, joined, "the leader")
		within(t, g.arrived, "the leader at the origin")
		_, follower := fetchAsync(t, w, "/slow", 1)
		if !within(t, joined, "the follower") {
			t.Fatal("the second request did not follow")
		}
		o := within(t, follower, "the follower, on its own")
		if o.err != nil || o.status != "fwd=uri-miss; fwd-status=200; stored" {
			t.Fatalf("follower: %q, %v", o.status, o.err)
		}
		g.open()
		within(t, leader, "the leader")
		if got := w.originHits(); got != 2 {
			t.Errorf("origin saw %d requests, want 2", got)
		}
	})
	t.Run("leader's client leaves midway", func(t *testing.T) {
		w, g := held(t, Config{MemoryBytes: 8 << 20}, "Cache-Control", "max-age=60")
		joined := joins(w)
		leader := get(t, w, "/big")
		within(t, joined, "the leader")
		_, done := fetchAsync(t, w, "/big", 1)
		if !within(t, joined, "the follower") {
			t.Fatal("the second request did not follow")
		}
		readFirst(t, leader.Body, firstPart)
		leader.Body.Close()
		// A follower already reading the shared body sees it cut; one
		// that had not started reading when the fill was abandoned
		// fetches on its own, whole.
		o := within(t, done, "the follower")
		if o.err == nil && (len(o.body) != bigSize || strings.HasSuffix(o.status, "collapsed")) {
			t.Fatalf("follower %q: %d bytes and no error", o.status, len(o.body))
		}
		g.open()
		stored := 0 // the abandoned fill is not stored; a follower's own fetch is
		if o.err == nil {
			stored = 1
		}
		if s := w.cache.Stats(); s.MemoryObjects != stored {
			t.Errorf("stored after the abort: %+v, want %d objects", s, stored)
		}
	})
}

// headHeldOrigin holds its first request before the response head until g
// opens; all answer bigSize bytes with max-age=60.
func headHeldOrigin(g *gate) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		if n == 1 && !g.wait() {
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", fmt.Sprint(bigSize))
		io.WriteString(w, strings.Repeat("w", bigSize))
	}
}

// TestCollapsedFollowerGetsNoCookie: a follower of a collapsed fetch is
// answered from the stored response, so it never gets the cookie the
// origin gave the leader's client (public lets such a response be
// stored; the cookie stays the leader's).
func TestCollapsedFollowerGetsNoCookie(t *testing.T) {
	w, g := held(t, Config{MemoryBytes: 8 << 20}, "Cache-Control", "public, max-age=60", "Set-Cookie", "sid=leader")
	joined := joins(w)
	leader := get(t, w, "/big")
	defer leader.Body.Close()
	within(t, joined, "the leader")
	follower := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("GET", w.origin.URL+"/big", nil)
		resp, err := w.tr.RoundTrip(req)
		if err != nil {
			close(follower)
			return
		}
		follower <- resp
	}()
	if !within(t, joined, "the follower") {
		t.Fatal("the second request did not follow")
	}
	g.open()
	resp := within(t, follower, "the follower's response")
	if resp == nil {
		t.Fatal("the follower got an error")
	}
	defer resp.Body.Close()
	if !strings.HasSuffix(cacheStatus(resp.Header), "collapsed") {
		t.Fatalf("follower: Cache-Status %q, want a collapsed fetch", cacheStatus(resp.Header))
	}
	if c := resp.Header.Values("Set-Cookie"); len(c) != 0 {
		t.Errorf("the follower got the leader's Set-Cookie %q", c)
	}
	if c := leader.Header.Get("Set-Cookie"); c != "sid=leader" {
		t.Errorf("the leader's Set-Cookie %q, want sid=leader", c)
	}
}

package test

// The cache keeps per-user routing: a stored response answers only
// requests that would have been fetched the same way (direct, or through
// the same upstream or group).

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeParent is an HTTP proxy that answers every absolute-form request
// itself with its own body (as a filtering parent's block page, or one
// that logs in with credentials of its own and sees another page), and
// counts the requests.
func fakeParent(t *testing.T, name string) (addr string, asked *atomic.Int32) {
	asked = new(atomic.Int32)
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, "from parent "+name)
	}))
	t.Cleanup(p.Close)
	return p.Listener.Addr().String(), asked
}

// TestCacheKeepsRoutes: alice is routed direct, kid through the filtering
// parent "filter", bob through the parent "corp". Each gets the response
// of its own route, fetched once and then a hit, never another route's.
func TestCacheKeepsRoutes(t *testing.T) {
	var originAsked atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		originAsked.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, "from origin")
	}))
	t.Cleanup(origin.Close)
	filter, filterAsked := fakeParent(t, "filter")
	corp, corpAsked := fakeParent(t, "corp")
	pw := bcryptOf(t, "pw")
	f := startFerry(t, fmt.Sprintf(`
[[listener]]
address = "127.0.0.1:0"
auth = true

[[auth.user]]
name = "alice"
bcrypt = %[1]q
[[auth.user]]
name = "kid"
bcrypt = %[1]q
[[auth.user]]
name = "bob"
bcrypt = %[1]q

[acl]
default = "allow"

[cache]
enabled = true

[[upstream]]
name = "filter"
url = "http://%[2]s"

[[upstream]]
name = "corp"
url = "http://%[3]s"

[[route]]
name = "kids"
upstream = "filter"
user = ["kid"]

[[route]]
name = "staff"
upstream = "corp"
user = ["bob"]
`, pw, filter, corp))
	url := origin.URL + "/page"
	n := 0
	get := func(user, want, wantUpstream, status string) {
		t.Helper()
		h, code, body := cacheCurl(t, f.Addr, "--proxy-user", user+":pw", url)
		n++
		ev := f.WaitEvents("access", nil, n)[n-1]
		if code != 200 || body != want || !strings.HasPrefix(h.Get("Cache-Status"), "ferry; "+status) {
			t.Errorf("%s: %d %q, Cache-Status %q; want %q, %s", user, code, body, h.Get("Cache-Status"), want, status)
		}
		if ev.Str("upstream") != wantUpstream || !strings.HasPrefix(ev.Str("cache"), status) {
			t.Errorf("%s: logged upstream %q cache %q; want %q, %s", user, ev.Str("upstream"), ev.Str("cache"), wantUpstream, status)
		}
	}
	get("alice", "from origin", "", "fwd=uri-miss")
	get("kid", "from parent filter", "filter", "fwd=vary-miss")
	get("bob", "from parent corp", "corp", "fwd=vary-miss")
	get("alice", "from origin", "", "hit")
	get("kid", "from parent filter", "filter", "hit")
	get("bob", "from parent corp", "corp", "hit")
	if o, fl, c := originAsked.Load(), filterAsked.Load(), corpAsked.Load(); o != 1 || fl != 1 || c != 1 {
		t.Errorf("origin asked %d times, filter %d, corp %d; want 1 each", o, fl, c)
	}
}

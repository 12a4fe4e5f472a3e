package test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// fleetCacheConfig is a member of a fleet sharing its cache: clients come
// through haproxy (PROXY v2), the members send each other requests on a
// listener of their own ("peer"), and learn of each other in redis.
const fleetCacheConfig = `
[[listener]]
name = "main"
address = "127.0.0.1:0"
proxy_protocol_from = ["127.0.0.1"]

[[listener]]
name = "peer"
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"

[acl]
default = "allow"

[cache]
enabled = true

[fleet]
redis = %q
timeout = "250ms"
name = "ferry%d"

[fleet.cache]
listener = "peer"
`

// fleetGet GETs url through proxy and returns the status, the body and
// the Cache-Status field.
func fleetGet(t *testing.T, proxy, url string) (int, string, string) {
	t.Helper()
	c := dial(t, proxy)
	defer c.Close()
	host, _, _ := strings.Cut(strings.TrimPrefix(url, "http://"), "/")
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", url, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("Cache-Status")
}

// The fleet's shared cache (issue 18 item 5): a URL fetched through one
// member is a hit through the others, the origin asked once, because one
// member owns it and the others ask that owner; when the owner dies its
// URLs move to the others.
func TestFleetSharedCache(t *testing.T) {
	var fetches atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "max-age=300")
		io.WriteString(w, "object "+r.URL.Path)
	}))
	t.Cleanup(origin.Close)
	fl := startFleet(t, func(i int, redis string) string { return fmt.Sprintf(fleetCacheConfig, redis, i) })
	for _, m := range fl.members {
		m.f.WaitEvent("fleet: members", func(e Event) bool { return len(e["members"].([]any)) == 3 })
	}

	url := origin.URL + "/shared"
	for i := range 6 { // twice round the three members
		code, body, status := fleetGet(t, fl.lb, url)
		if code != 200 || body != "object /shared" {
			t.Fatalf("GET %d: %d %q", i, code, body)
		}
		if i > 0 && !strings.Contains(status, "hit") {
			t.Errorf("GET %d through the fleet: Cache-Status %q, want a hit", i, status)
		}
	}
	// And for curl, a hit too.
	if head := curl(t, "-D", "-", "-o", "/dev/null", "-x", "http://"+fl.lb, url); !strings.Contains(head, "Cache-Status: ferry; hit") {
		t.Errorf("curl through the fleet: %q, want a hit", head)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("the origin was asked %d times for one URL through three members, want once", n)
	}
	// The owner served every request (its own clients' and the other
	// members'); the others sent theirs on ("route": "fleet").
	owner, forwarded := -1, 0
	for i, m := range fl.members {
		for _, e := range m.f.Events("access") {
			if e.Str("url") != url {
				continue
			}
			switch {
			case e.Str("route") == "fleet":
				forwarded++
			case strings.Contains(e.Str("cache"), "hit") || strings.Contains(e.Str("cache"), "miss"):
				if owner >= 0 && owner != i {
					t.Errorf("members %d and %d both served %s from their cache", owner, i, url)
				}
				owner = i
			}
		}
	}
	if owner < 0 || forwarded == 0 {
		t.Fatalf("owner %d, %d requests sent on to it: the cache was not shared", owner, forwarded)
	}

	// The owner dies: every request is still answered (a member whose
	// ring still names it serves from the origin), and once the members
	// drop it its URLs have one owner again.
	dead := fl.members[owner].f.WaitEvent("fleet: shared cache", nil).Str("self")
	// The member lists each survivor logs after the kill: an early list
	// of two (logged before the last member joined) may lack the dead
	// owner too, and must not be taken for the one that dropped it.
	seen := make([]int, len(fl.members))
	for i, m := range fl.members {
		m.f.WaitEvent("fleet: members", func(e Event) bool { return len(e["members"].([]any)) == 3 })
		seen[i] = len(m.f.Events("fleet: members"))
	}
	fl.members[owner].f.Kill()
	for i := range 3 {
		if code, body, _ := fleetGet(t, fl.lb, url); code != 200 || body != "object /shared" {
			t.Fatalf("GET %d after the owner died: %d %q", i, code, body)
		}
	}
	for i, m := range fl.members {
		if i == owner {
			continue
		}
		for n := seen[i] + 1; ; n++ {
			if n > seen[i]+20 {
				t.Fatalf("member %d: no list without the dead owner in 20 member lists", i)
			}
			e := m.f.WaitEvents("fleet: members", nil, n)[n-1]
			if ms := e["members"].([]any); len(ms) == 2 && ms[0] != dead && ms[1] != dead {
				break
			}
		}
	}
	before := fetches.Load()
	url2 := origin.URL + "/after"
	for i := range 4 {
		if code, _, status := fleetGet(t, fl.lb, url2); code != 200 || i > 0 && !strings.Contains(status, "hit") {
			t.Errorf("GET %d of a new URL after the owner died: %d, Cache-Status %q", i, code, status)
		}
	}
	if n := fetches.Load() - before; n != 1 {
		t.Errorf("the origin was asked %d times for a new URL through two members, want once", n)
	}
}

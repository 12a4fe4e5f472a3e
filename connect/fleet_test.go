package connect_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/limit"
	"github.com/ferry-proxy/ferry/tunnel"
)

// fakeRing is the fleet as a test sets it: owner owns every URL ("":
// this member), and member is the one address members send from.
type fakeRing struct {
	self, owner string
	member      netip.Addr
}

func (r *fakeRing) Owner(string) (string, bool) {
	if r.owner == "" {
		return r.self, true
	}
	return r.owner, false
}
func (r *fakeRing) IsMember(ip netip.Addr) bool { return ip == r.member }
func (r *fakeRing) Members() []string           { return []string{r.self, r.owner} }
func (r *fakeRing) Self() string                { return r.self }

// fleetWorld is a member with a shared cache on listener "peer", whose
// ring is ring, serving a world named listener; origin and owner (a
// stand-in for the owning member, a plain proxy) answer who they are.
type fleetWorld struct {
	*world
	origin, owner *httptest.Server
	ownerAnswer   func(w http.ResponseWriter)
}

func newFleetWorld(t *testing.T, listener string, ring *fakeRing, pol *tunnel.Policy) *fleetWorld {
	t.Helper()
	fw := &fleetWorld{}
	fw.origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from the origin")
	}))
	t.Cleanup(fw.origin.Close)
	fw.owner = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fw.ownerAnswer != nil {
			fw.ownerAnswer(w)
			return
		}
		io.WriteString(w, "from the owner")
	}))
	t.Cleanup(fw.owner.Close)
	c, err := cache.New(cache.Config{MemoryBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if ring.owner == "owner" {
		ring.owner = fw.owner.Listener.Addr().String()
	}
	fw.world = newWorld(t, options{cfg: connect.Config{Forward: forward.Config{Cache: c}}, listener: listener, policy: pol})
	fw.srv.SetFleet(ring, nil, "peer")
	return fw
}

// get sends a GET for path on the origin, with extra header lines, and
// returns the status, the body and the head.
func (fw *fleetWorld) get(t *testing.T, path, extra string) (int, string, http.Header) {
	t.Helper()
	c := fw.raw(t)
	defer c.Close()
	u := fw.origin.URL + path
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", u, strings.TrimPrefix(fw.origin.URL, "http://"), extra)
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

const hop = forward.FleetHopHeader + ": 1\r\n"

var loopback = netip.MustParseAddr("127.0.0.1")

// The hop marker is believed only on the fleet's listener from a
// member's address (issue 18 review, Medium 3): elsewhere a request
// carrying it is sent to the URL's owner like any other.
func TestFleetHopBelievedOnlyFromMembers(t *testing.T) {
	tests := []struct {
		name, listener string
		member         netip.Addr
		want           string
	}{
		{"on the fleet listener from a member", "peer", loopback, "from the origin"},
		{"on another listener", "main", loopback, "from the owner"},
		{"from an address not a member's", "peer", netip.MustParseAddr("192.0.2.1"), "from the owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := newFleetWorld(t, tt.listener, &fakeRing{self: "127.0.0.1:1", owner: "owner", member: tt.member}, nil)
			if code, body, _ := fw.get(t, "/x", hop); code != 200 || body != tt.want {
				t.Errorf("GET with the hop marker: %d %q, want %q", code, body, tt.want)
			}
			if code, body, _ := fw.get(t, "/y", ""); code != 200 || body != "from the owner" {
				t.Errorf("GET without it: %d %q, want it sent to the owner", code, body)
			}
		})
	}
}

// A request that comes back to the member that sent it on (the routes
// loop it through the members) is answered 508 with Proxy-Status, not
// sent round again.
func TestFleetLoopDetected(t *testing.T) {
	ring := &fakeRing{self: "127.0.0.1:1"}
	fw := newFleetWorld(t, "peer", ring, nil)
	ring.owner = fw.addr // the owner of every URL is this member itself, not taken for it
	code, _, h := fw.get(t, "/loop", "")
	if code != http.StatusLoopDetected || !strings.Contains(h.Get("Proxy-Status"), "error=proxy_loop_detected") {
		t.Errorf("a request looping through the member: %d, Proxy-Status %q; want 508 proxy_loop_detected", code, h.Get("Proxy-Status"))
	}
}

// A member's request the owner serves is not counted again against the
// owner's [[limit]] rules (Medium 4); other requests are.
func TestFleetMemberRequestsNotLimitedTwice(t *testing.T) {
	rc := limit.RuleConfig{}
	rc.SetDefaults()
	rc.Name, rc.Per, rc.Requests = "one-a-minute", limit.PerClient, 1
	set := limit.Compile([]limit.RuleConfig{rc}, acl.Env{}, "UTC", func(k, msg string) { t.Fatalf("%s: %s", k, msg) })
	fw := newFleetWorld(t, "peer", &fakeRing{self: "127.0.0.1:1", member: loopback}, &tunnel.Policy{Limits: set})
	for i := range 3 {
		if code, body, _ := fw.get(t, fmt.Sprintf("/m%d", i), hop); code != 200 {
			t.Fatalf("member's request %d: %d %q, want served (the member admitted it)", i, code, body)
		}
	}
	if code, _, _ := fw.get(t, "/c0", ""); code != 200 {
		t.Fatalf("a client's first request: %d", code)
	}
	if code, _, _ := fw.get(t, "/c1", ""); code != http.StatusTooManyRequests {
		t.Errorf("a client's second request in the minute: %d, want 429", code)
	}
}

// The owner's own refusal of a member's request is no answer for the
// member's client: the member serves it from the origin (Medium 4). An
// origin's 429 through the owner is passed on.
func TestFleetOwnerRefusalServedHere(t *testing.T) {
	fw := newFleetWorld(t, "main", &fakeRing{self: "127.0.0.1:1", owner: "owner"}, nil)
	fw.ownerAnswer = func(w http.ResponseWriter) {
		w.Header().Set("Proxy-Status", `ferry; error=http_request_denied; details="limit \"x\""`)
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	}
	if code, body, _ := fw.get(t, "/refused", ""); code != 200 || body != "from the origin" {
		t.Errorf("the owner refused the member: client got %d %q, want the origin's answer", code, body)
	}
	fw.ownerAnswer = func(w http.ResponseWriter) { w.WriteHeader(http.StatusTooManyRequests) }
	if code, _, _ := fw.get(t, "/busy", ""); code != http.StatusTooManyRequests {
		t.Errorf("an origin's 429 through the owner: client got %d, want it passed on", code)
	}
}

// The owner serves a member's request as the member's client's: its
// address rules (and routes) are the client's, on a hit and on a miss,
// never the member's (cache audit item 1).
func TestFleetOwnerServesAsTheClient(t *testing.T) {
	barred := netip.MustParseAddr("192.0.2.7")
	pol := &tunnel.Policy{ACL: decideFunc(func(q *acl.Query) acl.Verdict {
		if q.Client == barred && q.IP.IsLoopback() {
			return acl.Verdict{Rule: "no-loopback-for-barred"}
		}
		return acl.Verdict{Allow: true, Rule: "ok"}
	})}
	fw := newFleetWorld(t, "peer", &fakeRing{self: "127.0.0.1:1", member: loopback}, pol)
	hopFor := func(client string) string {
		return forward.FleetHopHeader + ": client=" + url.QueryEscape(client) + "&user=\r\n"
	}
	fw.origin.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		io.WriteString(w, "from the origin")
	})
	if code, body, _ := fw.get(t, "/s", hopFor("192.0.2.8:4000")); code != 200 || body != "from the origin" {
		t.Fatalf("an allowed client: %d %q", code, body)
	}
	if code, _, h := fw.get(t, "/s", hopFor("192.0.2.8:4000")); code != 200 || !strings.Contains(h.Get("Cache-Status"), "hit") {
		t.Fatalf("an allowed client again: %d, Cache-Status %q; want a hit", code, h.Get("Cache-Status"))
	}
	for _, path := range []string{"/s", "/other"} {
		if code, body, _ := fw.get(t, path, hopFor(barred.String()+":4000")); code != http.StatusForbidden {
			t.Errorf("%s for a client the ACL bars from the origin: %d %q, want 403", path, code, body)
		}
	}
	if code, _, _ := fw.get(t, "/s", hopFor("not an address")); code != http.StatusBadRequest {
		t.Errorf("a hop naming no address: %d, want 400", code)
	}
}

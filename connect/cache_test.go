package connect

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// access is what the tests read of an access record.
type access struct {
	method, url, cache, rule, decision, dialed string
	status                                     int
}

// sink hands finished access records to the test.
type sink chan access

func (s sink) Write(r *accesslog.Record) {
	s <- access{r.Method, r.URL, r.Cache, r.Rule, r.Decision, r.Dialed, r.Status}
}

func (s sink) next(t testing.TB) access {
	t.Helper()
	select {
	case a := <-s:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no access record")
		return access{}
	}
}

// cacheWorld is an origin counting its requests, and ferry's HTTP front
// end with a memory cache, all on 127.0.0.1:0.
type cacheWorld struct {
	origin *httptest.Server
	engine *tunnel.Engine
	server *Server
	proxy  string // host:port of ferry
	log    sink
	client *http.Client

	mu   sync.Mutex
	hits int
}

func newCacheWorld(t *testing.T) *cacheWorld {
	w := &cacheWorld{log: make(sink, 64)}
	w.origin = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.hits++
		n := w.hits
		w.mu.Unlock()
		rw.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprintf(rw, "origin answer %d for %s %s", n, r.Method, r.URL.Path)
	}))
	t.Cleanup(w.origin.Close)
	c, err := cache.New(cache.Config{MemoryBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	w.engine = tunnel.New(tunnel.Config{}, nil)
	w.server = New(Config{Forward: forward.Config{Cache: c}}, w.engine, w.log, zerolog.Nop())
	w.proxy = serveOn(t, w.server)
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: w.proxy})}
	t.Cleanup(tr.CloseIdleConnections)
	w.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return w
}

// serveOn serves s on 127.0.0.1:0 until the test ends and returns the
// address.
func serveOn(tb testing.TB, s *Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.ServeConn(ctx, conn, nil, func() { conn.Close() })
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		s.Shutdown(context.Background())
		cancel()
	})
	return ln.Addr().String()
}

func (w *cacheWorld) originHits() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hits
}

func (w *cacheWorld) get(t *testing.T, method, u string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestForwardCache: a miss is stored, a hit is answered without a dial,
// and the access log carries the cache status.
func TestForwardCache(t *testing.T) {
	w := newCacheWorld(t)
	u := w.origin.URL + "/page"
	resp, body := w.get(t, "GET", u)
	if cs := resp.Header.Get("Cache-Status"); cs != "ferry; fwd=uri-miss; fwd-status=200; stored" {
		t.Errorf("miss: Cache-Status %q", cs)
	}
	a := w.log.next(t)
	if a.cache != "fwd=uri-miss; fwd-status=200; stored" || a.dialed == "" || a.status != 200 {
		t.Errorf("miss logged %+v", a)
	}
	resp2, body2 := w.get(t, "GET", u)
	if cs := resp2.Header.Get("Cache-Status"); cs != "ferry; hit; ttl=300" && cs != "ferry; hit; ttl=299" {
		t.Errorf("hit: Cache-Status %q", cs)
	}
	if body2 != body || resp2.Header.Get("Via") == "" {
		t.Errorf("hit: body %q (want %q), Via %q", body2, body, resp2.Header.Get("Via"))
	}
	a = w.log.next(t)
	if !strings.HasPrefix(a.cache, "hit") || a.dialed != "" || a.status != 200 {
		t.Errorf("hit logged %+v: want a hit, nothing dialed", a)
	}
	if got := w.originHits(); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

// TestConnectNotCached: requests inside a CONNECT tunnel are relayed
// bytes; the cache never sees them.
func TestConnectNotCached(t *testing.T) {
	w := newCacheWorld(t)
	c, err := net.Dial("tcp", w.proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	origin := strings.TrimPrefix(w.origin.URL, "http://")
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", origin, origin)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	for i := 1; i <= 2; i++ {
		fmt.Fprintf(c, "GET /t HTTP/1.1\r\nHost: %s\r\n\r\n", origin)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(string(b), fmt.Sprintf("origin answer %d", i)) || resp.Header.Get("Cache-Status") != "" {
			t.Errorf("request %d in the tunnel: %q, Cache-Status %q", i, b, resp.Header.Get("Cache-Status"))
		}
	}
}

// purgeDecider allows everything; PURGE by its own rule.
type purgeDecider struct{}

func (purgeDecider) Decide(q *acl.Query) acl.Verdict {
	if q.Method == forward.MethodPurge {
		return acl.Verdict{Allow: true, Rule: "purgers"}
	}
	return acl.Verdict{Allow: true, Rule: "default"}
}

// clientsDecider allows everything by one rule that ignores the method,
// like config.toml.example's allow-local-clients.
type clientsDecider struct{}

func (clientsDecider) Decide(*acl.Query) acl.Verdict {
	return acl.Verdict{Allow: true, Rule: "allow-local-clients"}
}

// TestPurge: PURGE removes the entry, and only a rule for method PURGE
// allows it: not the default verdict, not a rule that ignores the
// method, from loopback no more than from elsewhere.
func TestPurge(t *testing.T) {
	w := newCacheWorld(t)
	u := w.origin.URL + "/p"
	w.get(t, "GET", u)
	w.log.next(t)

	purge := func() (int, http.Header, string) {
		resp, body := w.get(t, forward.MethodPurge, u)
		return resp.StatusCode, resp.Header, body
	}
	refused := []struct {
		name   string
		policy *tunnel.Policy
		rule   string
	}{
		{"default verdict, loopback client", nil, ""},
		{"a rule that ignores the method, loopback client", &tunnel.Policy{ACL: clientsDecider{}}, "allow-local-clients"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			w.engine.SetPolicy(tt.policy)
			code, h, _ := purge()
			if code != http.StatusForbidden || !strings.Contains(h.Get("Proxy-Status"), "http_request_denied") {
				t.Errorf("PURGE: %d %q, want 403 http_request_denied", code, h.Get("Proxy-Status"))
			}
			if a := w.log.next(t); a.status != 403 || a.decision != "deny" || tt.rule != "" && a.rule != tt.rule {
				t.Errorf("refused PURGE logged %+v", a)
			}
		})
	}
	w.engine.SetPolicy(nil)
	if _, body := w.get(t, "GET", u); !strings.HasPrefix(body, "origin answer 1") {
		t.Errorf("after refused PURGEs: %q, want still cached", body)
	}
	w.log.next(t)

	// A rule for method PURGE: allowed, 200 then 404, from any client.
	w.engine.SetPolicy(&tunnel.Policy{ACL: purgeDecider{}})
	if code, _, body := purge(); code != http.StatusOK {
		t.Errorf("loopback PURGE allowed by a rule: %d %s", code, body)
	}
	if a := w.log.next(t); a.cache != "purged=1" || a.status != 200 || a.rule != "purgers" || a.decision != "allow" {
		t.Errorf("PURGE logged %+v", a)
	}
	if code, _, _ := purge(); code != http.StatusNotFound {
		t.Errorf("second PURGE, allowed by a rule: %d, want 404", code)
	}
	w.log.next(t)
	if _, body := w.get(t, "GET", u); !strings.HasPrefix(body, "origin answer 2") {
		t.Errorf("after PURGE: %q, want a new origin answer", body)
	}
	w.log.next(t)
}

// ipDecider decides by name "allow, ask me with the address" and denies
// every address: a rule a hit must not get round.
type ipDecider struct{}

func (ipDecider) Decide(q *acl.Query) acl.Verdict {
	if !q.IP.IsValid() {
		return acl.Verdict{NeedIP: true}
	}
	return acl.Verdict{Allow: false, Rule: "no-loopback"}
}

// TestHitRespectsAddressRules: once the ACL denies the address a stored
// response came from, the stored copy is not served; the request meets
// the rule at the dial instead.
func TestHitRespectsAddressRules(t *testing.T) {
	w := newCacheWorld(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(w.origin.URL, "http://"))
	u := "http://localhost:" + port + "/named"
	if _, err := net.LookupHost("localhost"); err != nil {
		t.Skip("no localhost name here:", err)
	}
	if resp, _ := w.get(t, "GET", u); resp.StatusCode != 200 {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	w.log.next(t)
	w.engine.SetPolicy(&tunnel.Policy{ACL: ipDecider{}})
	resp, body := w.get(t, "GET", u)
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "origin answer") {
		t.Fatalf("after the rule: %d %q, want 403 and no stored body", resp.StatusCode, body)
	}
	if a := w.log.next(t); a.rule != "no-loopback" || a.cache != "fwd=bypass" {
		t.Errorf("logged %+v", a)
	}
}

// An origin's 304 to a request without If-None-Match or If-Modified-Since
// answers nothing the client holds: 502 http_protocol_error, cache or
// not. A client's own conditional gets it.
func TestNotModifiedUnasked(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("ETag", `"v1"`)
		rw.WriteHeader(http.StatusNotModified)
	}))
	t.Cleanup(origin.Close)
	for _, cached := range []bool{false, true} {
		var cfg Config
		if cached {
			c, err := cache.New(cache.Config{MemoryBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			cfg.Forward.Cache = c
		}
		log := make(sink, 8)
		proxy := serveOn(t, New(cfg, tunnel.New(tunnel.Config{}, nil), log, zerolog.Nop()))
		tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: proxy})}
		t.Cleanup(tr.CloseIdleConnections)
		for _, inm := range []string{"", `"v1"`} {
			req, _ := http.NewRequest("GET", origin.URL+"/nm", nil)
			if inm != "" {
				req.Header.Set("If-None-Match", inm)
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusBadGateway
			if inm != "" {
				want = http.StatusNotModified
			}
			ps := resp.Header.Get("Proxy-Status")
			if resp.StatusCode != want || (want == 502) != strings.Contains(ps, "error=http_protocol_error") {
				t.Errorf("cache %v, If-None-Match %q: %d, Proxy-Status %q; want %d", cached, inm, resp.StatusCode, ps, want)
			}
			if a := log.next(t); a.status != want {
				t.Errorf("cache %v, If-None-Match %q: logged %d", cached, inm, a.status)
			}
		}
	}
}

package test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// proxyClient is a net/http client that uses ferry as its proxy; base
// (may be nil) supplies TLS settings for https origins.
func proxyClient(t testing.TB, ferryAddr string, base *http.Transport) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	if base != nil {
		tr = base.Clone()
	}
	tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: ferryAddr})
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: ioTimeout}
}

func get(t testing.TB, c *http.Client, ctx context.Context, u string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s body: %v", u, err)
	}
	return resp, string(b)
}

// TestNetHTTP drives ferry with Go's net/http client, proxy set: a plain
// http origin (absolute-form forwarding) and an https origin (CONNECT).
func TestNetHTTP(t *testing.T) {
	f := startFerry(t, minimalConfig)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Origin-Saw-Via", r.Header.Get("Via"))
		w.Header().Set("X-Origin-Saw-XFF", r.Header.Get("X-Forwarded-For"))
		io.WriteString(w, "hello from "+r.URL.Path)
	})
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(handler)
	t.Cleanup(secure.Close)

	tests := []struct {
		name, url string
		base      *http.Transport
		proto     string // access log proto
	}{
		{"http origin", plain.URL + "/plain", nil, "http"},
		{"https origin via CONNECT", secure.URL + "/secure", secure.Client().Transport.(*http.Transport), "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := proxyClient(t, f.Addr, tt.base)
			resp, body := get(t, c, context.Background(), tt.url)
			u, _ := url.Parse(tt.url)
			if resp.StatusCode != http.StatusOK || body != "hello from "+u.Path {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			if tt.proto == "http" {
				// Via names ferry, never the client; nothing else is told.
				if v := resp.Header.Get("X-Origin-Saw-Via"); v != "1.1 ferry" {
					t.Errorf("origin saw Via %q, want %q", v, "1.1 ferry")
				}
				if v := resp.Header.Get("X-Origin-Saw-XFF"); v != "" {
					t.Errorf("origin saw X-Forwarded-For %q with forwarded = off", v)
				}
				if v := resp.Header.Get("Via"); !strings.Contains(v, "ferry") {
					t.Errorf("response Via %q does not name ferry", v)
				}
			}
			// Close the client's conns so a CONNECT tunnel ends and is logged.
			c.CloseIdleConnections()
			ev := f.WaitEvent("access", func(e Event) bool { return e.Str("target") == u.Host })
			if ev.Str("proto") != tt.proto || ev.Int("status") != 200 || ev.Str("dialed") != u.Host {
				t.Errorf("access event %v, want proto %s status 200 dialed %s", ev, tt.proto, u.Host)
			}
		})
	}
}

// TestKeepAlive checks both keep-alive sides of plain-HTTP forwarding: the
// client's conn to ferry is reused, and so is ferry's pooled conn to the
// origin.
func TestKeepAlive(t *testing.T) {
	f := startFerry(t, minimalConfig)
	var mu sync.Mutex
	var remotes []string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		remotes = append(remotes, r.RemoteAddr)
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(origin.Close)
	c := proxyClient(t, f.Addr, nil)

	const n = 3
	for i := range n {
		var reused bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		})
		resp, body := get(t, c, ctx, origin.URL+"/")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if i > 0 && !reused {
			t.Errorf("request %d: client conn to ferry not reused", i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, r := range remotes {
		if r != remotes[0] {
			t.Errorf("origin request %d came from %s, first from %s: ferry did not reuse its origin conn", i, r, remotes[0])
		}
	}
	if len(f.WaitEvents("access", func(e Event) bool { return e.Str("proto") == "http" }, n)) != n {
		t.Errorf("want %d access events", n)
	}
}

// TestStatusPage: an origin-form request is addressed to ferry itself and
// is answered there, never forwarded.
func TestStatusPage(t *testing.T) {
	f := startFerry(t, minimalConfig)
	tests := []struct {
		name, path string
		want       int
		body       string
	}{
		{"root is the status page", "/", 200, "forward proxy"},
		{"anything else is 400", "/elsewhere", 400, "this is a proxy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := (&http.Client{Timeout: ioTimeout}).Get("http://" + f.Addr + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want || !strings.Contains(string(b), tt.body) {
				t.Fatalf("GET %s: %d %q, want %d containing %q", tt.path, resp.StatusCode, b, tt.want, tt.body)
			}
			ev := f.WaitEvent("access", func(e Event) bool { return e.Str("url") == tt.path })
			if ev.Str("dialed") != "" || ev.Int("status") != int64(tt.want) {
				t.Errorf("access event %v: want nothing dialed, status %d", ev, tt.want)
			}
		})
	}
}

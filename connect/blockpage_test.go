package connect

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

func TestWantsHTML(t *testing.T) {
	tests := []struct {
		name   string
		accept []string
		want   bool
	}{
		{"browser", []string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, true},
		{"xhtml", []string{"application/xhtml+xml"}, true},
		{"curl", []string{"*/*"}, false},
		{"none", nil, false},
		{"html refused", []string{"text/html;q=0, text/plain"}, false},
		{"html q=0.000", []string{"text/html; q=0.000"}, false},
		{"html low q", []string{"text/plain, text/html;q=0.1"}, true},
		{"case", []string{"Text/HTML"}, true},
		{"second header line", []string{"text/plain", "text/html"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wantsHTML(tt.accept); got != tt.want {
				t.Fatalf("wantsHTML(%q) = %v", tt.accept, got)
			}
		})
	}
}

func TestParseBlockPage(t *testing.T) {
	if _, err := ParseBlockPage("ok", "<p>{{.Rule}} {{.Target}}</p>"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseBlockPage("syntax", "<p>{{.Rule</p>"); err == nil {
		t.Fatal("syntax error accepted")
	}
	if _, err := ParseBlockPage("field", "<p>{{.NoSuchField}}</p>"); err == nil || !strings.Contains(err.Error(), "NoSuchField") {
		t.Fatalf("unknown field: %v", err)
	}
	// Issue 20 item 10: a template of several MB is refused at load.
	if _, err := ParseBlockPage("huge", strings.Repeat("<p>x</p>", MaxBlockPageTemplate/8+1)); err == nil {
		t.Fatal("a template over MaxBlockPageTemplate accepted")
	}
}

// A page whose rendering would pass its bound falls back to the text
// answer: a small template cannot make a large answer per request.
func TestDenyPageRenderBounded(t *testing.T) {
	s := &Server{}
	page, err := ParseBlockPage("amplifier", strings.Repeat("{{.URL}}", 200))
	if err != nil {
		t.Fatal(err)
	}
	s.SetBlockPage(page)
	r := httptest.NewRequest("GET", "http://x/", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	long := "http://x/" + strings.Repeat("a", 4000)
	s.refuse(w, r, &accesslog.Record{URL: long}, &tunnel.Error{Kind: tunnel.Denied, Rule: "r", Err: errString("denied")})
	if w.Code != 403 || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" || w.Body.Len() > maxBlockPageRender {
		t.Fatalf("%d %q, %d bytes; want the text answer", w.Code, w.Header().Get("Content-Type"), w.Body.Len())
	}
}

func TestDenyPage(t *testing.T) {
	s := &Server{}
	s.SetBlockPage(nil)
	err := &tunnel.Error{Kind: tunnel.DeniedIP, Rule: "deny-internal", Err: errString("127.0.0.1:80 denied")}
	tests := []struct {
		name, accept, wantType, wantBody string
	}{
		{"html for browsers", "text/html", "text/html; charset=utf-8", "<code>deny-internal</code>"},
		{"text for curl", "*/*", "text/plain; charset=utf-8", `ferry: 403 Forbidden: localhost:80 denied by rule "deny-internal" (destination_ip_prohibited)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("CONNECT", "localhost:80", nil)
			r.Header.Set("Accept", tt.accept)
			w := httptest.NewRecorder()
			rec := &accesslog.Record{Target: "localhost:80", ID: "7"}
			s.refuse(w, r, rec, err)
			if w.Code != http.StatusForbidden || w.Header().Get("Content-Type") != tt.wantType ||
				!strings.HasPrefix(w.Header().Get("Proxy-Status"), "ferry; error=destination_ip_prohibited") ||
				!strings.Contains(w.Body.String(), tt.wantBody) {
				t.Fatalf("%d %q %q\n%s", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Proxy-Status"), w.Body)
			}
			if rec.Rule != "deny-internal" || rec.Decision != "deny" || rec.Status != 403 {
				t.Fatalf("record %+v", rec)
			}
		})
	}
	t.Run("html escapes", func(t *testing.T) {
		r := httptest.NewRequest("GET", "http://x/", nil)
		r.Header.Set("Accept", "text/html")
		w := httptest.NewRecorder()
		s.refuse(w, r, &accesslog.Record{URL: "http://x/<script>"}, err)
		if strings.Contains(w.Body.String(), "<script>") {
			t.Fatalf("unescaped: %s", w.Body)
		}
	})
	t.Run("407 challenge", func(t *testing.T) {
		w := httptest.NewRecorder()
		s.refuse(w, httptest.NewRequest("GET", "http://x/", nil), nil, tunnel.Errorf(tunnel.AuthNeeded, "proxy authentication required"))
		if w.Code != 407 || w.Header().Get("Proxy-Authenticate") != `Basic realm="ferry", charset="UTF-8"` {
			t.Fatalf("%d %q", w.Code, w.Header().Get("Proxy-Authenticate"))
		}
	})
}

type errString string

func (e errString) Error() string { return string(e) }

func TestProxyCredentials(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, header string
		want         tunnel.Credentials
	}{
		{"none", "", tunnel.Credentials{}},
		{"basic", "Basic " + b64("alice:pa:ss"), tunnel.Credentials{Offered: true, User: "alice", Password: "pa:ss"}},
		{"scheme case", "bAsIc  " + b64("a:b"), tunnel.Credentials{Offered: true, User: "a", Password: "b"}},
		{"other scheme", "Negotiate abc", tunnel.Credentials{}},
		{"bad base64", "Basic !!!", tunnel.Credentials{Offered: true}},
		{"no colon", "Basic " + b64("alice"), tunnel.Credentials{Offered: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Proxy-Authorization", tt.header)
			}
			if got := proxyCredentials(h); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzProxyCredentials(f *testing.F) {
	f.Add("Basic YWxpY2U6cHc=")
	f.Add("Basic !!")
	f.Fuzz(func(t *testing.T, v string) {
		c := proxyCredentials(http.Header{"Proxy-Authorization": {v}})
		if !c.Offered && (c.User != "" || c.Password != "") {
			t.Fatalf("%+v", c)
		}
	})
}

package pac

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseDirect(t *testing.T) {
	tests := []struct {
		in      string
		kind    string // domain, glob, host, net; "" for an error
		errWant string
	}{
		{".corp.example", "domain", ""},
		{".Corp.Example", "domain", ""},
		{"*.build.example", "glob", ""},
		{"host-?.example", "glob", ""},
		{"10.0.0.0/8", "net", ""},
		{"localhost", "host", ""},
		{"192.0.2.1", "host", ""},
		{"::1", "host", ""},
		{"10.0.0.1/8", "", "host bits set"},
		{"fd00::/8", "", "IPv4 networks only"},
		{"10.0.0.0/33", "", "not a network"},
		{".", "", "not a domain"},
		{".a..b", "", "not a domain"},
		{`evil"host`, "", "not a host name"},
		{"a b", "", "not a host name"},
		{"*\");alert(1);", "", "not a host pattern"},
		{"*\");alert(1);//", "", "not a network"},
		{"", "", "not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, errs := ParseDirect([]string{tt.in})
			if tt.kind == "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.errWant) || !strings.Contains(errs[0].Error(), "direct[0]") {
					t.Errorf("errors %v, want one naming direct[0] and %q", errs, tt.errWant)
				}
				return
			}
			if len(errs) != 0 {
				t.Fatalf("errors %v", errs)
			}
			n := map[string]int{"domain": len(r.Domains), "glob": len(r.Globs), "host": len(r.Hosts), "net": len(r.Nets)}
			if n[tt.kind] != 1 || len(r.Domains)+len(r.Globs)+len(r.Hosts)+len(r.Nets) != 1 {
				t.Errorf("rules %+v, want one %s", r, tt.kind)
			}
		})
	}
	_, errs := ParseDirect([]string{"ok.example", "bad host", "10.0.0.0/8", "1.2.3.4/40"})
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "direct[1]") || !strings.Contains(errs[1].Error(), "direct[3]") {
		t.Errorf("errors %v, want direct[1] and direct[3]", errs)
	}
}

func TestProxyAddress(t *testing.T) {
	tests := []struct {
		name, proxyAddress, listener, requestHost string
		want, errWant                             string
	}{
		{"listener address", "", "127.0.0.1:8080", "x:1", "127.0.0.1:8080", ""},
		{"configured", "proxy.example:3128", "127.0.0.1:8080", "x:1", "proxy.example:3128", ""},
		{"unspecified listener: request host", "", "0.0.0.0:8080", "192.0.2.10:8080", "192.0.2.10:8080", ""},
		{"unspecified v6 listener: request host", "", "[::]:8080", "[2001:db8::1]:9090", "[2001:db8::1]:8080", ""},
		{"unspecified listener: request name", "", ":8080", "Proxy.Corp.Example", "proxy.corp.example:8080", ""},
		{"unspecified listener: hostile host", "", ":8080", `a"b:1`, "", "not a usable host"},
		{"localhost", "localhost:3128", ":8080", "x", "localhost:3128", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(Config{ProxyAddress: tt.proxyAddress}, tt.listener, "auto")
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.ProxyAddress(tt.requestHost)
			if tt.errWant != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errWant) {
					t.Errorf("err %v, want %q", err, tt.errWant)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ProxyAddress = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"0.0.0.0:3128", "proxy:0", "proxy", `a"b:1`} {
		if _, err := New(Config{ProxyAddress: bad}, "127.0.0.1:8080", "auto"); err == nil {
			t.Errorf("proxy_address %q accepted", bad)
		}
	}
}

func TestHandler(t *testing.T) {
	p, err := New(Config{Direct: []string{".corp.example"}}, "127.0.0.1:8080", "auto")
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(p)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/proxy.pac", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != ContentType {
		t.Fatalf("GET: %d %v", rec.Code, rec.Header())
	}
	body, etag := rec.Body.String(), rec.Header().Get("ETag")
	if !strings.Contains(body, "function FindProxyForURL(url, host)") || !strings.Contains(body, `"PROXY 127.0.0.1:8080; SOCKS5 127.0.0.1:8080"`) {
		t.Errorf("body %q", body)
	}

	req := httptest.NewRequest("GET", "/proxy.pac", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("conditional GET: %d, want 304", rec.Code)
	}

	// After a reload the content, and so the ETag, changes.
	p2, _ := New(Config{Direct: []string{".other.example"}}, "127.0.0.1:8080", "auto")
	h.Set(p2)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "other.example") {
		t.Errorf("after Set: %d %q", rec.Code, rec.Body.String())
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/proxy.pac", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestJSString(t *testing.T) {
	for _, s := range []string{`a"b`, `a\b`, "</script>", "line\nbreak", "\u2028\u2029", "\x00"} {
		q := jsString(s)
		if strings.ContainsAny(q[1:len(q)-1], "\"\n\r<>\u2028\u2029\x00") && !strings.Contains(q, `\"`) {
			t.Errorf("jsString(%q) = %s leaves a raw character", s, q)
		}
		var back string
		if err := json.Unmarshal([]byte(q), &back); err != nil || back != s {
			t.Errorf("jsString(%q) = %s does not round-trip: %q %v", s, q, back, err)
		}
	}
}

// Any entry list either fails with errors or yields a PAC in which every
// listed string is a plain quoted literal: nothing from the config can
// escape into the script.
func FuzzParseDirect(f *testing.F) {
	for _, e := range corpDirect {
		f.Add(e)
	}
	f.Add(`*");alert(1);//`)
	f.Add("10.0.0.1/8")
	f.Fuzz(func(t *testing.T, entry string) {
		r, errs := ParseDirect([]string{entry})
		if len(errs) > 0 {
			return
		}
		p := &PAC{rules: r, plainDirect: true, port: "1", host: "h"}
		src := string(p.Generate("h:1"))
		for _, l := range append(append(append([]string{}, r.Domains...), r.Globs...), r.Hosts...) {
			if strings.ContainsAny(l, "\"\\\n\r<>") {
				t.Fatalf("entry %q kept %q", entry, l)
			}
		}
		if strings.Count(src, "function ") != 1 {
			t.Fatalf("entry %q: %s", entry, src)
		}
	})
}

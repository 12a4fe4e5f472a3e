package cache

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// raw answers with exactly the head lines given (and body), on a
// connection it then closes (saying so unless fields has a Connection of
// its own): a 304 with Content-Type or Content-Length, which net/http's
// server would strip, reaches the cache as sent.
func raw(w http.ResponseWriter, status string, body string, fields ...string) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %s\r\n", status)
	if !slices.Contains(fields, "Connection") {
		fmt.Fprintf(buf, "Connection: close\r\n")
	}
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(buf, "%s: %s\r\n", fields[i], fields[i+1])
	}
	fmt.Fprintf(buf, "\r\n%s", body)
	buf.Flush()
}

// update304Origin stores "body" with ETag "u", max-age=1 and field: a;
// it answers the validation with a 304 carrying ETag "u", max-age=100
// (unless field is Cache-Control) and field: b.
func update304Origin(field, a, b string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		cc := []string{"Cache-Control", "max-age=100"}
		if field == "Cache-Control" {
			cc = nil
		}
		if r.Header.Get("If-None-Match") == `"u"` {
			raw(w, "304 Not Modified", "", append(cc, "Date", date(now), "ETag", `"u"`, field, b)...)
			return
		}
		if field != "Cache-Control" {
			cc[1] = "max-age=1"
		}
		raw(w, "200 OK", "body", append(cc, "Date", date(now), "ETag", `"u"`, "Content-Length", "4", field, a)...)
	}
}

// TestUpdate304Fields is §3.2 and §4.3.4 through the Transport: every
// field of a 304 replaces the stored one, in the answer to the
// revalidating request and in every hit after it, except those §3.2 and
// ferry's shared-cache rule keep out.
func TestUpdate304Fields(t *testing.T) {
	tests := []struct{ field, a, b, want string }{
		{"Test-Header", "a", "b", "b"},
		{"X-Test-Header", "a", "b", "b"},
		{"Content-Foo", "a", "b", "b"},
		{"X-Content-Foo", "a", "b", "b"},
		{"Cache-Control", "max-age=1", "max-age=100", "max-age=100"},
		{"Content-Encoding", "gzip", "br", "br"},
		{"Content-Location", "/foo", "/bar", "/bar"},
		{"Content-MD5", "rL0Y20zC+Fzt72VPzMSk2A==", "N7UdGUp1E+RbVvZSTy1R8g==", "N7UdGUp1E+RbVvZSTy1R8g=="},
		{"Content-Security-Policy", "default-src 'self'", "default-src 'self' cdn.example.com", "default-src 'self' cdn.example.com"},
		{"Content-Type", "text/plain", "text/plain;charset=utf-8", "text/plain;charset=utf-8"},
		{"Clear-Site-Data", "cache", "cookies", "cookies"},
		{"Expires", "Fri, 01 Jan 2038 01:01:01 GMT", "Mon, 11 Jan 2038 11:11:11 GMT", "Mon, 11 Jan 2038 11:11:11 GMT"},
		{"Public-Key-Pins", "a", "b", "b"},
		{"X-Frame-Options", "deny", "sameorigin", "sameorigin"},
		{"X-Xss-Protection", "1", "1; mode=block", "1; mode=block"},
		{"Link", "</a>; rel=preload", "</b>; rel=preload", "</b>; rel=preload"},
		// §3.2's exceptions, and ferry's: the stored value stays.
		{"Content-Length", "4", "10", "4"},
		{"Content-Range", "bytes 0-3/4", "bytes 0-9/10", "bytes 0-3/4"},
	}
	var cases []conformanceCase
	for _, tt := range tests {
		cases = append(cases, conformanceCase{
			name:   tt.field,
			origin: update304Origin(tt.field, tt.a, tt.b),
			steps: []step{
				{cache: "fwd=uri-miss; fwd-status=200; stored", body: "body", want: map[string]string{tt.field: tt.a}, hits: 1},
				{advance: 2 * time.Second, cache: "fwd=stale; fwd-status=304", body: "body", want: map[string]string{tt.field: tt.want}, hits: 2},
				{cache: "hit; ttl=100", body: "body", want: map[string]string{tt.field: tt.want}, hits: 2},
			},
		})
	}
	runCases(t, cases)
}

func TestMergeHeader(t *testing.T) {
	stored := http.Header{
		"Content-Length": {"4"}, "Content-Range": {"bytes 0-3/4"}, "Set-Cookie": {"shared=1"},
		"Age": {"30"}, "X-Kept": {"k"}, "X-Two": {"1", "2"}, "Etag": {`"u"`},
	}
	fresh := http.Header{
		"Content-Length": {"10"}, "Content-Range": {"bytes 0-9/10"}, "Set-Cookie": {"sid=alice"}, "Set-Cookie2": {"x"},
		"X-Two": {"3"}, "X-New": {"n"}, "Connection": {"X-Hop"}, "X-Hop": {"h"}, "Keep-Alive": {"timeout=5"},
		"Proxy-Authenticate": {"Basic"}, "Proxy-Authentication-Info": {"x"}, "Proxy-Authorization": {"Basic eDp5"},
		"Proxy-Connection": {"keep-alive"}, "Te": {"trailers"}, "Transfer-Encoding": {"chunked"}, "Upgrade": {"h2c"},
		"Trailer": {"X-Sum"},
	}
	got := mergeHeader(stored, fresh)
	want := http.Header{
		"Content-Length": {"4"}, "Content-Range": {"bytes 0-3/4"}, "Set-Cookie": {"shared=1"},
		"X-Kept": {"k"}, "X-Two": {"3"}, "X-New": {"n"}, "Etag": {`"u"`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("merged\n%v\nwant\n%v", got, want)
	}
	if stored.Get("Age") != "30" || stored.Get("X-Two") != "1" {
		t.Errorf("the stored header was changed: %v", stored)
	}
	withAge := mergeHeader(stored, http.Header{"Age": {"5"}})
	if withAge.Get("Age") != "5" {
		t.Errorf("a 304's Age: %q", withAge.Get("Age"))
	}
}

// TestSelects is §4.3.4's choice for the one stored response a validation
// asked about.
func TestSelects(t *testing.T) {
	lm := "Wed, 01 Jan 2020 00:00:00 GMT"
	tests := []struct {
		name          string
		stored, fresh http.Header
		want          bool
	}{
		{"same strong ETag", http.Header{"Etag": {`"a"`}}, http.Header{"Etag": {`"a"`}}, true},
		{"other strong ETag", http.Header{"Etag": {`"a"`}}, http.Header{"Etag": {`"b"`}}, false},
		{"strong ETag against a weak stored one", http.Header{"Etag": {`W/"a"`}}, http.Header{"Etag": {`"a"`}}, false},
		{"weak ETag matching weakly", http.Header{"Etag": {`"a"`}}, http.Header{"Etag": {`W/"a"`}}, true},
		{"other weak ETag", http.Header{"Etag": {`"a"`}}, http.Header{"Etag": {`W/"b"`}}, false},
		{"strong ETag when the stored has none", http.Header{}, http.Header{"Etag": {`"a"`}}, false},
		{"same Last-Modified", http.Header{"Last-Modified": {lm}}, http.Header{"Last-Modified": {lm}}, true},
		{"same Last-Modified, another form", http.Header{"Last-Modified": {lm}}, http.Header{"Last-Modified": {"Wednesday, 01-Jan-20 00:00:00 GMT"}}, true},
		{"other Last-Modified", http.Header{"Last-Modified": {lm}}, http.Header{"Last-Modified": {"Thu, 02 Jan 2020 00:00:00 GMT"}}, false},
		{"Last-Modified when the stored has none", http.Header{"Etag": {`"a"`}}, http.Header{"Last-Modified": {lm}}, false},
		{"weak ETag matches, Last-Modified does not", http.Header{"Etag": {`"a"`}, "Last-Modified": {lm}},
			http.Header{"Etag": {`W/"a"`}, "Last-Modified": {"Thu, 02 Jan 2020 00:00:00 GMT"}}, false},
		{"no validator: the answer to ferry's own conditional", http.Header{"Etag": {`"a"`}}, http.Header{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newObject(meta{Key: "GET http://h/", Status: 200, Header: tt.stored, RespTime: dateRef}, 0, nil)
			if got := selects(tt.fresh, o); got != tt.want {
				t.Errorf("selects = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestUpdate304OtherLastModified: a 304 naming another Last-Modified than
// the stored response's updates nothing; the response is fetched again.
func TestUpdate304OtherLastModified(t *testing.T) {
	lm := newClock().now().Add(-time.Hour)
	origin := func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Date", date(now))
		w.Header().Set("Cache-Control", "max-age=10")
		switch {
		case r.Header.Get("If-Modified-Since") != "":
			w.Header().Set("Last-Modified", date(lm.Add(time.Minute)))
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Last-Modified", date(lm))
			fmt.Fprint(w, "v", n)
		}
	}
	runCases(t, []conformanceCase{{name: "other Last-Modified", origin: origin, steps: []step{
		{cache: "fwd=uri-miss; fwd-status=200; stored", body: "v1", hits: 1},
		{advance: 20 * time.Second, cache: "fwd=stale; fwd-status=200; stored", body: "v3", hits: 3},
	}}})
}

// TestUnstoredFields is §3.1: hop-by-hop fields, those the Connection
// field lists, and those of the client's proxy configuration are never
// stored, so no hit carries them; every other field, unknown ones too,
// is.
func TestUnstoredFields(t *testing.T) {
	origin := func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		raw(w, "200 OK", "body", "Date", date(now), "Cache-Control", "max-age=60", "Content-Length", "4",
			// net/http drops a Connection field that says close, and with
			// it the names it lists: this one does not.
			"Connection", "X-Hop", "X-Hop", "h", "Keep-Alive", "timeout=5", "Proxy-Authenticate", "Basic",
			"Proxy-Authentication-Info", "x", "Proxy-Authorization", "Basic eDp5", "Proxy-Connection", "close",
			"X-Unknown-Field", "kept")
	}
	gone := map[string]string{"X-Hop": "", "Keep-Alive": "", "Proxy-Authenticate": "", "Proxy-Authentication-Info": "",
		"Proxy-Authorization": "", "Proxy-Connection": "", "X-Unknown-Field": "kept"}
	runCases(t, []conformanceCase{{name: "unstored fields", origin: origin, steps: []step{
		{cache: "fwd=uri-miss; fwd-status=200; stored", body: "body", hits: 1},
		{cache: "hit; ttl=60", body: "body", want: gone, hits: 1},
	}}})
}

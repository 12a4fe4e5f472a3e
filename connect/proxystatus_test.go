package connect_test

import (
	"net/http"
	"testing"
)

// Every Proxy-Status ferry answers with is a valid RFC 8941 List (RFC
// 9209 §2) whose member of ferry's has an error type and details that say
// what the access line says, byte for byte: ferry's own texts are ASCII,
// which is all an sf-string may hold (RFC 8941 §3.3.3), so nothing of
// them is lost on the way (a '§' would become "??").
func TestProxyStatusIsAStructuredField(t *testing.T) {
	bad799 := statusServer(t, "HTTP/1.1 799 Whatever")
	gzipped := statusServer(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip")
	o := newOrigin(t, func(http.ResponseWriter, *http.Request) {})
	w := newWorld(t, options{})
	get := func(target string) string {
		return "GET http://" + target + "/ HTTP/1.1\r\nHost: " + target + "\r\n"
	}
	tests := []struct{ name, head string }{
		{"unsupported transfer coding", get(o.host) + "Transfer-Encoding: gzip\r\n\r\n"},
		{"CONNECT with a body", "CONNECT " + o.host + " HTTP/1.1\r\nHost: " + o.host + "\r\nContent-Length: 5\r\n\r\n"},
		{"malformed request line", "GET http://" + o.host + "/ HTTP/1.1 x\r\nHost: " + o.host + "\r\n\r\n"},
		{"malformed version", "GET http://" + o.host + "/ HTTP/1.x\r\nHost: " + o.host + "\r\n\r\n"},
		{"bad CONNECT target", "CONNECT " + o.host + "/x HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"asterisk with GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"userinfo", "GET http://u@" + o.host + "/ HTTP/1.1\r\nHost: " + o.host + "\r\n\r\n"},
		{"two Hosts", get(o.host) + "Host: b\r\n\r\n"},
		{"no Host", "GET http://" + o.host + "/ HTTP/1.1\r\n\r\n"},
		{"fragment", "GET http://" + o.host + "/#f HTTP/1.1\r\nHost: " + o.host + "\r\n\r\n"},
		{"expectation", get(o.host) + "Expect: gold\r\n\r\n"},
		{"Transfer-Encoding on HTTP/1.0", "POST http://" + o.host + "/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"Transfer-Encoding and Content-Length", get(o.host) + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"},
		{"field name not a token", get(o.host) + "Bad Name: x\r\n\r\n"},
		{"control byte in a value", get(o.host) + "X-A: a\x01b\r\n\r\n"},
		{"bad port", get("127.0.0.1:65536") + "\r\n"},
		{"refused", get(closedAddr(t)) + "\r\n"},
		{"status out of range", get(bad799) + "\r\n"},
		{"response transfer coding", get(gzipped) + "\r\n"},
		{"origin-form to ferry", "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"not HTTP", "\x01\x02garbage\r\n\r\n"},
		{"quotes in the details", "GET http://" + o.host + "/\"q\\#f HTTP/1.1\r\nHost: " + o.host + "\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.raw(t)
			c.send(t, tt.head)
			resp, _ := c.response(t, http.MethodGet)
			rec := w.log.next(t)
			fields := resp.Header.Values("Proxy-Status")
			if len(fields) == 0 || rec.Err == nil {
				t.Fatalf("%d with Proxy-Status %q, logged err %v: want a refusal", resp.StatusCode, fields, rec.Err)
			}
			var ferry *sfMember
			for _, f := range fields {
				list, err := parseSFList(f)
				if err != nil {
					t.Fatalf("Proxy-Status %q is no RFC 8941 List: %v", f, err)
				}
				for i := range list {
					if list[i].item == "ferry" {
						ferry = &list[i]
					}
				}
			}
			if ferry == nil {
				t.Fatalf("Proxy-Status %q: %v", fields, errNoFerryMember)
			}
			if got := ferry.params["error"]; got != rec.ProxyStatus {
				t.Errorf("error=%q, logged %q", got, rec.ProxyStatus)
			}
			want := rec.Err.Error()
			if len(want) > 256 {
				want = want[:256]
			}
			if got := ferry.params["details"]; got != want {
				t.Errorf("details %q, logged err %q: want the same text", got, want)
			}
		})
	}
}

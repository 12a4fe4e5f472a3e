package connect

import (
	"bufio"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/tunnel"
)

// FuzzReadRequest: any head is read without panic within its bound, and
// a request read has a token method, a target and a version it can serve;
// one refused is refused with a kind that has an answer.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\n\r\n",
		"POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"\r\nGET / HTTP/1.0\r\nX: a\r\n b\r\n\r\n",
		"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		const limit = 4096
		lim := &headLimit{r: strings.NewReader(in), N: limit}
		br := bufio.NewReaderSize(lim, 512)
		r, fr, err := readRequest(br, lim, limit)
		if err != nil {
			if k := tunnel.KindOf(err); k != tunnel.OK && k.HTTPStatus() == 0 {
				t.Fatalf("refused with kind %v, which has no answer", k)
			}
			return
		}
		if !isToken(r.Method) || r.URL == nil || r.ProtoMajor != 1 {
			t.Fatalf("read %+v", r)
		}
		if fr.Chunked && fr.Length != 0 || fr.UntilClose {
			t.Fatalf("a request framed %+v", fr)
		}
	})
}

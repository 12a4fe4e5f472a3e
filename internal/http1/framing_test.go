package http1

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRequestFraming(t *testing.T) {
	tests := []struct {
		name         string
		major, minor int
		h            http.Header
		want         Framing
		err          error // nil: no error
	}{
		{"none", 1, 1, http.Header{}, Framing{}, nil},
		{"length", 1, 1, http.Header{"Content-Length": {"5"}}, Framing{Length: 5}, nil},
		{"same length twice", 1, 1, http.Header{"Content-Length": {"5", "5"}}, Framing{Length: 5}, nil},
		{"same length as a list", 1, 1, http.Header{"Content-Length": {"5, 5"}}, Framing{Length: 5}, nil},
		{"lengths disagree", 1, 1, http.Header{"Content-Length": {"5", "6"}}, Framing{}, ErrMalformed},
		{"signed length", 1, 1, http.Header{"Content-Length": {"+5"}}, Framing{}, ErrMalformed},
		{"negative length", 1, 1, http.Header{"Content-Length": {"-1"}}, Framing{}, ErrMalformed},
		{"empty length", 1, 1, http.Header{"Content-Length": {""}}, Framing{}, ErrMalformed},
		{"hex length", 1, 1, http.Header{"Content-Length": {"0x5"}}, Framing{}, ErrMalformed},
		{"huge length", 1, 1, http.Header{"Content-Length": {"99999999999999999999"}}, Framing{}, ErrMalformed},
		{"chunked", 1, 1, http.Header{"Transfer-Encoding": {"chunked"}}, Framing{Chunked: true}, nil},
		{"chunked, case", 1, 1, http.Header{"Transfer-Encoding": {"Chunked"}}, Framing{Chunked: true}, nil},
		{"chunked and length", 1, 1, http.Header{"Transfer-Encoding": {"chunked"}, "Content-Length": {"5"}}, Framing{}, ErrMalformed},
		{"chunked on HTTP/1.0", 1, 0, http.Header{"Transfer-Encoding": {"chunked"}}, Framing{}, ErrMalformed},
		{"last coding not chunked", 1, 1, http.Header{"Transfer-Encoding": {"chunked, gzip"}}, Framing{}, ErrMalformed},
		{"gzip alone", 1, 1, http.Header{"Transfer-Encoding": {"gzip"}}, Framing{}, ErrMalformed},
		{"another coding first", 1, 1, http.Header{"Transfer-Encoding": {"gzip, chunked"}}, Framing{}, ErrUnsupportedCoding},
		{"chunked twice: malformed, not unsupported", 1, 1, http.Header{"Transfer-Encoding": {"chunked", "chunked"}}, Framing{}, ErrMalformed},
		{"chunked twice in a list", 1, 1, http.Header{"Transfer-Encoding": {"chunked, chunked"}}, Framing{}, ErrMalformed},
		{"empty coding", 1, 1, http.Header{"Transfer-Encoding": {""}}, Framing{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RequestFraming(tt.major, tt.minor, tt.h)
			if tt.err != nil {
				// ErrUnsupportedCoding is an ErrMalformed too, but
				// answered 501, not 400.
				if !errors.Is(err, tt.err) || errors.Is(err, ErrUnsupportedCoding) != (tt.err == ErrUnsupportedCoding) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestResponseFraming(t *testing.T) {
	tests := []struct {
		name   string
		minor  int
		status int
		method string
		h      http.Header
		want   Framing
		err    error
	}{
		{"length", 1, 200, "GET", http.Header{"Content-Length": {"5"}}, Framing{Length: 5}, nil},
		{"no framing: until close", 1, 200, "GET", http.Header{}, Framing{UntilClose: true, Close: true}, nil},
		{"chunked", 1, 200, "GET", http.Header{"Transfer-Encoding": {"chunked"}}, Framing{Chunked: true}, nil},
		{"chunked and length: chunked, then close", 1, 200, "GET",
			http.Header{"Transfer-Encoding": {"chunked"}, "Content-Length": {"5"}}, Framing{Chunked: true, Close: true}, nil},
		{"identity: until close", 1, 200, "GET", http.Header{"Transfer-Encoding": {"identity"}}, Framing{UntilClose: true, Close: true}, nil},
		{"TE on HTTP/1.0: faulty", 0, 200, "GET",
			http.Header{"Transfer-Encoding": {"chunked"}, "Content-Length": {"5"}}, Framing{}, ErrMalformed},
		// Ends at the close (RFC 9112 §6.3 rule 4), but coded: passed on
		// with the field gone, the coded bytes would be the content.
		{"gzip alone: unsupported", 1, 200, "GET", http.Header{"Transfer-Encoding": {"gzip"}}, Framing{}, ErrUnsupportedCoding},
		{"chunked, then identity: unsupported", 1, 200, "GET", http.Header{"Transfer-Encoding": {"chunked, identity"}}, Framing{}, ErrUnsupportedCoding},
		{"chunked twice: unsupported", 1, 200, "GET", http.Header{"Transfer-Encoding": {"chunked, chunked"}}, Framing{}, ErrUnsupportedCoding},
		{"identity, chunked", 1, 200, "GET", http.Header{"Transfer-Encoding": {"identity, chunked"}}, Framing{Chunked: true}, nil},
		{"gzip, chunked: unsupported", 1, 200, "GET", http.Header{"Transfer-Encoding": {"gzip, chunked"}}, Framing{}, ErrUnsupportedCoding},
		{"bad length", 1, 200, "GET", http.Header{"Content-Length": {"5x"}}, Framing{}, ErrMalformed},
		{"lengths disagree", 1, 200, "GET", http.Header{"Content-Length": {"5", "7"}}, Framing{}, ErrMalformed},
		{"HEAD with a length: no body", 1, 200, "HEAD", http.Header{"Content-Length": {"5"}}, Framing{}, nil},
		{"HEAD chunked: no body", 1, 200, "HEAD", http.Header{"Transfer-Encoding": {"chunked"}}, Framing{}, nil},
		{"304 with a length: no body", 1, 304, "GET", http.Header{"Content-Length": {"5"}}, Framing{}, nil},
		{"304 chunked: doubt", 1, 304, "GET", http.Header{"Transfer-Encoding": {"chunked"}}, Framing{Close: true}, nil},
		{"204 with a length: doubt", 1, 204, "GET", http.Header{"Content-Length": {"5"}}, Framing{Close: true}, nil},
		{"204 with length 0", 1, 204, "GET", http.Header{"Content-Length": {"0"}}, Framing{}, nil},
		{"103 with a length: no body", 1, 103, "GET", http.Header{"Content-Length": {"5"}}, Framing{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResponseFraming(1, tt.minor, tt.status, tt.method, tt.h)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestReadHead(t *testing.T) {
	tests := []struct {
		name, in string
		line     string
		want     http.Header
		err      bool
	}{
		{"simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1", http.Header{"Host": {"a"}}, false},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", "GET / HTTP/1.1", http.Header{"Host": {"a"}}, false},
		{"empty lines first", "\r\n\r\nGET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1", http.Header{}, false},
		{"obs-fold joined", "GET / HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", "GET / HTTP/1.1", http.Header{"X-A": {"b c"}}, false},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", "", nil, true},
		{"space in name", "GET / HTTP/1.1\r\nX A: b\r\n\r\n", "", nil, true},
		{"bare CR in value", "GET / HTTP/1.1\r\nX-A: b\rc\r\n\r\n", "", nil, true},
		{"NUL in value", "GET / HTTP/1.1\r\nX-A: b\x00\r\n\r\n", "", nil, true},
		{"no colon", "GET / HTTP/1.1\r\nnothing\r\n\r\n", "", nil, true},
		{"control byte in the start line", "GET /\x01 HTTP/1.1\r\n\r\n", "", nil, true},
		{"leading whitespace field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", "", nil, true},
		{"too many empty lines", strings.Repeat("\r\n", 10) + "GET / HTTP/1.1\r\n\r\n", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, h, err := ReadHead(bufio.NewReader(strings.NewReader(tt.in)))
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil || line != tt.line || len(h) != len(tt.want) {
				t.Fatalf("got %q %q %v", line, h, err)
			}
			for k, v := range tt.want {
				if h.Get(k) != v[0] {
					t.Errorf("%s = %q, want %q", k, h.Get(k), v[0])
				}
			}
		})
	}
}

// A body ends where its framing says, and the next message's bytes stay
// in the reader; a chunked body's trailer section is read with it.
func TestBody(t *testing.T) {
	tests := []struct {
		name    string
		f       Framing
		in      string
		body    string
		trailer http.Header
		err     error // from reading to the end; nil: io.EOF
	}{
		{"length", Framing{Length: 5}, "helloNEXT", "hello", nil, nil},
		{"length cut short", Framing{Length: 5}, "hel", "hel", nil, io.ErrUnexpectedEOF},
		{"chunked", Framing{Chunked: true}, "5\r\nhello\r\n0\r\n\r\nNEXT", "hello", nil, nil},
		{"chunked with extension", Framing{Chunked: true}, "5;x=y\r\nhello\r\n0\r\n\r\nNEXT", "hello", nil, nil},
		{"chunked with trailers", Framing{Chunked: true}, "5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\nNEXT", "hello",
			http.Header{"X-Sum": {"1"}}, nil},
		{"bad chunk size", Framing{Chunked: true}, "zz\r\nhello\r\n0\r\n\r\n", "", nil, ErrMalformed},
		{"chunk without its CRLF", Framing{Chunked: true}, "5\r\nhelloX0\r\n\r\n", "hello", nil, ErrMalformed},
		{"chunked cut short", Framing{Chunked: true}, "5\r\nhel", "hel", nil, io.ErrUnexpectedEOF},
		{"trailer too large", Framing{Chunked: true}, "0\r\nX: " + strings.Repeat("a", MaxTrailerBytes) + "\r\n\r\n", "", nil, ErrMalformed},
		{"until close", Framing{UntilClose: true}, "all of it", "all of it", nil, nil},
		{"bare LF ending the trailer section", Framing{Chunked: true}, "0\r\n\nNEXT", "", nil, ErrMalformed},
		{"bare LF in a trailer line", Framing{Chunked: true}, "0\r\nX: y\n\r\n", "", nil, ErrMalformed},
		{"a trailer line without a colon", Framing{Chunked: true}, "0\r\nnonsense\r\n\r\n", "", nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			b := NewBody(br, tt.f)
			got, err := io.ReadAll(b)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.body || !b.Done() {
				t.Fatalf("body %q, %v, done %v", got, err, b.Done())
			}
			if rest, _ := io.ReadAll(br); strings.HasSuffix(tt.in, "NEXT") && string(rest) != "NEXT" {
				t.Errorf("left %q, want the next message's NEXT", rest)
			}
			for k, v := range tt.trailer {
				if b.Trailer().Get(k) != v[0] {
					t.Errorf("trailer %s = %q, want %q", k, b.Trailer().Get(k), v[0])
				}
			}
		})
	}
}

// FuzzReadHead: no panic, and a head read is consistent with itself.
func FuzzReadHead(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	f.Add("POST http://x/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n")
	f.Add("\r\nGET / HTTP/1.1\nX: a\n b\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		line, h, err := ReadHead(bufio.NewReader(io.LimitReader(strings.NewReader(in), 1<<16)))
		if err != nil {
			return
		}
		if line == "" {
			t.Fatal("a head without a start line")
		}
		RequestFraming(1, 1, h)
		ResponseFraming(1, 1, 200, "GET", h)
	})
}

// FuzzBody: no panic, reads bounded, and a length body that ends leaves
// what follows it.
func FuzzBody(f *testing.F) {
	f.Add("5\r\nhello\r\n0\r\nX: y\r\n\r\nNEXT", true, int64(0))
	f.Add("hello", false, int64(5))
	f.Fuzz(func(t *testing.T, in string, chunked bool, n int64) {
		if n < 0 || n > 1<<20 {
			n = 0
		}
		br := bufio.NewReader(strings.NewReader(in))
		b := NewBody(br, Framing{Chunked: chunked, Length: n})
		got, err := io.ReadAll(io.LimitReader(b, int64(len(in))+1))
		if int64(len(got)) > int64(len(in)) {
			t.Fatalf("read %d bytes from %d", len(got), len(in))
		}
		if err == nil && strings.HasSuffix(in, "NEXT") && !chunked && n+4 <= int64(len(in)) {
			// A length body leaves what follows it in the reader.
			rest, _ := io.ReadAll(br)
			if int64(len(rest)) != int64(len(in))-n {
				t.Fatalf("%d bytes left after a body of %d from %d", len(rest), n, len(in))
			}
		}
		if err == nil && !chunked && int64(len(got)) != n && n <= int64(len(in)) {
			t.Fatalf("length body of %d read %d", n, len(got))
		}
	})
}

package connect

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/ferry-proxy/ferry/tunnel"
)

// The CONNECT fast path (fast.go) reads a first CONNECT head from what it
// peeked. This file is its parser: pure functions over those bytes.

// headScan is what the first bytes of a connection say.
type headScan uint8

const (
	headIncomplete headScan = iota // no end of head yet: need more bytes
	headOther                      // a complete head, not a CONNECT: the HTTP/1 reader's
	headConnect                    // a complete CONNECT head
	headNotHTTP                    // bytes no request line can start with (a SOCKS greeting, TLS)
	headBadLine                    // a request line no fields can mend (HTTP/0.9's, without a version)
)

var connectPrefix = []byte("CONNECT ")

// scanHead classifies b, the bytes a client has sent so far, and for a
// complete head returns its length (end included): a CONNECT is served by
// the fast path, any other head is left to the HTTP/1 reader. The method is case-sensitive (RFC 9110 §9.1), so "connect" is
// not a CONNECT.
func scanHead(b []byte) (headScan, int) {
	n := headEnd(b)
	switch {
	case !startsLikeRequest(b):
		// Known at the first wrong byte: waiting for an end of head
		// that is not coming would hold the client until the deadline.
		return headNotHTTP, 0
	case n == 0:
		// Judged as soon as it ends: a client that sent a line without
		// a version (HTTP/0.9) sends no fields and waits for an answer.
		if line, ok := requestLine(b); ok {
			if _, _, _, err := parseRequestLine(line); err != nil {
				return headBadLine, 0
			}
		}
		return headIncomplete, 0
	case bytes.HasPrefix(b, connectPrefix):
		return headConnect, n
	}
	return headOther, n
}

// requestLine is the first line of b after the empty lines a server
// skips (RFC 9112 §2.2), without its line end, once b holds all of it.
func requestLine(b []byte) (string, bool) {
	for range 4 {
		if len(b) > 0 && b[0] == '\n' {
			b = b[1:]
		} else if len(b) > 1 && b[0] == '\r' && b[1] == '\n' {
			b = b[2:]
		}
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return "", false
	}
	return string(bytes.TrimSuffix(b[:i], []byte("\r"))), true
}

// headEnd is the length of the head at the start of b, up to and including
// the empty line that ends it, or 0 when b holds no empty line yet. Lines
// end in CRLF or a bare LF, as net/http's reader accepts (RFC 9112 §2.2).
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

var headReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// parseConnect parses a complete CONNECT head (as scanHead found it) into
// a request, with the HTTP/1 reader's own parser (readRequest), so the
// first CONNECT of a connection is held to exactly the rules of a later
// one: the same head is served or refused wherever it comes. The target
// must be authority-form, host:port (RFC 9110 §9.3.6); tunnel.SplitTarget
// checks the rest.
func parseConnect(head []byte) (*http.Request, error) {
	br := headReaders.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(head))
	lim := headLimit{r: br, N: unlimited}
	r, _, err := readRequest(br, &lim, len(head))
	br.Reset(nil)
	headReaders.Put(br)
	if err != nil {
		return nil, err
	}
	if r.Method != http.MethodConnect {
		return nil, tunnel.Errorf(tunnel.BadRequest, "not a CONNECT")
	}
	return r, nil
}

// firstToken is the method of the request line that b starts with, or ""
// when it does not start with a token and a space.
func firstToken(b []byte) string {
	i := bytes.IndexByte(b, ' ')
	if i < 0 || i > 32 || !isToken(string(b[:i])) {
		return ""
	}
	return string(b[:i])
}

// startsLikeRequest reports whether b can begin a request: a method (a
// token, RFC 9110 §9.1) up to the first space, after a few empty lines,
// which a server SHOULD ignore (RFC 9112 §2.2; the HTTP/1 reader does).
func startsLikeRequest(b []byte) bool {
	for range 4 {
		if len(b) > 0 && b[0] == '\n' {
			b = b[1:]
		} else if len(b) > 1 && b[0] == '\r' && b[1] == '\n' {
			b = b[2:]
		} else if len(b) == 1 && b[0] == '\r' {
			return true // the rest of a line end is on its way
		}
	}
	for i, c := range b {
		if c == ' ' {
			return i > 0
		}
		if !isTokenByte(c) {
			return false
		}
	}
	return true
}

// isToken reports whether s is a token (RFC 9110 §5.6.2), as a method and
// a field name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// isTokenByte reports a tchar (RFC 9110 §5.6.2).
func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// errHeadTooLarge is a head that did not end within max_header_bytes.
func errHeadTooLarge(limit int) error {
	return &tunnel.Error{Kind: tunnel.TooLarge, Err: fmt.Errorf("request head larger than %d bytes", limit)}
}

// errLineTooLong is a request line that did not end within
// max_header_bytes (RFC 9112 §3: 414).
var errLineTooLong = &tunnel.Error{Kind: tunnel.URITooLong, Err: errors.New("request line longer than max_header_bytes")}

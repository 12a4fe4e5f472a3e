package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
)

// objectSize is the body of the HTTP origin's one object.
const objectSize = 1 << 10

// httpResponse and httpHeadResponse are the origin's answers, built once.
// no-store keeps a caching proxy forwarding (what http measures) instead
// of answering from its cache.
var httpResponse, httpHeadResponse = buildResponses()

func buildResponses() (full, head []byte) {
	h := "HTTP/1.1 200 OK\r\n" +
		"Date: " + time.Now().UTC().Format(http.TimeFormat) + "\r\n" +
		"Content-Type: application/octet-stream\r\n" +
		"Content-Length: " + strconv.Itoa(objectSize) + "\r\n" +
		"Cache-Control: no-store\r\n\r\n"
	full = append([]byte(h), bytes.Repeat([]byte("x"), objectSize)...)
	return full, []byte(h)
}

var tooLarge = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

// serveHTTP is a minimal keep-alive HTTP/1.1 origin: every request head
// gets the object (GET) or its head (HEAD). Requests carry no body here.
func serveHTTP(_ *origin, c *net.TCPConn) {
	buf := make([]byte, 8<<10)
	n := 0
	for {
		for {
			i := bytes.Index(buf[:n], headEnd)
			if i < 0 {
				break
			}
			head := buf[:i+4]
			resp := httpResponse
			if bytes.HasPrefix(head, []byte("HEAD ")) {
				resp = httpHeadResponse
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
			if bytes.EqualFold(headerValue(head, "connection"), []byte("close")) {
				return
			}
			n = copy(buf, buf[i+4:n])
		}
		if n == len(buf) {
			c.Write(tooLarge)
			return
		}
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return
		}
	}
}

// headerValue returns the value of the first header field called name
// (lower case) in a request or response head, trimmed; nil if absent.
// Header names are case-insensitive (RFC 9110 §5.1).
func headerValue(head []byte, name string) []byte {
	// Skip the start line.
	i := bytes.IndexByte(head, '\n')
	if i < 0 {
		return nil
	}
	rest := head[i+1:]
	for len(rest) > 0 {
		line := rest
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			line, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimRight(line, "\r")
		colon := bytes.IndexByte(line, ':')
		if colon != len(name) || !asciiEqualFold(line[:colon], name) {
			continue
		}
		return bytes.TrimSpace(line[colon+1:])
	}
	return nil
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// respHead is what the client needs from a response head.
type respHead struct {
	status  int
	length  int64 // Content-Length; -1 when absent
	chunked bool
	close   bool // the connection ends after this response
}

var errBadLength = errors.New("bad Content-Length")

// parseRespHead reads a complete response head (ending in CRLF CRLF).
func parseRespHead(head []byte) (respHead, error) {
	h := respHead{length: -1}
	var err error
	if h.status, err = parseStatusLine(head); err != nil {
		return h, err
	}
	conn := headerValue(head, "connection")
	// HTTP/1.0 closes unless asked to keep alive; 1.1 keeps alive unless
	// told to close (RFC 9112 §9.3).
	if head[7] == '0' {
		h.close = !bytes.EqualFold(conn, []byte("keep-alive"))
	} else {
		h.close = bytes.EqualFold(conn, []byte("close"))
	}
	if te := headerValue(head, "transfer-encoding"); te != nil {
		h.chunked = bytes.EqualFold(te, []byte("chunked"))
		if !h.chunked {
			return h, errBadReply
		}
		return h, nil
	}
	if cl := headerValue(head, "content-length"); cl != nil {
		n, ok := parseUint(cl)
		if !ok {
			return h, errBadLength
		}
		h.length = n
	}
	return h, nil
}

// parseUint parses decimal digits without allocating; false on anything
// else or overflow past 2^62.
func parseUint(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

// parseHex parses a chunk size (RFC 9112 §7.1), ignoring extensions.
func parseHex(b []byte) (int64, bool) {
	if i := bytes.IndexByte(b, ';'); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, d := range b {
		switch {
		case '0' <= d && d <= '9':
			d -= '0'
		case 'a' <= d && d <= 'f':
			d -= 'a' - 10
		case 'A' <= d && d <= 'F':
			d -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

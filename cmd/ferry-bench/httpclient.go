package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// httpTarget is a prepared GET of the object: straight to the origin
// (origin-form) or through a plain proxy (absolute-form, RFC 9112 §3.2.2).
type httpTarget struct {
	addr string
	req  []byte
	dial net.Dialer
}

func newHTTPTarget(proxy string, origin netip.AddrPort) *httpTarget {
	host := origin.String()
	t := &httpTarget{addr: proxy, dial: net.Dialer{Timeout: dialTimeout, KeepAlive: -1}}
	target := "http://" + host + "/object"
	if proxy == "" {
		t.addr, target = host, "/object"
	}
	t.req = []byte("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
	return t
}

// httpConn is one keep-alive client connection with its own read buffer;
// a round trip allocates nothing.
type httpConn struct {
	t      *httpTarget
	c      *net.TCPConn
	buf    []byte
	r, w   int // unread bytes are buf[r:w]
	dials  int64
	closed bool
	got    bool // a byte of the current response has arrived
}

func newHTTPConn(t *httpTarget) *httpConn {
	return &httpConn{t: t, buf: make([]byte, 16<<10), closed: true}
}

func (h *httpConn) close() {
	if h.c != nil {
		h.c.Close()
		h.c = nil
	}
	h.closed = true
}

// roundTrip sends one GET and reads the whole response, dialing first if
// the previous response closed the connection. Any error closes it. A
// kept-alive connection the server closed before answering gets the
// request again on a new one, as browsers and net/http do for idempotent
// requests (RFC 9112 §9.3.1): some proxies (tinyproxy) answer HTTP/1.1
// without "Connection: close" and close anyway.
func (h *httpConn) roundTrip() error {
	reused := !h.closed
	err := h.do()
	if err != nil && reused && !h.got && closedByPeer(err) {
		h.close()
		err = h.do()
	}
	if err != nil || h.closed {
		h.close()
	}
	return err
}

func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (h *httpConn) do() error {
	if h.closed {
		nc, err := h.t.dial.Dial("tcp", h.t.addr)
		if err != nil {
			return err
		}
		h.c, h.closed, h.r, h.w = nc.(*net.TCPConn), false, 0, 0
		h.dials++
	}
	h.c.SetDeadline(time.Now().Add(dialTimeout))
	h.got = false
	if _, err := h.c.Write(h.t.req); err != nil {
		return err
	}
	var i int
	for {
		if i = bytes.Index(h.buf[h.r:h.w], headEnd); i >= 0 {
			break
		}
		if err := h.fill(); err != nil {
			return err
		}
	}
	head := h.buf[h.r : h.r+i+4]
	rh, err := parseRespHead(head)
	h.r += len(head)
	if err != nil {
		return err
	}
	h.closed = rh.close
	switch {
	case rh.status == 204 || rh.status == 304:
	case rh.chunked:
		err = h.skipChunked()
	case rh.length >= 0:
		err = h.skip(rh.length)
	default: // body until close
		h.closed = true
		for err == nil {
			h.r = h.w
			err = h.fill()
		}
		if err == io.EOF {
			err = nil
		}
	}
	if err == nil && rh.status != 200 {
		err = &statusError{rh.status}
	}
	return err
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "HTTP status " + strconv.Itoa(e.code) }

// fill reads more into the buffer, compacting it first when full.
func (h *httpConn) fill() error {
	if h.r == h.w {
		h.r, h.w = 0, 0
	} else if h.w == len(h.buf) {
		if h.r == 0 {
			return errHeadTooBig
		}
		h.w = copy(h.buf, h.buf[h.r:h.w])
		h.r = 0
	}
	n, err := h.c.Read(h.buf[h.w:])
	h.w += n
	if n > 0 {
		h.got = true
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// skip consumes n body bytes.
func (h *httpConn) skip(n int64) error {
	for {
		m := min(n, int64(h.w-h.r))
		h.r += int(m)
		n -= m
		if n == 0 {
			return nil
		}
		if err := h.fill(); err != nil {
			return unexpected(err)
		}
	}
}

// line returns the next line without its CRLF.
func (h *httpConn) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(h.buf[h.r:h.w], '\n'); i >= 0 {
			l := h.buf[h.r : h.r+i]
			h.r += i + 1
			return bytes.TrimSuffix(l, []byte("\r")), nil
		}
		if err := h.fill(); err != nil {
			return nil, unexpected(err)
		}
	}
}

// skipChunked consumes a chunked body and its trailers (RFC 9112 §7.1).
func (h *httpConn) skipChunked() error {
	for {
		l, err := h.line()
		if err != nil {
			return err
		}
		size, ok := parseHex(l)
		if !ok {
			return errBadReply
		}
		if size == 0 {
			for { // trailer section, ended by an empty line
				l, err := h.line()
				if err != nil || len(l) == 0 {
					return err
				}
			}
		}
		if err := h.skip(size); err != nil {
			return err
		}
		if l, err := h.line(); err != nil || len(l) != 0 {
			if err == nil {
				err = errBadReply
			}
			return err
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

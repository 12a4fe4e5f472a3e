package connect

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/ferry-proxy/ferry/internal/proxyhdr"
	"github.com/ferry-proxy/ferry/tunnel"
)

// The CONNECT fast path (issue 9). Most connections to an HTTP proxy carry
// one CONNECT and then the tunnel. Read through buffers, that costs a 4 KiB
// reader and writer per conn and copies the bytes after the head out of
// the buffer; idle tunnels pay in memory, short ones in CPU. So the first
// request of a connection is peeked (taking nothing from the socket): a
// CONNECT is read here, exactly, and the tunnel starts on the raw socket;
// anything else goes to the HTTP/1 reader (conn.go) as it came. Both paths
// open the tunnel with the same function, open.

// fastHeadLimit caps what the fast path peeks. A socket's receive queue
// holds about this much by default (tcp_rmem), so waiting for a longer
// head could stall; with max_header_bytes above it such heads are left to
// the HTTP/1 reader.
const fastHeadLimit = 64 << 10

var headBufs = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

// serveFast serves c's first request if it is a CONNECT, up to the 200;
// the caller relays the tunnel returned. seen is what the front mux's
// sniff peeked of c, if anything. rest, when not nil, is the conn the
// HTTP/1 reader should serve from here on: c as it came when the request is not a
// CONNECT (nothing was read), or after a refused CONNECT on a connection
// that may carry another request.
func (s *Server) serveFast(ctx context.Context, c net.Conn, seen []byte) (t *openTunnel, rest net.Conn) {
	r, c, handOff := s.readConnect(c, seen, proxyhdr.ClientOf(ctx, c))
	if r == nil {
		if handOff {
			return nil, c
		}
		return nil, nil
	}
	w := &rawResponse{header: http.Header{}}
	t, taken := s.open(ctx, w, r, func() (net.Conn, []byte, error) { return c, nil, nil })
	if taken {
		return t, nil
	}
	// Refused (403, 407, 502...): a client answered 407 may try again on
	// the same connection. A head with content framing cannot be skipped
	// reliably, so such a connection ends.
	keep := !r.Close && r.ContentLength == 0 && len(r.TransferEncoding) == 0
	if err := w.send(c, !keep, s.cfg.HandshakeTimeout); err != nil || !keep {
		netx.LingerClose(c)
		return nil, nil
	}
	return nil, c
}

// readConnect peeks at c's first request and, if it is a CONNECT, reads
// its head (exactly: bytes the client sent after it, a TLS ClientHello
// say, stay in the socket for the relay to splice). The sniff's peek,
// seen, holds the whole head of most CONNECTs: no second peek for those.
// conn is c, or off Linux c wrapped with what the peek read ahead: the
// conn to serve from now on. A nil request with handOff set leaves conn
// to the HTTP/1 reader untouched; without, it is done with (a bad head
// was answered, or the client left).
func (s *Server) readConnect(c net.Conn, seen []byte, client netip.AddrPort) (r *http.Request, conn net.Conn, handOff bool) {
	limit := min(s.cfg.MaxHeaderBytes, fastHeadLimit)
	var b []byte
	var scan headScan
	var n int
	var err error
	if len(seen) > 0 && len(seen) <= limit {
		b = seen
		scan, n = scanHead(seen)
	}
	if b == nil || scan == headIncomplete {
		bp := headBufs.Get().(*[]byte)
		defer headBufs.Put(bp)
		b, scan, n, c, err = peekHead(c, (*bp)[:min(len(*bp), limit)], limit)
	}
	switch {
	case err != nil:
		s.log.Debug().Err(err).Str("client", client.String()).Msg("connect head")
		// Part of a head, then a half-close or silence until the
		// handshake deadline: the client can still read an answer.
		proto, method := tunnel.ProtoHTTP, firstToken(b)
		if method == http.MethodConnect {
			proto = tunnel.ProtoConnect
		}
		switch {
		case len(b) > 0 && errors.Is(err, os.ErrDeadlineExceeded):
			s.refuseHead(c, client, proto, method, tunnel.Errorf(tunnel.RequestTimeout,
				"request head incomplete after handshake_timeout (%v)", s.cfg.HandshakeTimeout))
			return nil, c, false
		case len(b) > 0 && errors.Is(err, io.ErrUnexpectedEOF):
			s.refuseHead(c, client, proto, method, tunnel.Errorf(tunnel.BadRequest,
				"request head cut short: the client closed its side before the blank line"))
			return nil, c, false
		}
		// Gone or reset: nobody to answer. What came is dropped so
		// that the close is clean.
		netx.DiscardQueued(c)
		return nil, c, false
	case scan == headIncomplete: // limit bytes and no end of head
		if s.cfg.MaxHeaderBytes > limit {
			return nil, c, true
		}
		proto, method := tunnel.ProtoHTTP, firstToken(b)
		if method == http.MethodConnect {
			proto = tunnel.ProtoConnect
		}
		err := errHeadTooLarge(s.cfg.MaxHeaderBytes)
		if _, ok := requestLine(b); !ok {
			err = errLineTooLong // 414, as the HTTP/1 reader answers
		}
		s.refuseHead(c, client, proto, method, err)
		return nil, c, false
	case scan == headBadLine:
		line, _ := requestLine(b)
		_, _, _, err := parseRequestLine(line)
		proto, method := tunnel.ProtoHTTP, firstToken(b)
		if method == http.MethodConnect {
			proto = tunnel.ProtoConnect
		}
		s.refuseHead(c, client, proto, method, err)
		return nil, c, false
	case scan == headNotHTTP:
		s.refuseHead(c, client, tunnel.ProtoHTTP, "", tunnel.Errorf(tunnel.BadRequest,
			"malformed request: not an HTTP request line, which starts with a method (RFC 9112 section 3)"))
		return nil, c, false
	case scan == headOther:
		return nil, c, true // the HTTP/1 reader's (conn.go)
	}
	r, err = parseConnect(b[:n])
	if err != nil {
		s.refuseHead(c, client, tunnel.ProtoConnect, http.MethodConnect, err)
		return nil, c, false
	}
	if _, err := io.ReadFull(c, b[:n]); err != nil {
		return nil, c, false
	}
	r.RemoteAddr = client.String()
	return r, c, false
}

// refuseHead answers a first head that cannot be served at all (400,
// 431, 501, 505) with its Proxy-Status and an access event, then ends the
// connection: where the next request would start is unknown. proto and
// method are the access event's.
func (s *Server) refuseHead(c net.Conn, client netip.AddrPort, proto, method string, err error) {
	rec := accesslog.Start(s.sink, proto, client)
	rec.Method = method
	w := &rawResponse{header: http.Header{}}
	fail(w, rec, err)
	rec.Finish()
	w.send(c, true, s.cfg.HandshakeTimeout)
	netx.LingerClose(c)
}

// rawResponse is the http.ResponseWriter of a refused fast-path CONNECT,
// so the refusal is composed by the same code as the HTTP/1 reader's path
// (fail, refuse, deny). It keeps the answer and send writes it in one go.
type rawResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *rawResponse) Header() http.Header { return w.header }

func (w *rawResponse) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *rawResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// send writes the response, framed by Content-Length, under a write
// deadline; with closing set it says Connection: close.
func (w *rawResponse) send(c net.Conn, closing bool, timeout time.Duration) error {
	w.WriteHeader(http.StatusOK)
	h := w.header
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("Content-Length", strconv.Itoa(w.body.Len()))
	if closing {
		h.Set("Connection", "close")
	}
	var out bytes.Buffer
	out.WriteString("HTTP/1.1 " + strconv.Itoa(w.status) + " " + http.StatusText(w.status) + "\r\n")
	h.Write(&out)
	out.WriteString("\r\n")
	out.Write(w.body.Bytes())
	c.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.Write(out.Bytes())
	c.SetWriteDeadline(time.Time{})
	return err
}

package accesslog

import (
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Squid writes records in Squid's native access.log format, so that the
// analysers made for Squid (GoAccess, SARG, lightsquid, ...) read ferry's
// log unchanged. One line per record, in Squid's own terms
// (logformat squid %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt):
//
//	time.ms elapsed client code/status bytes method URL user hierarchy/peer type
//
// time is when the request ended; elapsed is in milliseconds; bytes is
// what ferry sent the client (bytes_down); a tunnel's URL is host:port.
// SOCKS requests appear as their HTTP equivalent, CONNECT host:port, with
// the HTTP status ferry would have answered; the json format keeps the
// SOCKS details. The content type is not recorded: it is always "-".
type Squid struct {
	W io.Writer
	// HTTPStatus maps an RFC 9209 error type to the HTTP status ferry
	// answers it with (tunnel's table), for records of SOCKS and other
	// non-HTTP front ends. nil: 500 for every error.
	HTTPStatus func(proxyStatus string) int

	mu sync.Mutex // one line at a time, when W is shared
}

// Write appends one line; a single Write call on W.
func (s *Squid) Write(r *Record) {
	bp := squidBufs.Get().(*[]byte)
	b := AppendSquid((*bp)[:0], r, time.Now(), s.HTTPStatus)
	s.mu.Lock()
	s.W.Write(b)
	s.mu.Unlock()
	*bp = b
	squidBufs.Put(bp)
}

var squidBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// AppendSquid appends r's line, ended at end, to b.
func AppendSquid(b []byte, r *Record, end time.Time, httpStatus func(string) int) []byte {
	ms := end.UnixMilli()
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	b = appendPadded(b, ms%1000, 3, '0')
	b = append(b, ' ')
	b = appendPadded(b, max(end.Sub(r.Start).Milliseconds(), 0), 6, ' ')
	b = append(b, ' ')
	if a := r.Client.Addr(); a.IsValid() {
		b = a.Unmap().WithZone("").AppendTo(b)
	} else {
		b = append(b, '-')
	}
	b = append(b, ' ')
	b = append(b, squidCode(r)...)
	b = append(b, '/')
	b = appendPadded(b, int64(min(max(squidStatus(r, httpStatus), 0), 999)), 3, '0')
	b = append(b, ' ')
	b = strconv.AppendInt(b, max(r.BytesDown, 0), 10)
	b = append(b, ' ')
	b = appendField(b, squidMethod(r))
	b = append(b, ' ')
	u := r.Target
	if r.Proto == "http" && r.URL != "" {
		u = r.URL
	}
	b = appendField(b, u)
	b = append(b, ' ')
	b = appendField(b, r.User)
	b = append(b, ' ')
	b = appendHierarchy(b, r)
	b = append(b, " -\n"...)
	return b
}

// squidCode is Squid's result code (%Ss) for r.
func squidCode(r *Record) string {
	switch {
	case r.Denied() || r.Outcome() == OutcomeAuthFailed:
		return "TCP_DENIED"
	case r.ProxyStatus == "http_request_error":
		return "NONE_NONE" // Squid 5+ for a request it could not parse
	case r.Proto != "http":
		return "TCP_TUNNEL" // CONNECT, and SOCKS as its equivalent
	}
	switch r.CacheResult() {
	case CacheHit:
		return "TCP_HIT"
	case CacheRevalidated:
		return "TCP_REFRESH_UNMODIFIED"
	case CacheRefreshed:
		return "TCP_REFRESH_MODIFIED"
	case CacheStale:
		return "TCP_REFRESH_FAIL_OLD" // Squid's name for a stale copy served when the origin failed
	}
	return "TCP_MISS"
}

// squidStatus is the HTTP status of r: the one sent for HTTP front ends
// (0 when none was, which Squid also logs as 000), the equivalent for
// others.
func squidStatus(r *Record, httpStatus func(string) int) int {
	switch r.Proto {
	case "http", "connect":
		return r.Status
	}
	switch r.Outcome() {
	case OutcomeOK:
		return 200
	case OutcomeAuthFailed:
		return 407
	}
	if httpStatus != nil {
		if s := httpStatus(r.ProxyStatus); s != 0 {
			return s
		}
	}
	return 500
}

func squidMethod(r *Record) string {
	if r.Proto != "http" && r.Proto != "connect" {
		return "CONNECT"
	}
	if r.Method == "" {
		return "NONE"
	}
	return r.Method
}

// appendHierarchy appends %Sh/%<a: how the request was forwarded and the
// address it went to; HIER_NONE/- when nothing was dialed (a refusal, a
// cache hit, a page ferry served itself).
func appendHierarchy(b []byte, r *Record) []byte {
	peer := r.Dialed
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		peer = ap.Addr().Unmap().WithZone("").String()
	}
	switch {
	case r.Upstream != "":
		b = append(b, "FIRST_UP_PARENT/"...)
		return appendField(b, r.Upstream)
	case peer != "" && !r.DialFailed: // Squid: NONE/- when no server answered
		b = append(b, "HIER_DIRECT/"...)
		return appendField(b, peer)
	}
	return append(b, "HIER_NONE/-"...)
}

// appendField appends s with the bytes that would split or end a field
// (controls, space, DEL, non-ASCII) %-escaped, as Squid does; "-" if empty.
func appendField(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f {
			b = append(b, '%', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendPadded appends n right-aligned in width, padded with pad.
func appendPadded(b []byte, n int64, width int, pad byte) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], n, 10)
	for i := len(s); i < width; i++ {
		b = append(b, pad)
	}
	return append(b, s...)
}

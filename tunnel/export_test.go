package tunnel

import (
	"net"
	"time"
)

// Hooks for the external tests.

// TCPOf is the socket the relay would splice for c.
func TCPOf(c net.Conn) (*net.TCPConn, bool) { return tcpOf(c) }

// SetClock replaces the engine's clock; call it before SetPolicy.
func SetClock(e *Engine, now func() time.Time) { e.now = now }

// SetTicker replaces the active checkers' tickers; call it before SetPolicy.
func SetTicker(e *Engine, f func(time.Duration) (<-chan time.Time, func())) {
	e.book.mu.Lock()
	defer e.book.mu.Unlock()
	e.book.ticker = f
}

// ParseConnectHead exposes the CONNECT answer parser to the fuzz test.
func ParseConnectHead(head []byte) (status int, errType, details string, err error) {
	r, err := parseConnectHead(head)
	return r.status, r.errType, r.details, err
}

// SquidErrorKind exposes the X-Squid-Error reader.
func SquidErrorKind(v string) (Kind, bool) { return squidErrorKind(v) }

// LastProxyStatusError exposes the Proxy-Status reader.
func LastProxyStatusError(lines []string) (string, string) { return lastProxyStatusError(lines) }

// ParseSOCKSTranscript exposes the SOCKS5 transcript reader.
func ParseSOCKSTranscript(b []byte, offeredAuth bool) (stage int, rep byte, ok bool) {
	f, ok := parseSOCKSTranscript(b, offeredAuth)
	return f.stage, f.rep, ok
}

// Available reports whether u may be tried now.
func (u *Upstream) Available() bool { return u.health.available() }

package tunnel

import "time"

// TCPKeepAlive is the keep-alive period for the TCP connections ferry
// accepts and dials, in net.Dialer.KeepAlive's terms: -1 is off, 0 is Go's
// default (15s). Keep-alive probes exist to find peers that vanished; the
// relay's idle timeout already ends every tunnel that moves nothing, dead
// or not, and the HTTP front end times out idle client and origin
// connections of its own. With an idle timeout the probes add nothing but
// five setsockopt(2) calls per connection (SO_KEEPALIVE, TCP_KEEPIDLE,
// TCP_KEEPINTVL, TCP_KEEPCNT), ten per tunnel, on the setup path (issue 9).
// With idle_timeout = "0s" nothing else would reap a tunnel whose peer is
// gone, so keep-alive stays on.
func (e *Engine) TCPKeepAlive() time.Duration {
	if e.cfg.IdleTimeout > 0 {
		return -1
	}
	return 0
}

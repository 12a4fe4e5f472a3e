package front

import "net"

// Observer is told about every connection the mux serves, for metrics.
// ln is the listener the connection was accepted on; proto is what the
// connection was dispatched as (HTTP or SOCKS), or "" when the client
// sent nothing before the handshake deadline or closed.
//
// Each accepted connection gets exactly one Opened and, later, one Closed
// with the same arguments; one over the limit also gets Refused between
// them. Methods are called on the connection's goroutine, so they must be
// quick and safe for concurrent use.
type Observer interface {
	Opened(ln net.Listener, proto Protocol)
	Refused(ln net.Listener, proto Protocol)
	Closed(ln net.Listener, proto Protocol)
}

// observe reports c's opening and returns what reports its end.
func (m *Mux) observe(ln net.Listener, proto Protocol) (closed func()) {
	o := m.Observer
	if o == nil {
		return func() {}
	}
	o.Opened(ln, proto)
	return func() { o.Closed(ln, proto) }
}

package front

import "net"

// Observer is told about every connection the mux serves, for metrics.
// ln is the listener the connection was accepted on; proto is the
// Protocol the connection was dispatched as ("http" or "socks"), or ""
// when the client sent nothing before the handshake deadline or closed. It
// is a plain string so that an observer (internal/metrics) need not import
// this front end.
//
// Each accepted connection gets exactly one Opened and, later, one Closed
// with the same arguments; one over the limit also gets Refused between
// them. Methods are called on the connection's goroutine, so they must be
// quick and safe for concurrent use.
type Observer interface {
	Opened(ln net.Listener, proto string)
	Refused(ln net.Listener, proto string)
	Closed(ln net.Listener, proto string)
}

// observe reports c's opening and returns what reports its end.
func (m *Mux) observe(ln net.Listener, proto Protocol) (closed func()) {
	o := m.Observer
	if o == nil {
		return func() {}
	}
	o.Opened(ln, string(proto))
	return func() { o.Closed(ln, string(proto)) }
}

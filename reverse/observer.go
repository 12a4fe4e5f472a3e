package reverse

// Observer is told about every connection a reverse listener serves, for
// the metrics (issue 8: connections accepted, active and refused by
// listener). listener is the listener's name; mode is "tcp" or "tls".
//
// It mirrors front.Observer, keyed by name rather than net.Listener: a
// reverse socket outlives reloads that rename it. Each connection gets
// one Opened and, later, one Closed; one turned away over max_conns or
// max_conns_per_ip also gets Refused between them. Methods are called on
// the connection's goroutine, so they must be quick and safe for
// concurrent use.
type Observer interface {
	Opened(listener, mode string)
	Refused(listener, mode string)
	Closed(listener, mode string)
}

// observe reports a connection's opening on l and returns what reports a
// refusal and what reports its end.
func (s *Server) observe(l *Listener) (refused, closed func()) {
	o := s.Observer
	if o == nil {
		return func() {}, func() {}
	}
	name, mode := l.Name, string(l.Mode)
	o.Opened(name, mode)
	return func() { o.Refused(name, mode) }, func() { o.Closed(name, mode) }
}

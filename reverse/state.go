package reverse

// BackendState is one backend's health now, for metrics.
type BackendState struct {
	Listener, Route string // names from the config
	Address         string // the backend's host:port as configured
	Up              bool
}

// Backends lists every backend of the current table with its health.
func (s *Server) Backends() []BackendState {
	t := s.table.Load()
	if t == nil {
		return nil
	}
	var out []BackendState
	for _, l := range t.order {
		for _, r := range l.routes {
			for _, b := range r.Pool.Backends() {
				out = append(out, BackendState{Listener: l.Name, Route: r.Name, Address: b.Address, Up: b.Up()})
			}
		}
	}
	return out
}

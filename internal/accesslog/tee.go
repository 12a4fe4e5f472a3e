package accesslog

// Tee is a Sink writing each record to every sink in turn: the log and the
// metrics, say.
type Tee []Sink

// Write passes r to each sink.
func (t Tee) Write(r *Record) {
	for _, s := range t {
		s.Write(r)
	}
}

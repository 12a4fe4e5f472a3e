package reverse

import (
	"net"
	"testing"

	"github.com/rs/zerolog"
)

// Backends lists each backend of the current table under its listener and
// route, and follows its health.
func TestBackends(t *testing.T) {
	if got := New(nil, nil, zerolog.Nop()).Backends(); got != nil {
		t.Errorf("before Apply: %v, want none", got)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, b := ln.Addr().String(), "127.0.0.1:1"
	r := route(a)
	r.Backends = append(r.Backends, BackendConfig{Address: b})
	s := worldSink(t, ListenerConfig{Mode: ModeTCP, Routes: []RouteConfig{r}}, discard{})
	got := s.Backends()
	want := []BackendState{{"l", "r", a, true}, {"l", "r", b, true}}
	if len(got) != len(want) {
		t.Fatalf("Backends() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("backend %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	s.table.Load().listeners["l"].routes[0].Pool.Backends()[1].up.Store(false)
	if got := s.Backends(); got[1].Up {
		t.Errorf("a backend taken down still reads up: %+v", got[1])
	}
}

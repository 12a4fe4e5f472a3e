package main

import (
	"sync/atomic"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/rs/zerolog"
)

// selfAddrs keeps ip = ["self"] true to this host: the set the rules in
// force name (each load reads the host's addresses into a set of its
// own, which start and every reload put here), refreshed whenever an
// interface gains or loses an address (watchSelf, on Linux).
type selfAddrs struct {
	log  zerolog.Logger
	cur  atomic.Pointer[acl.AddrSet]
	stop func()
}

// start watches the interfaces for set, the set of the config at start.
func (s *selfAddrs) start(set *acl.AddrSet) {
	s.cur.Store(set)
	stop, err := watchSelf(s.refresh)
	if err != nil {
		s.log.Warn().Err(err).Msg("self: cannot watch interface addresses; they are read at start and on reload only")
		stop = func() {}
	}
	s.stop = stop
}

// use makes set, a reloaded config's, the one kept true.
func (s *selfAddrs) use(set *acl.AddrSet) { s.cur.Store(set) }

// refresh reads the host's addresses into the set in force, and says so
// when they changed.
func (s *selfAddrs) refresh() {
	addrs, err := config.HostAddrs()
	if err != nil {
		s.log.Warn().Err(err).Msg("self: reading interface addresses")
		return
	}
	if set := s.cur.Load(); set.Store(addrs) {
		s.log.Info().Str("addrs", set.String()).Msg("self")
	}
}

func (s *selfAddrs) close() {
	if s.stop != nil {
		s.stop()
	}
}

package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/rs/zerolog"
)

// A refresh reads the host's addresses into the set in force, and logs a
// change; the watcher stops when told.
func TestSelfRefresh(t *testing.T) {
	old := config.HostAddrs
	t.Cleanup(func() { config.HostAddrs = old })
	now := []netip.Addr{netip.MustParseAddr("198.51.100.1")}
	config.HostAddrs = func() ([]netip.Addr, error) { return now, nil }
	var log bytes.Buffer
	s := &selfAddrs{log: zerolog.New(&log)}
	s.start(acl.NewAddrSet(now))
	defer s.close()
	s.refresh()
	if log.Len() != 0 {
		t.Errorf("logged %q with nothing changed", log.String())
	}
	reloaded := acl.NewAddrSet(now)
	s.use(reloaded)
	now = append(now, netip.MustParseAddr("203.0.113.7"))
	s.refresh()
	if !reloaded.Contains(netip.MustParseAddr("203.0.113.7")) || !strings.Contains(log.String(), `"addrs":"198.51.100.1, 203.0.113.7"`) {
		t.Errorf("after a change: set %v, log %q", reloaded, log.String())
	}
}

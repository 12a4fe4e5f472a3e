package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/fleet"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/ferry-proxy/ferry/limit"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// startFleet connects the engine to the fleet's Redis when [fleet] names
// one (issue 18): shared limits and a fleet-wide login throttle. Without
// it the engine keeps both in process (its default). The client is
// returned for shutdown; nil without a fleet.
func startFleet(cfg *config.File, engine *tunnel.Engine, log zerolog.Logger) (*fleet.Client, error) {
	if !cfg.Fleet.Enabled() {
		return nil, nil
	}
	c, err := fleet.New(cfg.Fleet)
	if err != nil {
		return nil, err
	}
	c.OnState = func(err error) {
		if err != nil {
			log.Warn().Err(err).Msg("fleet: redis down; limits as their on_store_error says, the login throttle per ferry, until it is back")
			return
		}
		log.Info().Msg("fleet: redis up")
	}
	name := memberName(cfg)
	engine.SetLimiter(limit.NewLimiter(limit.Options{Shared: c.Limits(), Timeout: c.Timeout(), Owner: name + "/" + randomTag()}))
	engine.SetSharedFailures(c.Throttle())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Check(ctx); err != nil {
		// Not fatal: the fleet is the redundancy, and each limit says
		// what to do without Redis.
		c.MarkDown(err)
	} else {
		log.Info().Str("member", name).Dur("timeout", c.Timeout()).Msg("fleet: redis up")
	}
	return c, nil
}

// memberName is [fleet] name, or the host name and the first listener's
// port.
func memberName(cfg *config.File) string {
	if cfg.Fleet.Name != "" {
		return cfg.Fleet.Name
	}
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(cfg.Listeners[0].Address)
	return host + ":" + port
}

// randomTag tells this process's tickets from those of an earlier ferry
// of the same name whose slots have not lapsed yet.
func randomTag() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startFleetCache shares the cache with the fleet's members when
// [fleet.cache] names a listener (issue 18 item 5): the ring of members,
// from the config or kept from Redis heartbeats. lns are cfg's listeners,
// bound. The returned stop leaves the fleet (nil: nothing to stop).
func (a *app) startFleetCache(cfg *config.File, lns []net.Listener) (stop func(), err error) {
	cc := &cfg.Fleet.Cache
	if !cc.Shared() {
		return nil, nil
	}
	self := cc.Advertise
	if self == "" {
		for i, l := range cfg.Listeners {
			if l.Name == cc.Listener {
				self = lns[i].Addr().String()
			}
		}
		if ap, err := netip.ParseAddrPort(self); err != nil || ap.Addr().IsUnspecified() {
			return nil, fmt.Errorf("fleet.cache: listener %q is bound to %s, which other members cannot reach: set fleet.cache.advertise", cc.Listener, self)
		}
	}
	ring := fleet.NewRing(self, cc.Members)
	var user *url.Userinfo
	if name, pass, ok := strings.Cut(cc.Credentials, ":"); ok {
		user = url.UserPassword(name, pass)
	}
	a.http.SetFleet(ring, user, cc.Listener)
	a.log.Info().Str("self", self).Strs("members", ring.Members()).Bool("from_redis", len(cc.Members) == 0).Msg("fleet: shared cache")
	if len(cc.Members) == 0 {
		return a.fleet.Members(ring, func(m []string) {
			a.log.Info().Strs("members", m).Msg("fleet: members")
		}), nil
	}
	return nil, nil
}

// sameFleet refuses a reload that changes [fleet]: the Redis connection,
// the member's name and the shared cache's listener are set up at start,
// and a change taken silently would not be in force.
func sameFleet(old, cfg *config.File) error {
	if !reflect.DeepEqual(old.Fleet, cfg.Fleet) {
		return fmt.Errorf("[fleet] cannot change on reload; restart ferry for that")
	}
	return nil
}

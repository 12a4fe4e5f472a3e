package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	_ "time/tzdata" // acl time zones work on hosts without a zoneinfo database

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/auth"
	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// policy is what start and every reload build from a config, all or
// nothing: the engine's policy (rules with their lists, users, listener
// auth) and the block page.
type policy struct {
	tunnel *tunnel.Policy
	page   *connect.BlockPage
	acl    *acl.Policy
}

// buildPolicy assembles the engine's policy and the block page from cfg,
// which Load has compiled (rules, routing, users, block page): start and
// every reload build one, all or nothing, so a reload never runs half a
// policy.
func buildPolicy(cfg *config.File, log zerolog.Logger) (*policy, error) {
	if cfg.ACLFromDefault {
		log.Info().Msg("acl: the config has no [acl] table; using the rules of config.toml.example")
	}
	for _, l := range cfg.Lists {
		log.Info().Str("list", l.Path).Int("entries", l.Stats.Entries).Int("skipped", l.Stats.Skipped).
			Int("first_skipped_line", l.Stats.FirstSkipped).Int("bytes", l.Bytes).Dur("took", l.Took).Msg("domain list")
	}
	p := &policy{
		tunnel: &tunnel.Policy{ACL: cfg.Rules, Listeners: map[string]tunnel.ListenerPolicy{}, Limits: cfg.LimitSet},
		page:   cfg.BlockPage,
		acl:    cfg.Rules,
	}
	if err := buildRoutes(cfg, p.tunnel, log); err != nil {
		return nil, err
	}
	for _, l := range cfg.Listeners {
		p.tunnel.Listeners[l.Name] = l.ListenerPolicy
	}
	if cfg.Users != nil {
		p.tunnel.Users = cfg.Users
		warnUnknownUsers(cfg, cfg.Users, log)
		lo, hi := cfg.Users.Costs()
		log.Info().Int("users", cfg.Users.Len()).Int("bcrypt_cost", hi).Msg("auth")
		if lo != hi {
			log.Warn().Int("lowest", lo).Int("highest", hi).Msg("auth: the users' bcrypt costs differ; " +
				"every failed login pays the highest, so that timing tells no user name: rehash at one cost")
		}
	}
	return p, nil
}

// buildRoutes makes the routing table of cfg, which Load compiled, with
// the environment's proxies (for routes to env). Without chaining
// p.Routes stays nil: every request goes direct.
func buildRoutes(cfg *config.File, p *tunnel.Policy, log zerolog.Logger) error {
	spec := cfg.RoutingSpec
	if spec == nil {
		return nil
	}
	spec.Env = tunnel.ProxyEnvFrom(os.Getenv)
	rt, err := tunnel.NewRoutes(*spec)
	if err != nil {
		return fmt.Errorf("routing: %w", err)
	}
	p.Routes = rt
	log.Info().Int("upstreams", len(cfg.Upstreams)).Int("groups", len(cfg.Groups)).Int("routes", len(cfg.Routes)).
		Str("default", spec.Default).Msg("routing")
	if usesEnv(cfg) {
		e := spec.Env
		log.Info().Str("https", redactProxy(e.HTTPS)).Str("https_from", e.HTTPSFrom).Str("http", redactProxy(e.HTTP)).
			Str("http_from", e.HTTPFrom).Str("no_proxy", e.NoProxy).Msg("routing: proxies from the environment")
	}
	return nil
}

// usesEnv reports whether a route, or the default, goes to env.
func usesEnv(cfg *config.File) bool {
	if cfg.Routing.Default == tunnel.ToEnv {
		return true
	}
	for _, r := range cfg.Routes {
		if r.Upstream == tunnel.ToEnv {
			return true
		}
	}
	return false
}

// redactProxy hides a password in a proxy variable's value.
func redactProxy(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// upstreamLog logs upstreams going down and coming back.
func upstreamLog(log zerolog.Logger) func(tunnel.UpstreamEvent) {
	return func(ev tunnel.UpstreamEvent) {
		if ev.Up {
			log.Info().Str("upstream", ev.Name).Msg("upstream up")
			return
		}
		log.Warn().Str("upstream", ev.Name).Str("reason", ev.Reason).Dur("left_out", ev.For).Msg("upstream down")
	}
}

// warnUnknownUsers logs group members and rule users that no user
// database knows: a typo, or a user removed from htpasswd. Not an error,
// so that removing a user does not stop reloads.
func warnUnknownUsers(cfg *config.File, users *auth.Users, log zerolog.Logger) {
	for g, members := range cfg.Auth.Groups {
		for _, m := range members {
			if !users.Has(m) {
				log.Warn().Str("group", g).Str("user", m).Msg("auth: group member is not a user")
			}
		}
	}
	for _, r := range cfg.ACL.Rules {
		for _, u := range r.User {
			if !users.Has(u) {
				log.Warn().Str("rule", r.Name).Str("user", u).Msg("acl: rule names a user that does not exist")
			}
		}
	}
}

// listenerContexts gives each listener's connections a context naming
// it, which the front ends use to find its auth policy.
func listenerContexts(cfg *config.File, lns []net.Listener) func(net.Listener) context.Context {
	names := make(map[net.Listener]string, len(lns))
	for i, ln := range lns {
		names[ln] = cfg.Listeners[i].Name
	}
	return func(ln net.Listener) context.Context {
		return tunnel.WithListener(context.Background(), names[ln])
	}
}

// sameListeners refuses a reload that changes the listeners: they are
// bound at start, and their auth is looked up by name, so a renamed
// listener would silently lose its settings.
func sameListeners(old, cfg *config.File) error {
	same := len(old.Listeners) == len(cfg.Listeners)
	for i := 0; same && i < len(old.Listeners); i++ {
		o, n := old.Listeners[i], cfg.Listeners[i]
		same = o.Name == n.Name && o.Address == n.Address && o.Protocol == n.Protocol && (o.TLS == nil) == (n.TLS == nil)
	}
	if !same {
		return fmt.Errorf("listeners (name, address, protocol, tls on or off) cannot change on reload; restart ferry for that")
	}
	return nil
}

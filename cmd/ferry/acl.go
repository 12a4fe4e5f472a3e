package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
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

// buildPolicy compiles cfg's policy, reading its lists, htpasswd file and
// block page (paths relative to the config file's directory). Any failure
// fails it whole, so a reload never runs half a policy. Start, reload and
// ferry check all build it, and its errors name file:line: key: reason.
func buildPolicy(cfg *config.File, log zerolog.Logger) (*policy, error) {
	if cfg.ACLFromDefault {
		log.Info().Msg("acl: the config has no [acl] table; using the rules of config.toml.example")
	}
	lists := map[string]*acl.DomainSet{}
	env := acl.Env{
		Groups: cfg.Auth.Groups,
		LoadList: func(path string) (*acl.DomainSet, error) {
			path = resolve(cfg, path)
			if s, ok := lists[path]; ok {
				return s, nil
			}
			start := time.Now()
			s, st, err := acl.LoadList(path)
			if err != nil {
				return nil, err
			}
			log.Info().Str("list", path).Int("entries", st.Entries).Int("skipped", st.Skipped).
				Int("first_skipped_line", st.FirstSkipped).Int("bytes", s.Bytes()).
				Dur("took", time.Since(start)).Msg("domain list")
			lists[path] = s
			return s, nil
		},
	}
	rules, err := acl.Compile(cfg.ACL, env)
	if err != nil {
		return nil, cfg.At("acl", err)
	}
	p := &policy{tunnel: &tunnel.Policy{ACL: rules, Listeners: map[string]tunnel.ListenerPolicy{}}, acl: rules}
	if err := buildRoutes(cfg, env, p.tunnel, log); err != nil { // chain.go
		return nil, err
	}
	for _, l := range cfg.Listeners {
		p.tunnel.Listeners[l.Name] = tunnel.ListenerPolicy{Auth: l.Auth, SOCKS4Auth: l.SOCKS4Auth}
	}
	if cfg.Auth.Htpasswd != "" || len(cfg.Auth.Users) > 0 {
		htpasswd := ""
		if cfg.Auth.Htpasswd != "" {
			htpasswd = resolve(cfg, cfg.Auth.Htpasswd)
		}
		users, err := auth.Load(cfg.Auth, htpasswd)
		if err != nil {
			key := "auth.user"
			if htpasswd != "" {
				key = "auth.htpasswd"
			}
			return nil, cfg.At(key, err)
		}
		p.tunnel.Users = users
		warnUnknownUsers(cfg, users, log)
		log.Info().Int("users", users.Len()).Msg("auth")
	}
	if cfg.ACL.BlockPage != "" {
		path := resolve(cfg, cfg.ACL.BlockPage)
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, cfg.At("acl.block_page", err)
		}
		if p.page, err = connect.ParseBlockPage(path, string(text)); err != nil {
			return nil, cfg.At("acl.block_page", err)
		}
	}
	return p, nil
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

// resolve makes path relative to the config file's directory.
func resolve(cfg *config.File, path string) string {
	if filepath.IsAbs(path) || cfg.Path == "" || cfg.Path == embeddedName {
		return path
	}
	return filepath.Join(filepath.Dir(cfg.Path), path)
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

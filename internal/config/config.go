package config

import (
	"strconv"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/auth"
	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/fleet"
	"github.com/ferry-proxy/ferry/front"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/admin"
	"github.com/ferry-proxy/ferry/internal/pac"
	"github.com/ferry-proxy/ferry/limit"
	"github.com/ferry-proxy/ferry/reverse"
	"github.com/ferry-proxy/ferry/tunnel"
)

// File is a whole ferry configuration: each table is the Config of the
// package it configures, which states its defaults (SetDefaults) and
// checks it (Validate). config.toml.example documents every key.
type File struct {
	Listeners    []Listener               `toml:"listener"`
	Limits       Limits                   `toml:"limits"`
	HTTP         forward.HTTP             `toml:"http"`
	HTTP2        connect.HTTP2            `toml:"http2"`
	Log          Log                      `toml:"log"`
	Reverse      []reverse.ListenerConfig `toml:"reverse"`
	Cache        cache.Config             `toml:"cache"`
	tunnel.Chain                          // [[upstream]], [[upstream_group]], [[route]], [routing]
	ACL          acl.Config               `toml:"acl"`
	Auth         auth.Config              `toml:"auth"`
	Admin        admin.Config             `toml:"admin"`
	PAC          pac.Config               `toml:"pac"`
	LimitRules   []limit.RuleConfig       `toml:"limit"` // [[limit]]
	Fleet        fleet.Config             `toml:"fleet"`

	// ACLFromDefault is set when the file has no [acl] table: the rules of
	// the embedded config.toml.example apply (see acl.go).
	ACLFromDefault bool `toml:"-"`

	// Path is the file this was loaded from (or the name the embedded
	// default goes by); files it names are relative to its folder.
	Path string `toml:"-"`

	// Built by Load, once, from the tables and the files they name.
	Rules       *acl.Policy         `toml:"-"` // the [acl] rules, domain lists read
	Self        *acl.AddrSet        `toml:"-"` // this host's addresses, which ip = ["self"] names, as read at load
	RoutingSpec *tunnel.RoutingSpec `toml:"-"` // chaining, compiled; nil: every request goes direct
	Users       *auth.Users         `toml:"-"` // nil: no user can log in
	BlockPage   *connect.BlockPage  `toml:"-"` // nil: the built-in one
	LimitSet    *limit.Set          `toml:"-"` // the [[limit]] rules, compiled; nil: none
	Lists       []List              `toml:"-"` // the domain lists read, for the log
	// Warnings are what is valid but probably not meant; ferry check
	// prints them and ferry logs them at start.
	Warnings []string `toml:"-"`
}

// Listener is one [[listener]]: the front listener's settings, the auth
// it asks of clients, and the start check's.
type Listener struct {
	front.ListenerConfig  // name, address, protocol, tls
	tunnel.ListenerPolicy // auth, socks4_auth
	// AllowOpenProxy lets the listener start even if anyone who can reach
	// it may use it; default false.
	AllowOpenProxy bool `toml:"allow_open_proxy"`
}

// Limits is the [limits] table: the limits of each package that applies
// one, and how long a stop waits.
type Limits struct {
	tunnel.Config  // handshake_timeout, dial_timeout, idle_timeout
	connect.Limits // keepalive_timeout, max_header_bytes
	ForwardLimits  // response_timeout
	MuxLimits      // max_conns
	// ShutdownGrace is how long open connections get to finish on SIGTERM
	// before they are closed; default 30s.
	ShutdownGrace time.Duration `toml:"shutdown_grace"`
}

// MuxLimits and ForwardLimits are front.Limits and forward.Limits, named
// apart from connect.Limits so that all three can be embedded in Limits.
type (
	MuxLimits     = front.Limits
	ForwardLimits = forward.Limits
)

// DefaultShutdownGrace is the default of Limits.ShutdownGrace.
const DefaultShutdownGrace = 30 * time.Second

// SetDefaults sets ShutdownGrace; the embedded tables have their own.
func (l *Limits) SetDefaults() { l.ShutdownGrace = DefaultShutdownGrace }

// Log is the [log] table: the server log's level and format, and where
// the access log goes.
type Log struct {
	Level            string `toml:"level"`  // debug, info, warn or error; default info
	Format           string `toml:"format"` // json or console; default json
	accesslog.Config        // access, access_format (default: as format), access_flush
}

// SetDefaults sets Level and Format; the access log has its own.
func (l *Log) SetDefaults() { l.Level, l.Format = "info", accesslog.FormatJSON }

// List is a domain list a rule names, as Load read it.
type List struct {
	Path  string
	Stats acl.ListStats
	Bytes int
	Took  time.Duration
}

// OverrideListeners replaces the listeners with one auto listener per
// address, as the -listen flag does, and checks them as Load would.
func (f *File) OverrideListeners(addrs []string) error {
	ls := make([]Listener, len(addrs))
	var errs Errors
	for i, a := range addrs {
		if err := checkHostPort(a); err != nil {
			errs = append(errs, &Error{File: "-listen", Msg: err.Error()})
		}
		ls[i].SetDefaults()
		ls[i].Name, ls[i].Address = "listen"+strconv.Itoa(i), a
	}
	if len(errs) > 0 {
		return errs
	}
	f.Listeners = ls
	f.checkOpenProxy(func(_, msg string) { errs = append(errs, &Error{File: "-listen", Msg: msg}) })
	if len(errs) > 0 {
		return errs
	}
	return nil
}

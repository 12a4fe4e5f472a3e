package config

import (
	"strconv"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/auth"
	"github.com/ferry-proxy/ferry/internal/pac"
)

// File is a whole ferry configuration. Zero values are filled with the
// defaults documented in config.toml.example.
type File struct {
	Listeners []Listener `toml:"listener"`
	Limits    Limits     `toml:"limits"`
	HTTP      HTTP       `toml:"http"`
	Log       Log        `toml:"log"`
	Reverse   []Reverse  `toml:"reverse"` // reverse.go
	Cache     Cache      `toml:"cache"`   // cache.go

	Upstreams []Upstream      `toml:"upstream"`       // chain.go
	Groups    []UpstreamGroup `toml:"upstream_group"` // chain.go
	Routes    []Route         `toml:"route"`          // chain.go
	Routing   Routing         `toml:"routing"`        // chain.go

	ACL  acl.Config  `toml:"acl"`  // see acl.go
	Auth auth.Config `toml:"auth"` // see acl.go

	// ACLFromDefault is set when the file has no [acl] table: the rules of
	// the embedded config.toml.example apply (see acl.go).
	ACLFromDefault bool `toml:"-"`

	Admin Admin      `toml:"admin"` // see ops.go
	PAC   pac.Config `toml:"pac"`   // see ops.go

	// Path is the file this was loaded from ("" for the embedded default).
	Path string `toml:"-"`
}

// Listener is one front listener.
type Listener struct {
	Name     string `toml:"name"`     // for logs and metrics; default "listener<i>"
	Address  string `toml:"address"`  // host:port; default 127.0.0.1:8080
	Protocol string `toml:"protocol"` // auto | http | socks; default auto

	Auth           bool `toml:"auth"`             // require proxy credentials; default false
	SOCKS4Auth     bool `toml:"socks4_auth"`      // with auth: SOCKS4 USERID is "user:password"; default false (SOCKS4 gets 93)
	AllowOpenProxy bool `toml:"allow_open_proxy"` // start even if anyone who can reach it may use it; default false

	TLS *ListenerTLS `toml:"tls"` // speak the proxy protocols inside TLS; default nil: plaintext (chain.go)
}

// Limits bound what a client can hold.
type Limits struct {
	HandshakeTimeout time.Duration `toml:"handshake_timeout"` // default 10s
	DialTimeout      time.Duration `toml:"dial_timeout"`      // default 10s
	IdleTimeout      time.Duration `toml:"idle_timeout"`      // default 5m; 0 disables
	KeepAliveTimeout time.Duration `toml:"keepalive_timeout"` // default 60s
	ResponseTimeout  time.Duration `toml:"response_timeout"`  // default 0: none
	MaxHeaderBytes   int           `toml:"max_header_bytes"`  // default 65536
	MaxConns         int           `toml:"max_conns"`         // default 10000; 0 is unlimited
	ShutdownGrace    time.Duration `toml:"shutdown_grace"`    // default 30s
}

// HTTP shapes what plain-HTTP forwarding tells origins.
type HTTP struct {
	Forwarded string `toml:"forwarded"` // off | add | strip; default off
	Via       string `toml:"via"`       // pseudonym in Via; default "ferry"
}

// Log configures the logger.
type Log struct {
	Level  string `toml:"level"`  // debug | info | warn | error; default info
	Format string `toml:"format"` // json | console; default json

	Access       string        `toml:"access"`        // stderr | a file path; default stderr (see ops.go)
	AccessFormat string        `toml:"access_format"` // json | console | squid; default: format
	AccessFlush  time.Duration `toml:"access_flush"`  // a file's lines are written together this often; default 100ms; 0: each at once
}

// DefaultAddress is where a fresh ferry listens: loopback only.
const DefaultAddress = "127.0.0.1:8080"

func defaults() File {
	return File{
		Limits: Limits{
			HandshakeTimeout: 10 * time.Second,
			DialTimeout:      10 * time.Second,
			IdleTimeout:      5 * time.Minute,
			KeepAliveTimeout: 60 * time.Second,
			MaxHeaderBytes:   64 << 10,
			MaxConns:         10000,
			ShutdownGrace:    30 * time.Second,
		},
		HTTP:  HTTP{Forwarded: "off", Via: "ferry"},
		Log:   Log{Level: "info", Format: "json", AccessFlush: 100 * time.Millisecond},
		Auth:  auth.Config{CacheTTL: auth.DefaultCacheTTL},
		Cache: defaultCache(),
	}
}

func (f *File) fillDefaults() {
	f.fillOpsDefaults()
	if len(f.Listeners) == 0 {
		f.Listeners = []Listener{{Address: DefaultAddress}}
	}
	for i := range f.Listeners {
		l := &f.Listeners[i]
		if l.Protocol == "" {
			l.Protocol = "auto"
		}
		if l.Address == "" {
			l.Address = DefaultAddress
		}
	}
}

// OverrideListeners replaces the listeners with one auto listener per
// address, as the -listen flag does.
func (f *File) OverrideListeners(addrs []string) error {
	ls := make([]Listener, len(addrs))
	var errs Errors
	for i, a := range addrs {
		if err := checkHostPort(a); err != nil {
			errs = append(errs, &Error{File: "-listen", Msg: err.Error()})
		}
		ls[i] = Listener{Name: "listen" + strconv.Itoa(i), Address: a, Protocol: "auto"}
	}
	if len(errs) > 0 {
		return errs
	}
	f.Listeners = ls
	for _, p := range f.checkOpenProxy() {
		errs = append(errs, &Error{File: "-listen", Msg: p.msg})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

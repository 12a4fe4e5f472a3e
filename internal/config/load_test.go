package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry"
	"github.com/ferry-proxy/ferry/auth"
	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/fleet"
	"github.com/ferry-proxy/ferry/front"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/admin"
	"github.com/ferry-proxy/ferry/internal/pac"
	"github.com/ferry-proxy/ferry/tunnel"
)

// parseErrorTests: each want is one reported problem, in order, as
// "f.toml:LINE: text": the problem must start with f.toml:LINE and
// contain text.
var parseErrorTests = []struct {
	name string
	in   string
	want []string
}{
	{"unknown top-level key", "top = 1\n", []string{"f.toml:1: top: unknown key"}},
	{"unknown key in a table", "[limits]\n\nbogus = 1\n", []string{"f.toml:3: limits.bogus: unknown key"}},
	{"unknown table", "[limitz]\nmax_conns = 1\n", []string{"f.toml:1: limitz: unknown key", "f.toml:2: limitz.max_conns: unknown key"}},
	{"unknown key in a listener", "[[listener]]\naddress = \"127.0.0.1:1\"\n[[listener]]\nadress = \"x\"\n", []string{"f.toml:4: listener.adress: unknown key"}},
	{"wrong type", "[limits]\nmax_conns = \"many\"\n", []string{"f.toml:2: incompatible types"}},
	{"wrong type string", "[log]\nformat = 3\n", []string{"f.toml:2: incompatible types"}},
	{"wrong type table", "listener = 5\n", []string{"f.toml:1: incompatible types"}},
	{"duration as a number", "[limits]\ndial_timeout = 10\n", []string{`f.toml:2: limits.dial_timeout: must be a duration string such as "10s"`}},
	{"bad duration", "[limits]\nidle_timeout = \"soon\"\n", []string{"f.toml:2: invalid duration"}},
	{"syntax error", "[limits\n", []string{"f.toml:2: expected '.' or ']'"}},
	{"negative timeout", "[limits]\ndial_timeout = \"-5s\"\n", []string{"f.toml:2: limits.dial_timeout: must not be negative"}},
	{"negative grace", "[limits]\nshutdown_grace = \"-1s\"\n", []string{"f.toml:2: limits.shutdown_grace: must not be negative"}},
	{"zero handshake timeout", "[limits]\nhandshake_timeout = \"0s\"\n", []string{"f.toml:2: limits.handshake_timeout: must be positive"}},
	{"zero dial timeout", "[limits]\ndial_timeout = \"0s\"\n", []string{"f.toml:2: limits.dial_timeout: must be positive"}},
	{"header bytes too small", "[limits]\nmax_header_bytes = 10\n", []string{"f.toml:2: limits.max_header_bytes: must be between 1024 and 16777216"}},
	{"negative max_conns", "[limits]\nmax_conns = -1\n", []string{"f.toml:2: limits.max_conns: must not be negative"}},
	{"bad address", "[[listener]]\naddress = \"nope\"\n", []string{`f.toml:2: listener[0].address: bad address "nope"`}},
	{"bad port", "[[listener]]\naddress = \"127.0.0.1:99999\"\n", []string{`f.toml:2: listener[0].address: bad port`}},
	{"bad host", "[[listener]]\naddress = \"a b:80\"\n", []string{`f.toml:2: listener[0].address: bad host`}},
	{"bad protocol", "[[listener]]\nprotocol = \"ftp\"\n", []string{`f.toml:2: listener[0].protocol: must be auto, http or socks, not "ftp"`}},
	{"duplicate listener name", "[[listener]]\nname = \"a\"\n[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n", []string{`f.toml:4: listener[1].name: duplicate listener name "a"`}},
	{"bad forwarded", "[http]\nforwarded = \"maybe\"\n", []string{`f.toml:2: http.forwarded: must be off, add or strip, not "maybe"`}},
	{"bad via", "[http]\nvia = \"my proxy\"\n", []string{`f.toml:2: http.via: must be one token`}},
	{"zero streams", "[http2]\nmax_concurrent_streams = 0\n", []string{`f.toml:2: http2.max_concurrent_streams: must be between 1 and 10000`}},
	{"tiny stream window", "[http2]\nstream_window = 1000\n", []string{`f.toml:2: http2.stream_window: must be between 65535`}},
	{"conn window under stream window", "[http2]\nstream_window = 1048576\nconn_window = 524288\n",
		[]string{`f.toml:3: http2.conn_window: must be at least stream_window`}},
	{"bad http2_conns", "[[upstream]]\nname = \"p\"\nurl = \"https://127.0.0.1:1\"\nhttp2_conns = 0\n",
		[]string{`f.toml:4: upstream[0].http2_conns: must be between 1 and 64`}},
	{"bad log level", "[log]\nlevel = \"loud\"\n", []string{`f.toml:2: log.level: must be debug, info, warn or error, not "loud"`}},
	{"bad log format", "[log]\nformat = \"xml\"\n", []string{`f.toml:2: log.format: must be json or console, not "xml"`}},
	{"several problems, all reported",
		"surprise = true\n" +
			"[[listener]]\naddress = \"nope\"\nprotocol = \"ftp\"\n" +
			"[[listener]]\naddress = \"127.0.0.1:99999\"\n" +
			"[limits]\ndial_timeout = \"-1s\"\n" +
			"[http]\nforwarded = \"maybe\"\n" +
			"[log]\nlevel = \"loud\"\n",
		[]string{
			"f.toml:1: surprise: unknown key",
			"f.toml:3: listener[0].address: bad address",
			"f.toml:4: listener[0].protocol: must be",
			"f.toml:6: listener[1].address: bad port",
			"f.toml:8: limits.dial_timeout: must not be negative",
			"f.toml:10: http.forwarded: must be",
			"f.toml:12: log.level: must be",
		}},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range parseErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("f.toml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", f)
			}
			if f != nil {
				t.Errorf("Parse returned a config with its error")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want config.Errors", err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("%d problems reported, want %d:\n%v", len(es), len(tt.want), err)
			}
			for i, want := range tt.want {
				loc, text, _ := strings.Cut(want, ": ")
				if got := es[i].Error(); !strings.HasPrefix(got, loc+": ") || !strings.Contains(got, text) {
					t.Errorf("problem %d = %q, want %q at %s", i, got, text, loc)
				}
			}
		})
	}
}

// The documented defaults, as config.toml.example states them, written
// out here rather than taken from the packages' SetDefaults: a default
// that changes must change here too.
func documented(path string) *File {
	plain := true
	return &File{
		Listeners: []Listener{listener("main", "127.0.0.1:8080", "auto")},
		Limits: Limits{
			Config: tunnel.Config{HandshakeTimeout: 10 * time.Second, DialTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute,
				BindTimeout: time.Minute, UDP: tunnel.UDPConfig{IdleTimeout: 2 * time.Minute, MaxAssociations: 1000,
					MaxPerClient: 32, MaxDestinations: 256}},
			Limits:        connect.Limits{KeepAliveTimeout: 60 * time.Second, MaxHeaderBytes: 65536},
			ForwardLimits: forward.Limits{ResponseTimeout: 0},
			MuxLimits:     front.Limits{MaxConns: 10000},
			ShutdownGrace: 30 * time.Second,
		},
		HTTP:  forward.HTTP{Forwarded: "off", ViaName: "ferry"},
		HTTP2: connect.HTTP2{Enabled: true, MaxConcurrentStreams: 100, StreamWindow: 512 << 10, ConnWindow: 16 << 20},
		Log:   Log{Level: "info", Format: "json", Config: accesslog.Config{Access: "stderr", Format: "json", Flush: 100 * time.Millisecond}},
		ACL:   defaultACL(),
		Auth:  auth.Config{CacheTTL: 5 * time.Minute, Throttle: auth.Throttle{ClientFailures: 30, ClientChecks: 2, UserFailures: 10}},
		Cache: cache.Config{MemoryBytes: 64 << 20, DiskBytes: 1 << 30, MaxObjectSize: 16 << 20, StaleIfUnreachable: 24 * time.Hour},
		Chain: tunnel.Chain{Routing: tunnel.RoutingConfig{Default: "direct"}},
		Admin: admin.Config{Pprof: true},
		PAC:   pac.Config{Direct: []string{}, PlainHostsDirect: &plain},
		Fleet: fleet.Config{Timeout: 5 * time.Millisecond, Prefix: "ferry:"},
		Path:  path,
	}
}

func listener(name, addr string, proto front.Protocol) Listener {
	return Listener{ListenerConfig: front.ListenerConfig{Name: name, Address: addr, Protocol: proto}}
}

// tables is f without what Load builds from its tables, which it checks
// is there.
func tables(t *testing.T, f *File) *File {
	t.Helper()
	if f.Rules == nil {
		t.Error("the rules were not compiled")
	}
	g := *f
	g.Rules, g.Self, g.RoutingSpec, g.Users, g.BlockPage, g.Lists, g.Warnings = nil, nil, nil, nil, nil, nil, nil
	return &g
}

func TestEmbeddedDefault(t *testing.T) {
	f, err := Parse("embedded", ferry.DefaultConfig)
	if err != nil {
		t.Fatalf("the embedded default does not parse: %v", err)
	}
	if want := documented("embedded"); !reflect.DeepEqual(tables(t, f), want) {
		t.Errorf("embedded default =\n%+v\nwant\n%+v", f, want)
	}
}

// An empty file is the same config (bar the listener's name): every key in
// the example is its default.
func TestEmptyFileIsDefault(t *testing.T) {
	f, err := Parse("empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := documented("empty.toml")
	want.Listeners[0].Name = "listener0"
	want.ACLFromDefault = true // the example's rules, taken because the file has no [acl]
	if f := tables(t, f); !reflect.DeepEqual(f, want) {
		t.Errorf("empty file =\n%+v\nwant\n%+v", f, want)
	}
}

func TestListenerDefaults(t *testing.T) {
	f, err := Parse("f.toml", []byte("[[listener]]\nprotocol = \"socks\"\n[[listener]]\naddress = \"[::1]:1080\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		listener("listener0", front.DefaultAddress, "socks"),
		listener("listener1", "[::1]:1080", "auto"),
	}
	if !reflect.DeepEqual(f.Listeners, want) {
		t.Errorf("listeners = %+v, want %+v", f.Listeners, want)
	}
}

func TestOverrideListeners(t *testing.T) {
	f, err := Parse("", ferry.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.OverrideListeners([]string{"127.0.0.1:0", "[::1]:9000"}); err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		listener("listen0", "127.0.0.1:0", "auto"),
		listener("listen1", "[::1]:9000", "auto"),
	}
	if !reflect.DeepEqual(f.Listeners, want) {
		t.Errorf("listeners = %+v, want %+v", f.Listeners, want)
	}

	err = f.OverrideListeners([]string{"127.0.0.1:1", "nope", "127.0.0.1:70000"})
	if err == nil {
		t.Fatal("bad -listen accepted")
	}
	msg := err.Error()
	if strings.Count(msg, "-listen: ") != 2 || !strings.Contains(msg, `"nope"`) || !strings.Contains(msg, "70000") {
		t.Errorf("error %q, want both bad addresses named, attributed to -listen", msg)
	}
	if !reflect.DeepEqual(f.Listeners, want) {
		t.Errorf("a refused override changed the listeners to %+v", f.Listeners)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferry.toml")
	if err := os.WriteFile(path, []byte("[limits]\n\nmax_conns = -5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":3: limits.max_conns:") {
		t.Errorf("Load = %v, want it to start with %s:3: limits.max_conns:", err, path)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want ErrNotExist", err)
	}
}

// FuzzParse: no input panics, and what is accepted is valid.
func FuzzParse(f *testing.F) {
	f.Add(ferry.DefaultConfig)
	for _, tt := range parseErrorTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg, err := Parse("fuzz.toml", in)
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.toml") {
					t.Fatalf("problem %q does not name the file", line)
				}
			}
			return
		}
		if len(cfg.Listeners) == 0 {
			t.Fatal("accepted with no listener")
		}
		for _, l := range cfg.Listeners {
			if checkHostPort(l.Address) != nil || (l.Protocol != "auto" && l.Protocol != "http" && l.Protocol != "socks") {
				t.Fatalf("accepted bad listener %+v", l)
			}
		}
		if cfg.Limits.HandshakeTimeout <= 0 || cfg.Limits.DialTimeout <= 0 || cfg.Limits.IdleTimeout < 0 {
			t.Fatalf("accepted bad limits %+v", cfg.Limits)
		}
	})
}

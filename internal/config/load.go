package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Error is a problem at a place in a config file.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted path such as listener[0].address
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		return controls.Replace(fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg))
	}
	return controls.Replace(fmt.Sprintf("%s: %s", loc, e.Msg))
}

// controls escapes the line breaks toml quotes from the input, so that
// Errors stays one problem per line.
var controls = strings.NewReplacer("\n", `\n`, "\r", `\r`)

// Errors is every problem found in one file.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads and validates the file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes data (named name in errors) strictly, fills defaults and
// validates. Every problem found is returned, not only the first.
func Parse(name string, data []byte) (*File, error) {
	f := defaults()
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, Errors{decodeError(name, err)}
	}
	lines := indexLines(string(data))
	var errs Errors
	for _, k := range md.Undecoded() {
		errs = append(errs, &Error{File: name, Line: lines.find(k.String()), Key: k.String(), Msg: "unknown key"})
	}
	// toml reads a bare integer into a time.Duration as nanoseconds:
	// dial_timeout = 10 would be 10ns. Only a duration string is clear.
	for _, k := range durationKeys {
		if md.Type(strings.Split(k, ".")...) == "Integer" {
			errs = append(errs, &Error{File: name, Line: lines.find(k), Key: k, Msg: `must be a duration string such as "10s", not a bare number`})
		}
	}
	f.fillDefaults()
	if !md.IsDefined("acl") {
		f.ACL, f.ACLFromDefault = defaultACL(), true
	}
	f.Path = name // validate reads files relative to it
	for _, p := range f.validate() {
		errs = append(errs, &Error{File: name, Line: lines.find(p.key), Key: p.key, Msg: p.msg})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &f, nil
}

func decodeError(name string, err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: name, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
	}
	var ppe *toml.ParseError
	if errors.As(err, &ppe) {
		return &Error{File: name, Line: ppe.Position.Line, Key: ppe.LastKey, Msg: ppe.Message}
	}
	// Type mismatches come as "toml: line N (last key "k"): msg".
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	line, key := 0, ""
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		n := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if n > 0 {
			line, _ = strconv.Atoi(rest[:n])
			if i := strings.Index(rest, "): "); i >= 0 {
				msg = rest[i+3:]
				if k, ok := strings.CutPrefix(rest[n:i], ` (last key "`); ok {
					key = strings.TrimSuffix(k, `"`)
				}
			}
		}
	}
	return &Error{File: name, Line: line, Key: key, Msg: msg}
}

type problem struct{ key, msg string }

// durationKeys are the keys decoded into a time.Duration.
var durationKeys = []string{
	"limits.handshake_timeout", "limits.dial_timeout", "limits.idle_timeout",
	"limits.keepalive_timeout", "limits.response_timeout", "limits.shutdown_grace",
	"log.access_flush",
}

func (f *File) validate() []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	names := map[string]bool{}
	for i := range f.Listeners {
		l := &f.Listeners[i]
		key := fmt.Sprintf("listener[%d]", i)
		if l.Name == "" {
			l.Name = fmt.Sprintf("listener%d", i)
		}
		if names[l.Name] {
			add(key+".name", "duplicate listener name %q", l.Name)
		}
		names[l.Name] = true
		if err := checkHostPort(l.Address); err != nil {
			add(key+".address", "%v", err)
		}
		switch l.Protocol {
		case "auto", "http", "socks":
		default:
			add(key+".protocol", "must be auto, http or socks, not %q", l.Protocol)
		}
	}
	lim := f.Limits
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"limits.handshake_timeout", lim.HandshakeTimeout},
		{"limits.dial_timeout", lim.DialTimeout},
		{"limits.idle_timeout", lim.IdleTimeout},
		{"limits.keepalive_timeout", lim.KeepAliveTimeout},
		{"limits.response_timeout", lim.ResponseTimeout},
		{"limits.shutdown_grace", lim.ShutdownGrace},
	} {
		if d.v < 0 {
			add(d.key, "must not be negative")
		}
	}
	if lim.HandshakeTimeout == 0 {
		add("limits.handshake_timeout", "must be positive: every client read needs a deadline")
	}
	if lim.DialTimeout == 0 {
		add("limits.dial_timeout", "must be positive")
	}
	if lim.MaxHeaderBytes < 1024 || lim.MaxHeaderBytes > 16<<20 {
		add("limits.max_header_bytes", "must be between 1024 and 16777216, not %d", lim.MaxHeaderBytes)
	}
	if lim.MaxConns < 0 {
		add("limits.max_conns", "must not be negative")
	}
	switch f.HTTP.Forwarded {
	case "off", "add", "strip":
	default:
		add("http.forwarded", "must be off, add or strip, not %q", f.HTTP.Forwarded)
	}
	if f.HTTP.Via == "" || strings.ContainsAny(f.HTTP.Via, " \t\r\n,;()\"") {
		add("http.via", "must be one token (letters, digits, -._), not %q", f.HTTP.Via)
	}
	ps = append(ps, f.validateOps()...)
	switch f.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, not %q", f.Log.Level)
	}
	switch f.Log.Format {
	case "json", "console":
	default:
		add("log.format", "must be json or console, not %q", f.Log.Format)
	}
	ps = append(ps, f.validateReverse()...)
	ps = append(ps, validateCache(&f.Cache)...)
	ps = append(ps, f.validateChain(filepath.Dir(f.Path))...)
	return append(ps, f.validateACL()...)
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad address %q: want host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port in %q", addr)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /\\") {
		return fmt.Errorf("bad host in %q", addr)
	}
	return nil
}

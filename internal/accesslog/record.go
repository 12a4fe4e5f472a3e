package accesslog

import (
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// Record is one access event. Front ends create it, the engine fills in the
// decision and the dial, and Finish writes it.
type Record struct {
	ID          string
	Start       time.Time
	Proto       string // connect, http, socks5, socks4, tcp, tls
	Client      netip.AddrPort
	User        string
	Method      string
	Target      string // host:port asked for
	URL         string // plain HTTP only
	Rule        string
	Decision    string // allow or deny
	Route       string // direct, or the route's name
	Upstream    string // upstream that served, "" when direct
	Dialed      string // ip:port connected to, or the last one tried when DialFailed
	DialFailed  bool   // no address tried answered (refused, unreachable, timed out)
	Status      int    // HTTP status, or SOCKS reply code
	ProxyStatus string // RFC 9209 error type
	Cache       string
	BytesUp     int64
	BytesDown   int64
	Dial        time.Duration
	Err         error
	// Version is the client's HTTP version when it is not HTTP/1: "h2"
	// for a request on an HTTP/2 stream; "" for HTTP/1.x and SOCKS.
	Version string

	// Packets is what a datagram association (SOCKS5 UDP ASSOCIATE,
	// CONNECT-UDP) moved and dropped; nil for everything else.
	Packets *tunnel.PacketStats
	// Refused counts the connections from others than the expected peer
	// that a SOCKS5 BIND turned away.
	Refused int

	sink Sink
	done atomic.Bool
}

// Sink writes finished records.
type Sink interface{ Write(r *Record) }

var nextID atomic.Uint64

// Start opens a record for a request from client.
func Start(sink Sink, proto string, client netip.AddrPort) *Record {
	return &Record{
		ID:     strconv.FormatUint(nextID.Add(1), 36),
		Start:  time.Now(),
		Proto:  proto,
		Client: client,
		sink:   sink,
	}
}

// Drop ends the record without writing it: a connection that asked for
// nothing (a balancer's connect-and-close health check) is no request.
// Later calls to Finish do nothing.
func (r *Record) Drop() {
	if r != nil {
		r.done.Store(true)
	}
}

// Finish writes the record once; later calls do nothing.
func (r *Record) Finish() {
	if r == nil || r.sink == nil || r.done.Swap(true) {
		return
	}
	r.sink.Write(r)
}

// Zerolog writes records as zerolog events with message "access".
type Zerolog struct{ Log zerolog.Logger }

// Write emits the fixed field set.
func (z Zerolog) Write(r *Record) {
	level := zerolog.InfoLevel
	var client [len("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%zone]:65535") + 16]byte
	e := z.Log.WithLevel(level).
		Str("id", r.ID).
		Str("proto", r.Proto).
		Bytes("client", appendAddrPort(client[:0], r.Client)). // no string per record
		Str("user", r.User).
		Str("method", r.Method).
		Str("target", r.Target).
		Str("url", r.URL).
		Str("rule", r.Rule).
		Str("decision", r.Decision).
		Str("route", r.Route).
		Str("upstream", r.Upstream).
		Str("dialed", r.Dialed).
		Int("status", r.Status).
		Str("proxy_status", r.ProxyStatus).
		Str("cache", r.Cache).
		Int64("bytes_up", r.BytesUp).
		Int64("bytes_down", r.BytesDown).
		Int64("dial_ms", r.Dial.Milliseconds()).
		Int64("dur_ms", time.Since(r.Start).Milliseconds())
	if p := r.Packets; p != nil {
		e = appendPackets(e, p)
	}
	if r.Version != "" {
		e = e.Str("http_version", r.Version)
	}
	if r.Refused > 0 {
		e = e.Int("refused", r.Refused)
	}
	if r.Err != nil {
		e = e.Str("err", r.Err.Error())
	}
	e.Msg("access")
}

// appendPackets adds an association's fields: how many destinations and
// the first few, datagrams each way (bytes are bytes_up and bytes_down),
// the destinations the ACL denied, and the datagrams dropped, in all and
// by reason (only the reasons that occurred).
func appendPackets(e *zerolog.Event, p *tunnel.PacketStats) *zerolog.Event {
	e = e.Int("dests", p.Dests).
		Strs("dest_list", p.First).
		Int64("dgrams_up", p.DgramsUp).
		Int64("dgrams_down", p.DgramsDown).
		Int("denied", p.Denied).
		Int64("dropped", p.DroppedTotal())
	if p.DroppedTotal() == 0 {
		return e
	}
	d := zerolog.Dict()
	for _, reason := range tunnel.Drops() {
		if n := p.Dropped[reason]; n > 0 {
			d = d.Int64(reason.String(), n)
		}
	}
	return e.Dict("drops", d)
}

// appendAddrPort appends ap as ap.String() writes it.
func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(b, ap.String()...)
	}
	return ap.AppendTo(b)
}

package connect

import "fmt"

// HTTP2 is [http2]: HTTP/2 from clients on the TLS listeners (RFC 9113).
// Every stream is a request of its own, with the same credentials check,
// ACL, routing and access log as an HTTP/1.1 one; these keys bound what
// one connection may hold. Its idle connections close after
// limits.keepalive_timeout, and its header lists are bounded by
// limits.max_header_bytes, as HTTP/1.1's.
type HTTP2 struct {
	// Enabled offers h2 by ALPN on the TLS listeners that speak HTTP
	// (protocol auto or http), before http/1.1; default true.
	Enabled bool `toml:"enabled"`
	// MaxConcurrentStreams is how many streams (tunnels and requests) one
	// client connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS);
	// more are refused. Default 100.
	MaxConcurrentStreams int `toml:"max_concurrent_streams"`
	// StreamWindow is how many bytes of one stream's upload ferry holds
	// before its reader takes them (the stream's flow-control window): a
	// tunnel whose target stops reading holds this, and what its reader
	// took ahead (64 KiB at most). Default 512 KiB.
	StreamWindow int `toml:"stream_window"`
	// ConnWindow is how many bytes of uploads ferry holds for one client
	// connection, all its streams together (the connection's flow-control
	// window): with each stream's reader's 64 KiB at most, the bound on
	// what a connection can make ferry buffer. The
	// other streams of a connection keep moving until ConnWindow /
	// StreamWindow of its streams have stalled. Default 16 MiB.
	ConnWindow int `toml:"conn_window"`
}

// Defaults of HTTP2.
const (
	DefaultMaxConcurrentStreams = 100
	DefaultStreamWindow         = 512 << 10
	DefaultConnWindow           = 16 << 20
)

// h2FrameSize is the largest frame ferry reads from a client
// (SETTINGS_MAX_FRAME_SIZE, RFC 9113 §4.2, §6.5.2): the protocol's
// initial 16 KiB. A larger one would cost more than it saves here: x/net's
// client sizes every stream's upload buffer from it (up to 512 KiB held
// for a tunnel's life: 241 KiB an idle stream at 256 KiB, 35 at 16), and
// the connection's frame reader keeps its largest buffer. ferry as a
// child reads large frames from its parent (tunnel's h2FrameSize).
const h2FrameSize = 16 << 10

// SetDefaults sets every field to its default.
func (h *HTTP2) SetDefaults() {
	*h = HTTP2{Enabled: true, MaxConcurrentStreams: DefaultMaxConcurrentStreams,
		StreamWindow: DefaultStreamWindow, ConnWindow: DefaultConnWindow}
}

// Validate reports each bad field to report, by its key.
func (h *HTTP2) Validate(report func(key, msg string)) {
	if h.MaxConcurrentStreams < 1 || h.MaxConcurrentStreams > 10000 {
		report("max_concurrent_streams", fmt.Sprintf("must be between 1 and 10000, not %d", h.MaxConcurrentStreams))
	}
	// RFC 9113 §6.9.1: a window is at most 2^31-1; below the initial
	// 65535 the connection would start over its own limit.
	const minWindow, maxWindow = 65535, 1<<31 - 1
	if h.StreamWindow < minWindow || h.StreamWindow > maxWindow {
		report("stream_window", fmt.Sprintf("must be between %d and %d, not %d", minWindow, maxWindow, h.StreamWindow))
	}
	if h.ConnWindow < minWindow || h.ConnWindow > maxWindow {
		report("conn_window", fmt.Sprintf("must be between %d and %d, not %d", minWindow, maxWindow, h.ConnWindow))
	} else if h.ConnWindow < h.StreamWindow {
		report("conn_window", fmt.Sprintf("must be at least stream_window (%d): one stalled stream would stop the connection", h.StreamWindow))
	}
}

// Package socks is ferry's SOCKS server (flow step 2 for SOCKS): SOCKS5
// (RFC 1928) CONNECT to IPv4, IPv6 and domain names resolved by ferry, and
// SOCKS4/4a CONNECT. The handshake reads through a pooled buffer; what the
// client sent past its request is written to the target before the relay
// starts, and the relay gets the conn the front mux handed over (on Linux
// the raw *net.TCPConn), so it can splice.
package socks

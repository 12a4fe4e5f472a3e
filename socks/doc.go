// Package socks is ferry's SOCKS server (flow step 2 for SOCKS): SOCKS5
// (RFC 1928) CONNECT to IPv4, IPv6 and domain names resolved by ferry, and
// SOCKS4/4a CONNECT. Parsers read exact field sizes from the conn, never
// ahead, so the relay gets the raw *net.TCPConn and can splice.
package socks

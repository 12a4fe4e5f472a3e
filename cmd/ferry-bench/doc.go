// Command ferry-bench measures an HTTP/SOCKS proxy (ferry or any other)
// against direct connections in the same run. It runs its own loopback
// origins and reports each figure next to its direct baseline and as the
// ratio proxy/direct:
//
//   - bulk: throughput of 1 and 8 parallel tunnels, CONNECT and SOCKS5,
//     upload and download;
//   - setup: tunnels per second at concurrency -c (open, 1-byte echo, close)
//     with p50/p99/p99.9 latency;
//   - http: plain-proxy keep-alive GETs of a 1 KiB object at concurrency -c;
//   - idle: RSS and fds of the proxy's process per idle tunnel, and whether
//     both return after the tunnels close;
//   - udp: datagrams through SOCKS5 UDP ASSOCIATE against straight to a UDP
//     echo origin: round trips per second and latency, datagrams per second
//     with a window in flight, and RSS and fds per idle association.
//
// It imports nothing from ferry. With -merge it instead reads -json outputs
// and prints one markdown comparison table (bench/compare.sh uses that).
package main

// Package accesslog holds the one access-log schema: a Record per plain-HTTP
// request, per tunnel or per datagram association, written once by Finish
// (flow step 7). A front end opens the record, copies into it what the
// engine decided (Note, from a tunnel.Outcome) and how the request failed
// (Fail), and finishes it; the sinks write it as JSON, console text or
// Squid's format (squid.go), and the metrics read it (Outcome,
// CacheResult).
package accesslog

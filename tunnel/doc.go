// Package tunnel is ferry's engine, shared by every front end (connect,
// socks, reverse): flow steps 3, 5 and 6 of a connection.
//
// A front end parses its protocol into a Request and asks the engine:
//
//   - Authenticate: who the client is (auth.go, limiter.go);
//   - Authorize: the ACL's verdict by name, port, user and client, before
//     any DNS (authorize.go); AuthorizeAddr for an address met later;
//   - Open, or Route then Dial: the route ([[route]] rules: direct, an
//     upstream or a group of them, route.go) and the dial, directly with
//     the ACL asked again on every address connected to, or through
//     upstreams (upstream*.go), tried in turn by Failover with passive and
//     active health (health.go);
//   - Start: copy bytes both ways between two Streams, spliced
//     between TCP sockets (relay*.go, park_linux.go).
//
// Each call takes the request's context and returns what it decided as an
// Outcome (rule, decision, route, upstream, dialed address); the front end
// copies that into its access record. The engine writes no log and does
// not know which front end called it. A failure is an error whose Kind
// (errors.go) picks the answer from the one table in status.go.
//
// A stream need not be a socket (an HTTP/2 stream will do); datagrams
// meet the ACL through AuthorizeAddr, one destination at a time.
package tunnel

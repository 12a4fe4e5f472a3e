// Package tunnel is ferry's engine, shared by every front end: it authorizes
// a Request against the policy, routes it (route.go: direct, an upstream
// proxy or a group of them, chosen by ordered [[route]] rules), dials the
// target (directly, with the ACL checked on every address actually dialed,
// or through upstreams: upstream*.go, with passive and active health in
// health.go and chain.go), and relays bytes both ways.
//
// Flow step 3 (Authorize), 5 (Dial) and 6 (Relay) of a connection; the front
// ends (connect, socks) do the parsing and the replies, using Kind to pick a
// status code from the one table in status.go.
package tunnel

// Package limit applies the [[limit]] rules (issue 18 item 2): how many
// tunnels a user, a client address or a rule may have open at once, how
// many requests or tunnels it may open in a time window, and how many
// bytes it may move in a day or a month. A rule picks the requests it
// counts with the ACL's matchers (acl.MatchSet); every rule that matches
// a request applies.
//
// Its step in the flow: the engine asks Limiter.Admit after the ACL
// allowed a request and before it dials (tunnel.Engine.Open, Bind and
// Associate; the plain-HTTP front end for each request). A request over a limit is refused with an
// *Exceeded (429 with Retry-After, SOCKS5 0x02). An admitted request holds
// a Ticket until it ends: its tunnel slots, and a Meter the relay counts
// bytes into as they move; a flusher outside the relay's loop adds them
// to the quotas in batches and ends the tunnels of a quota that is spent.
//
// Counters live in a Store: in process (memStore) by default, or shared
// by a fleet of ferries (Redis, in package fleet). With a shared store,
// each rule says what happens while it cannot be reached: fail open (the
// in-process store stands in, so each ferry still limits on its own) or
// closed (refused).
package limit

// Package front is the front listener (flow step 1): it accepts, peeks at
// the first byte under a deadline to tell SOCKS from HTTP, and hands the
// connection, with nothing consumed, to the protocol's Handler. It also
// counts connections, refuses those over the limit, and drains on shutdown.
package front

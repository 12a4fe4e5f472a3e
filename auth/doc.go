// Package auth holds ferry's proxy users: bcrypt hashes from an htpasswd
// file or inline in the config, a failed check costing the same work
// whoever the user, with successful checks cached briefly so a keep-alive
// client does not pay bcrypt on every request. The engine asks it (flow
// step 2, before the ACL) through tunnel.Authenticator, and limits
// failures by its Throttle (tunnel/limiter.go).
package auth

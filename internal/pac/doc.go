// Package pac generates the proxy auto-config file browsers and operating
// systems fetch to find ferry: a JavaScript FindProxyForURL that sends the
// destinations listed as browser bypasses DIRECT and everything else to
// ferry. It is built from ferry's config, never written by hand, and is
// served at /proxy.pac (and /wpad.dat) on the proxy port and the admin
// listener. It is outside the request flow: a page ferry serves itself.
package pac

// Package h2xconnect turns on extended CONNECT (RFC 8441 §3) in
// golang.org/x/net/http2's server, which WebSockets over HTTP/2 and
// CONNECT-UDP over HTTP/2 (RFC 9298 §3.4) need. x/net offers it
// (SETTINGS_ENABLE_CONNECT_PROTOCOL) only when the GODEBUG environment
// variable holds http2xconnect=1 as x/net initializes (golang/go#71128:
// off by default for servers whose WebSocket library cannot take it);
// there is no field to set.
//
// Importing this package sets it, before x/net reads it: Go initializes
// packages in the order of their import paths among those whose imports
// are done (the spec's "Package initialization", Go 1.21), this one
// imports only os and strings, and its path sorts before
// golang.org/x/net's, which imports os too. A GODEBUG that already says
// http2xconnect is left as it is. connect's tests check that the server
// offers it (TestH2ExtendedConnectOffered).
package h2xconnect

import (
	"os"
	"strings"
)

// setting is the GODEBUG entry x/net reads.
const setting = "http2xconnect=1"

func init() {
	v := os.Getenv("GODEBUG")
	if strings.Contains(v, "http2xconnect=") {
		return
	}
	if v != "" {
		v += ","
	}
	os.Setenv("GODEBUG", v+setting)
}

package connect

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/ferry-proxy/ferry/tunnel"
)

// proxyCredentials reads Proxy-Authorization: Basic (RFC 7617). Another
// scheme counts as none offered, so the client gets the Basic challenge;
// a malformed Basic value counts as wrong credentials. The forwarder's
// rewrite drops the header (hop-by-hop, RFC 9110 §11.7.4), so it never
// reaches an origin.
func proxyCredentials(h http.Header) tunnel.Credentials {
	scheme, param, _ := strings.Cut(strings.TrimSpace(h.Get("Proxy-Authorization")), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return tunnel.Credentials{}
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(param))
	if err != nil {
		return tunnel.Credentials{Offered: true}
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok {
		return tunnel.Credentials{Offered: true}
	}
	return tunnel.Credentials{Offered: true, User: user, Password: pass}
}

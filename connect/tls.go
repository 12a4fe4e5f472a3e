package connect

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/ferry-proxy/ferry/tunnel"
)

// RefusePlaintext answers an HTTP client that spoke plaintext to a TLS
// listener (front.PlaintextRefuser): 400, saying to use TLS.
func (s *Server) RefusePlaintext(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	k := tunnel.BadRequest
	const body = "ferry: this listener speaks TLS: use an https:// proxy URL (curl -x https://host:port)\n"
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"Proxy-Status: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		k.HTTPStatus(), http.StatusText(k.HTTPStatus()), tunnel.ProxyStatusMember(k.ProxyStatus(), "plaintext on a TLS listener"), len(body), body)
}

package tunnel

import (
	"net"
	"net/netip"
	"strconv"

	"github.com/ferry-proxy/ferry/acl"
)

// Protocols a Request can arrive by, as the ACL's proto matcher names
// them (acl.Query.Proto).
const (
	ProtoConnect = "connect" // an HTTP CONNECT tunnel
	ProtoHTTP    = "http"    // a plain-HTTP request
	ProtoSOCKS   = "socks"   // a SOCKS4, 4a or 5 tunnel (CONNECT or BIND)
	ProtoUDP     = "udp"     // one destination of a datagram association (SOCKS5 UDP ASSOCIATE, CONNECT-UDP)
	ProtoTCP     = "tcp"     // reverse mode, a tcp listener
	ProtoTLS     = "tls"     // reverse mode, a tls listener
)

// Request is one thing a client asked for: a tunnel or a plain-HTTP fetch.
type Request struct {
	Proto  string // one of the Proto constants
	Client netip.AddrPort
	User   string // authenticated user, "" when anonymous
	Host   string // target name or IP literal, without brackets
	Port   uint16
	Method string // HTTP method (plain HTTP only)

	query      acl.Query // the ACL's scratch: on the heap with the request
	authorized Outcome   // what Authorize decided, where Route starts
}

// Target is host:port as asked for.
func (r *Request) Target() string {
	return net.JoinHostPort(r.Host, strconv.Itoa(int(r.Port)))
}

// SplitTarget parses "host:port" into a canonical host (lower case, no
// brackets, no trailing dot) and a non-zero port.
func SplitTarget(hostport string) (string, uint16, error) {
	host, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, Errorf(BadRequest, "bad target %q: %v", hostport, err)
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || port == 0 {
		return "", 0, Errorf(BadRequest, "bad port in %q", hostport)
	}
	host, err = CanonicalHost(host)
	if err != nil {
		return "", 0, err
	}
	return host, uint16(port), nil
}

// CanonicalHost lower-cases a name, drops one trailing dot and turns an
// internationalized name into punycode (acl.NormalizeName), so the ACL and
// the resolver see one spelling; it rejects empty names and characters
// that cannot appear in a host.
func CanonicalHost(host string) (string, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.WithZone("").String(), nil
	}
	h, err := acl.NormalizeName(host)
	if err != nil {
		return "", Errorf(BadRequest, "bad host %q", host)
	}
	return h, nil
}

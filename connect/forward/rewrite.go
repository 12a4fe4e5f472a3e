package forward

import (
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/ferry-proxy/ferry/tunnel"
	"golang.org/x/net/http/httpguts"
)

// Forwarded modes: what ferry tells origins about the client.
const (
	ForwardedOff   = "off"   // add nothing; pass on what the client sent (default)
	ForwardedAdd   = "add"   // append the client address to X-Forwarded-For and Forwarded
	ForwardedStrip = "strip" // remove Forwarded and X-Forwarded-* the client sent; add nothing
)

// forwardingHeaders are the headers by which proxies tell about clients;
// the rewrite decides which of the client's go on (Config.Forwarded).
var forwardingHeaders = [...]string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// hopHeaders are hop-by-hop whether or not Connection names them
// (RFC 9110 §7.6.1; Proxy-Connection and Keep-Alive are still sent).
var hopHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopByHop removes the headers named in Connection and the
// hop-by-hop ones (RFC 9110 §7.6.1).
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// removeProxyFields drops every Proxy-* field (credentials, Proxy-Status
// of another hop's making is a response field and kept by the caller) and
// Proxy, which CGI origins would take for their own proxy setting
// (httpoxy, CVE-2016-5385).
func removeProxyFields(h http.Header) {
	for k := range h {
		if k == "Proxy" || strings.HasPrefix(k, "Proxy-") {
			delete(h, k)
		}
	}
}

// notInTrailers are the fields a trailer section may not carry on, or that
// ferry will not pass in one: framing, routing, authentication, the ones a
// recipient acts on before the body (RFC 9110 §6.5.1), and hop-by-hop ones.
var notInTrailers = map[string]bool{
	"Content-Length": true, "Transfer-Encoding": true, "Host": true, "Trailer": true,
	"Content-Encoding": true, "Content-Type": true, "Content-Range": true,
	"Cache-Control": true, "Expect": true, "Max-Forwards": true, "Pragma": true, "Range": true, "Te": true,
	"Authorization": true, "Www-Authenticate": true, "Set-Cookie": true, "Cookie": true,
	"Age": true, "Expires": true, "Date": true, "Location": true, "Retry-After": true, "Vary": true, "Warning": true,
	"Connection": true, "Keep-Alive": true, "Upgrade": true, "Proxy": true,
}

// FilterTrailers removes from a trailer section what may not pass a proxy
// there (notInTrailers, every Proxy-* field, and fields its Connection
// names), in place.
func FilterTrailers(t http.Header) {
	removeHopByHop(t)
	removeProxyFields(t)
	for k := range t {
		if notInTrailers[k] {
			delete(t, k)
		}
	}
}

// inbound is what the rewrite needs of the request as the client sent it.
type inbound struct {
	client    netip.AddrPort
	host      string
	tls       bool
	major     int
	minor     int
	forwarded [len(forwardingHeaders)][]string // the client's, in forwardingHeaders order
	trailers  bool                             // the client said TE: trailers
}

// rewriteRequest turns the client's request into the one sent on: the
// hop-by-hop and Proxy-* fields go (RFC 9110 §7.6.1, §11.7), the
// forwarding headers are as Config.Forwarded says, Via is added (§7.6.3),
// and Host is the target URI's (RFC 9112 §3.2.2: a proxy MUST NOT forward
// the received Host of an absolute-form request). An upgrade keeps its
// Connection: Upgrade and Upgrade fields.
func (f *Forwarder) rewriteRequest(out *http.Request, client netip.AddrPort) {
	h := out.Header
	in := inbound{
		client: client, host: out.Host, tls: out.TLS != nil, major: out.ProtoMajor, minor: out.ProtoMinor,
		trailers: httpguts.HeaderValuesContainsToken(h["Te"], "trailers"),
	}
	for i, k := range forwardingHeaders {
		in.forwarded[i] = h[k]
	}
	upgrade := ""
	if in.major != 1 || in.minor != 0 {
		// An HTTP/1.0 request's Upgrade is ignored (RFC 9110 §7.8:
		// MUST): its client could not be sent the 101 (§15.2).
		upgrade = upgradeType(h)
	}
	removeHopByHop(h)
	removeProxyFields(h)
	// What ferry sends hop-by-hop itself is named in Connection, as its
	// sender must (RFC 9110 §7.6.1, §10.1.4 for TE).
	switch {
	case upgrade != "" && in.trailers:
		h.Set("Connection", "Upgrade, TE")
	case upgrade != "":
		h.Set("Connection", "Upgrade")
	case in.trailers:
		h.Set("Connection", "TE")
	}
	if upgrade != "" {
		h.Set("Upgrade", upgrade)
	}
	if in.trailers {
		h.Set("Te", "trailers") // the client takes trailer fields
	}
	for _, k := range forwardingHeaders {
		delete(h, k)
	}
	decrementMaxForwards(out)
	out.Host = out.URL.Host
	switch f.cfg.Forwarded {
	case ForwardedOff, "":
		// Pass on what earlier proxies said, add nothing about this client.
		for i, k := range forwardingHeaders {
			if v := in.forwarded[i]; v != nil {
				h[k] = v
			}
		}
	case ForwardedAdd:
		for i, k := range forwardingHeaders[:2] { // Forwarded, X-Forwarded-For
			if v := in.forwarded[i]; v != nil {
				h[k] = v
			}
		}
		setXForwarded(h, &in)
		addr := in.client.Addr().String()
		if in.client.Addr().Is6() {
			addr = `"[` + addr + `]"`
		}
		h.Add("Forwarded", "for="+addr+";proto=http")
	case ForwardedStrip:
		// Already removed.
	}
	if in.major == 1 && in.minor == 1 {
		h.Add("Via", f.reqVia11)
	} else if f.peers != nil {
		h.Add("Via", f.via(in.major, in.minor)+" "+f.peers.token)
	} else {
		h.Add("Via", f.via(in.major, in.minor))
	}
}

// setXForwarded is httputil.ProxyRequest.SetXForwarded on the inbound
// request as the client sent it.
func setXForwarded(h http.Header, in *inbound) {
	clientIP := in.client.Addr().String()
	if prior := h["X-Forwarded-For"]; len(prior) > 0 {
		clientIP = strings.Join(prior, ", ") + ", " + clientIP
	}
	h.Set("X-Forwarded-For", clientIP)
	h.Set("X-Forwarded-Host", in.host)
	if in.tls {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
}

// rewriteResponse is rewriteRequest for the response head: hop-by-hop
// fields out (a 101 keeps Connection and Upgrade), Via in.
func (f *Forwarder) rewriteResponse(res *http.Response) {
	upgrade := ""
	if res.StatusCode == http.StatusSwitchingProtocols {
		upgrade = upgradeType(res.Header)
	}
	removeHopByHop(res.Header)
	if upgrade != "" {
		res.Header.Set("Connection", "Upgrade")
		res.Header.Set("Upgrade", upgrade)
	}
	res.Header.Add("Via", f.via(res.ProtoMajor, res.ProtoMinor))
}

func (f *Forwarder) via(major, minor int) string {
	if major == 1 && minor == 1 {
		return f.via11 // nearly every message: no string built per request
	}
	if major >= 2 {
		return strconv.Itoa(major) + " " + f.cfg.ViaName // "2": HTTP/2 has no minor version
	}
	return strconv.Itoa(major) + "." + strconv.Itoa(minor) + " " + f.cfg.ViaName
}

// upgradeType is the protocol a request or response asks to switch to,
// "" for none (RFC 9110 §7.8).
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// pathAndQuery is the path and query of r's target as the client sent
// them: a proxy MUST NOT change them (RFC 9110 §7.7), and net/url's form
// escapes again what it would not have written itself ('|', '"', a byte
// over 0x7f), which can name another resource to the origin than the
// client did. A request ferry made itself (no RequestURI), or whose URL
// was changed since, goes as its URL says.
func pathAndQuery(r *http.Request) string {
	own := r.URL.RequestURI()
	sent := clientPathAndQuery(r.RequestURI)
	if sent == "" || sent == own {
		return own // nearly every request: nothing parsed again
	}
	if u, err := url.ParseRequestURI(sent); err != nil || u.Path != r.URL.Path || u.RawQuery != r.URL.RawQuery {
		return own
	}
	return sent
}

// clientPathAndQuery is the path and query of an origin-form (HTTP/2's
// :path) or absolute-form target, "" when its path is empty (the URL's
// form, "/", is then the same) or a byte in it could not stand in a
// request line (checkTarget refuses those first).
func clientPathAndQuery(target string) string {
	if !strings.HasPrefix(target, "/") {
		_, rest, ok := strings.Cut(target, "://")
		i := strings.IndexByte(rest, '/')
		if !ok || i < 0 || strings.IndexByte(rest[:i], '?') >= 0 {
			return ""
		}
		target = rest[i:]
	}
	if strings.ContainsFunc(target, notInTarget) {
		return ""
	}
	return target
}

// checkTarget refuses a target that cannot be sent on as the client
// wrote it: one with a fragment, which no request-target carries (RFC
// 9112 §3.2; escaped to %23 it would name another resource), or with
// whitespace or a control byte, which the HTTP/1.1 reader refuses in the
// request line but an HTTP/2 :path may hold.
func checkTarget(target string) error {
	if i := strings.IndexFunc(target, notInTarget); i >= 0 {
		return tunnel.Errorf(tunnel.BadRequest, "byte %q in the request target %q (RFC 9112 section 3.2)", target[i], clipTarget(target))
	}
	if strings.IndexByte(target, '#') >= 0 {
		return tunnel.Errorf(tunnel.BadRequest, "a fragment in the request target %q: a request-target has none (RFC 9112 section 3.2)", clipTarget(target))
	}
	return nil
}

func notInTarget(c rune) bool { return c <= ' ' || c == 0x7f }

func clipTarget(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// originKey is the host:port of an http or https URL, the scheme's
// default port filled in.
func originKey(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

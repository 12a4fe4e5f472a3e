package pac

import (
	"fmt"
	"net/netip"
	"strings"
)

// Rules are the Direct entries, sorted by kind.
type Rules struct {
	Domains []string       // "corp.example": the domain and names under it
	Globs   []string       // shell patterns on the host
	Hosts   []string       // exact host names or IP literals
	Nets    []netip.Prefix // IPv4 networks
}

// EntryError is a bad Direct entry.
type EntryError struct {
	Index int // in Direct
	Err   error
}

func (e *EntryError) Error() string { return fmt.Sprintf("direct[%d]: %v", e.Index, e.Err) }

// ParseDirect sorts the Direct entries into Rules. It reports every bad
// entry.
func ParseDirect(entries []string) (Rules, []*EntryError) {
	var r Rules
	var errs []*EntryError
	for i, e := range entries {
		if err := r.add(e); err != nil {
			errs = append(errs, &EntryError{Index: i, Err: err})
		}
	}
	return r, errs
}

func (r *Rules) add(e string) error {
	s := strings.ToLower(strings.TrimSpace(e))
	switch {
	case strings.Contains(s, "/"):
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("%q is not a network (want a.b.c.d/n)", e)
		}
		if !p.Addr().Is4() {
			return fmt.Errorf("%q: PAC's isInNet matches IPv4 networks only; list IPv6 hosts one by one", e)
		}
		if p != p.Masked() {
			return fmt.Errorf("%q has host bits set; the network is %s", e, p.Masked())
		}
		r.Nets = append(r.Nets, p)
	case strings.HasPrefix(s, "."):
		if !validName(s[1:]) {
			return fmt.Errorf("%q is not a domain (want .example.com)", e)
		}
		r.Domains = append(r.Domains, s[1:])
	case strings.ContainsAny(s, "*?"):
		if !validName(strings.NewReplacer("*", "a", "?", "a").Replace(s)) {
			return fmt.Errorf("%q is not a host pattern (letters, digits, -, ., *, ?)", e)
		}
		r.Globs = append(r.Globs, s)
	default:
		if ip, err := netip.ParseAddr(s); err == nil {
			r.Hosts = append(r.Hosts, ip.WithZone("").String())
			return nil
		}
		if !validName(s) {
			return fmt.Errorf("%q is not a host name, .domain, pattern or network", e)
		}
		r.Hosts = append(r.Hosts, s)
	}
	return nil
}

// validName: a DNS name of letters, digits, '-' and '_', no empty label.
// Nothing else can reach the generated JavaScript.
func validName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// CheckProxyAddress validates a pac.proxy_address: host:port with a name or
// IP literal a browser can use.
func CheckProxyAddress(addr string) error {
	host, _, err := splitHostPort(addr)
	if err != nil {
		return err
	}
	if isUnspecified(host) {
		return fmt.Errorf("%q: clients need a host they can reach, not an unspecified address", addr)
	}
	return nil
}

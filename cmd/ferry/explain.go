package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// Exit statuses of ferry explain (2 is exitUsage: bad flags or config).
const (
	explainAllowed   = 0
	explainDenied    = 1 // 403, 407 or a SOCKS refusal
	explainUndecided = 3 // the address decides, and it was not looked up (-no-dns) or the lookup failed
)

// explain prints how ferry would decide a request and why, without
// connecting: the listener's auth, the rules on the name, a PURGE's
// method rule, the route, and the rules on each address, in the engine's
// order and with its rules (see explainer.run).
func explain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "TOML config `file` (default: the embedded config.toml.example)")
	listener := fs.String("listener", "", "the `listener` the request arrives on, whose auth applies; default: any (auth not applied)")
	user := fs.String("user", "", "authenticated `user` to decide for (the password is not checked); default anonymous")
	client := fs.String("client", "127.0.0.1", "client `address` the request comes from")
	proto := fs.String("proto", "", "connect, http, socks, udp, tcp or tls; default http for an http:// URL, else connect")
	method := fs.String("method", "", "HTTP `method` of a plain-HTTP request; default GET (CONNECT for tunnels)")
	at := fs.String("at", "", "decide at this `time` (RFC 3339, e.g. 2025-06-02T09:30:00+02:00); default now")
	noDNS := fs.Bool("no-dns", false, "do not resolve the name; stop where the address decides")
	var ips stringList
	fs.Var(&ips, "ip", "an `address` the name resolves to, instead of asking DNS; repeatable")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ferry explain [flags] TARGET\n\n"+
			"Prints how ferry would decide a request for TARGET (a URL such as http://example.com/\n"+
			"or https://example.com/, or host:port) and why, without connecting. A name is\n"+
			"resolved (or given with -ip) where rules or routes need the address, as ferry does.\n"+
			"Exit status: 0 allowed, 1 denied, 2 bad flags or config, 3 undecided: the\n"+
			"address decides and was not looked up (-no-dns) or could not be.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, 1); !ok {
		return code
	}
	q, err := explainQuery(fs.Arg(0), *proto, *method, *user, *client, *at)
	if err == nil {
		err = parseIPs(ips)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ferry explain: %v\n", err)
		return exitUsage
	}
	cfg, err := loadConfig(*configPath, nil)
	var pol *policy
	if err == nil {
		log := zerolog.New(consoleWriter(stderr, time.TimeOnly)).With().Timestamp().Logger()
		pol, err = buildPolicy(cfg, log)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ferry: config refused:\n%v\n", err)
		return exitUsage
	}
	e := &explainer{cfg: cfg, pol: pol, q: q, noDNS: *noDNS, lookup: resolverLookup}
	for _, s := range ips {
		e.ips = append(e.ips, netip.MustParseAddr(s).Unmap())
	}
	if *listener != "" {
		if e.listener = listenerNamed(cfg, *listener); e.listener == nil {
			fmt.Fprintf(stderr, "ferry explain: -listener %q: the config has no such listener\n", *listener)
			return exitUsage
		}
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	e.w = w
	return e.run()
}

func parseIPs(ips []string) error {
	for _, s := range ips {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Errorf("-ip %q: want an IP address", s)
		}
	}
	return nil
}

func listenerNamed(cfg *config.File, name string) *config.Listener {
	for i := range cfg.Listeners {
		if cfg.Listeners[i].Name == name {
			return &cfg.Listeners[i]
		}
	}
	return nil
}

var resolverLookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// explainer is one ferry explain run.
type explainer struct {
	w        io.Writer
	cfg      *config.File
	pol      *policy
	q        acl.Query
	listener *config.Listener // nil: any
	ips      []netip.Addr     // -ip
	noDNS    bool
	lookup   func(ctx context.Context, host string) ([]netip.Addr, error)
}

// run decides as the engine does: a listener that requires auth answers
// an anonymous client 407 (tunnel.Engine.Authenticate); the rules decide
// on the name (Authorize); a PURGE needs a rule for its method (connect);
// the route picks direct or upstreams, resolving the name when a route
// matcher needs the address (Route); through upstreams every address of
// the name must be allowed (checkAddrs), and direct, ferry dials the
// allowed ones (the dialer's Control hook).
func (e *explainer) run() int {
	e.header()
	if l := e.listener; l != nil && l.Auth && e.q.User == "" && !l.TLS.NamesUsers() {
		fmt.Fprintf(e.w, "\nDENIED: listener %q requires auth and the client is anonymous "+
			"(ferry answers 407 / SOCKS5 method 0xFF / SOCKS4 93)\n", l.Name)
		return explainDenied
	}
	q := e.q
	if q.Host == "" {
		fmt.Fprintf(e.w, "\non the address %s:\n", q.IP)
	} else {
		fmt.Fprintf(e.w, "\non the name %s, before DNS:\n", q.Host)
	}
	v := printWalk(e.w, e.pol.acl, &q)
	if v.NeedIP {
		fmt.Fprintf(e.w, "  => rule %q needs the address: decided on each address\n", v.Rule)
	} else if !v.Allow {
		return printVerdict(e.w, v)
	}
	if e.purge() && !acl.ForMethod(e.pol.acl, q, v) {
		fmt.Fprintf(e.w, "\nDENIED: PURGE is allowed only by a rule for method PURGE (rule %q is not one; ferry answers 403)\n", v.Rule)
		return explainDenied
	}
	return e.route(v)
}

func (e *explainer) header() {
	q := e.q
	fmt.Fprintf(e.w, "config   %s (%d rules, default %s)\n", e.cfg.Path, e.pol.acl.Len(), firstNonEmpty(e.cfg.ACL.Default, "deny"))
	fmt.Fprintf(e.w, "request  %s %s  client %s  user %s  at %s\n", q.Proto, targetOf(q), q.Client,
		firstNonEmpty(q.User, "(anonymous)"), q.Time.Format(time.RFC3339))
	if q.Method != "" {
		fmt.Fprintf(e.w, "method   %s\n", q.Method)
	}
	if l := e.listener; l != nil {
		fmt.Fprintf(e.w, "listener %s (auth %v)\n", l.Name, l.Auth)
	}
}

// purge reports whether the request is a PURGE ferry answers itself: a
// plain-HTTP PURGE with the cache on (else it goes to the origin).
func (e *explainer) purge() bool {
	return e.q.Proto == "http" && e.q.Method == forward.MethodPurge && e.cfg.Cache.Enabled
}

// route picks the route, then decides on the addresses where v (the
// verdict on the name) left it to them.
func (e *explainer) route(v acl.Verdict) int {
	q := e.q
	var addrs []netip.Addr
	name, via, needIP := e.pick(q)
	if needIP || v.NeedIP {
		var code int
		if addrs, code = e.resolve(); addrs == nil {
			return code
		}
		if needIP {
			qa := q
			qa.IP = addrs[0]
			name, via, _ = e.pick(qa)
			fmt.Fprintf(e.w, "\nroute %q needs the address: picked by %s\n", name, addrs[0])
		}
	}
	if len(via) == 0 {
		fmt.Fprintf(e.w, "\nroute    %s: ferry dials the target itself\n", name)
	} else {
		fmt.Fprintf(e.w, "\nroute    %s: through %s\n", name, upstreamNames(via))
	}
	if !v.NeedIP {
		if q.Host != "" && len(via) == 0 {
			fmt.Fprintf(e.w, "  (ferry still checks each address it dials, and decides the same unless rules above need it)\n")
		}
		return printVerdict(e.w, v)
	}
	var allowed []string
	for _, a := range addrs {
		qa := q
		qa.IP = a
		fmt.Fprintf(e.w, "\non the address %s:\n", a)
		if v := printWalk(e.w, e.pol.acl, &qa); v.Allow {
			allowed = append(allowed, a.String())
			fmt.Fprintf(e.w, "  => allowed by rule %q\n", v.Rule)
		} else {
			fmt.Fprintf(e.w, "  => denied by rule %q\n", v.Rule)
		}
	}
	if len(via) > 0 && len(allowed) < len(addrs) {
		fmt.Fprintf(e.w, "\nDENIED: through an upstream, which may connect to any address of the name, every one must be allowed "+
			"(ferry answers 403 destination_ip_prohibited / SOCKS 0x02)\n")
		return explainDenied
	}
	if len(allowed) == 0 {
		fmt.Fprintf(e.w, "\nDENIED: every address is denied (ferry answers 403 destination_ip_prohibited / SOCKS 0x02)\n")
		return explainDenied
	}
	if len(via) > 0 {
		fmt.Fprintf(e.w, "\nALLOWED: through %s (which resolves %s itself unless it is a socks5:// upstream)\n", upstreamNames(via), q.Host)
		return explainAllowed
	}
	fmt.Fprintf(e.w, "\nALLOWED: ferry would dial %s\n", strings.Join(allowed, " or "))
	return explainAllowed
}

// pick is the route q goes by, as tunnel.Engine.Route picks it.
func (e *explainer) pick(q acl.Query) (name string, via []*tunnel.Upstream, needIP bool) {
	rt := e.pol.tunnel.Routes
	if rt == nil || q.Proto == tunnel.ProtoTCP || q.Proto == tunnel.ProtoTLS {
		return "direct", nil, false
	}
	req := tunnel.Request{Proto: q.Proto, Host: q.Host, Port: q.Port}
	if q.Host == "" {
		req.Host = q.IP.String()
	}
	return rt.Pick(&req, &q)
}

// resolve gives the addresses of the name: -ip's, or DNS's. nil with the
// exit status when there are none.
func (e *explainer) resolve() ([]netip.Addr, int) {
	host := e.q.Host
	if host == "" {
		return []netip.Addr{e.q.IP}, 0
	}
	if len(e.ips) > 0 {
		fmt.Fprintf(e.w, "\n%s resolves to (-ip): %s\n", host, joinAddrs(e.ips))
		return e.ips, 0
	}
	if e.noDNS {
		fmt.Fprintf(e.w, "\nUNDECIDED: not resolving %s (-no-dns): the address decides (give it with -ip)\n", host)
		return nil, explainUndecided
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Limits.DialTimeout)
	defer cancel()
	addrs, err := e.lookup(ctx, host)
	if err == nil && len(addrs) == 0 {
		err = fmt.Errorf("no addresses")
	}
	if err != nil {
		fmt.Fprintf(e.w, "\nUNDECIDED: resolving %s failed: %v\nferry would answer dns_error (502 / SOCKS 0x04)\n", host, err)
		return nil, explainUndecided
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap() // as the engine sees it
	}
	fmt.Fprintf(e.w, "\nresolved %s: %s\n", host, joinAddrs(addrs))
	return addrs, 0
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func upstreamNames(us []*tunnel.Upstream) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = u.String()
	}
	return strings.Join(s, ", then ")
}

func printWalk(w io.Writer, p *acl.Policy, q *acl.Query) acl.Verdict {
	steps, v := p.Explain(q)
	for i, st := range steps {
		action := "deny"
		if st.Allow {
			action = "allow"
		}
		fmt.Fprintf(w, "  %d. %s (%s): %s\n", i+1, st.Rule, action, st.Result)
		for _, c := range st.Checks {
			m := c.Matcher
			if c.Not {
				m = "not (" + m + ")"
			}
			fmt.Fprintf(w, "       %s: %s\n", m, c.Result)
		}
	}
	if v.Rule == "default" {
		fmt.Fprintf(w, "  no rule matched: the default decides\n")
	}
	return v
}

func printVerdict(w io.Writer, v acl.Verdict) int {
	if v.Allow {
		fmt.Fprintf(w, "\nALLOWED by rule %q\n", v.Rule)
		return explainAllowed
	}
	fmt.Fprintf(w, "\nDENIED by rule %q (ferry answers 403 / SOCKS 0x02 / SOCKS4 91)\n", v.Rule)
	return explainDenied
}

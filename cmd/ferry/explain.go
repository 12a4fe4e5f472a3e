package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// Exit statuses of ferry explain.
const (
	explainAllowed = 0
	explainDenied  = 1
)

// explain prints which rule decides a request and why, without dialing:
// the walk on the name, then (resolving it, unless -no-dns) the walk on
// each address, as the engine does at Authorize and at the dial.
func explain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "TOML config `file` (default: the embedded config.toml.example)")
	user := fs.String("user", "", "authenticated `user` to decide for (the password is not checked); default anonymous")
	client := fs.String("client", "127.0.0.1", "client `address` the request comes from")
	proto := fs.String("proto", "", "connect, http or socks; default http for an http:// URL, else connect")
	method := fs.String("method", "", "HTTP `method` of a plain-HTTP request; default GET (CONNECT for tunnels)")
	at := fs.String("at", "", "decide at this `time` (RFC 3339, e.g. 2025-06-02T09:30:00+02:00); default now")
	noDNS := fs.Bool("no-dns", false, "do not resolve the name; stop where a rule needs the address")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ferry explain [flags] TARGET\n\n"+
			"Prints which acl rule decides TARGET (a URL such as http://example.com/ or\n"+
			"https://example.com/, or host:port) and why, without connecting. A name is\n"+
			"resolved to check the address rules, as ferry does before it dials.\n"+
			"Exit status: 0 allowed, 1 denied, 2 bad flags or config.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, 1); !ok {
		return code
	}
	q, err := explainQuery(fs.Arg(0), *proto, *method, *user, *client, *at)
	if err != nil {
		fmt.Fprintf(stderr, "ferry explain: %v\n", err)
		return exitUsage
	}
	cfg, err := loadConfig(*configPath, nil)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: config refused:\n%v\n", err)
		return exitUsage
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	pol, err := buildPolicy(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: config refused:\n%v\n", err)
		return exitUsage
	}

	w := bufio.NewWriter(stdout)
	defer w.Flush()
	name := cfg.Path
	fmt.Fprintf(w, "config   %s (%d rules, default %s)\n", name, pol.acl.Len(), firstNonEmpty(cfg.ACL.Default, "deny"))
	fmt.Fprintf(w, "request  %s %s  client %s  user %s  at %s\n", q.Proto, targetOf(q), q.Client,
		firstNonEmpty(q.User, "(anonymous)"), q.Time.Format(time.RFC3339))
	if q.Method != "" {
		fmt.Fprintf(w, "method   %s\n", q.Method)
	}
	if q.Host == "" {
		fmt.Fprintf(w, "\non the address %s:\n", q.IP)
		return printVerdict(w, printWalk(w, pol.acl, &q))
	}
	fmt.Fprintf(w, "\non the name %s, before DNS:\n", q.Host)
	v := printWalk(w, pol.acl, &q)
	if !v.NeedIP {
		fmt.Fprintf(w, "  (ferry still checks each address it dials, and decides the same unless rules above need it)\n")
		return printVerdict(w, v)
	}
	fmt.Fprintf(w, "  => rule %q needs the address: decided on each address dialed\n", v.Rule)
	if *noDNS {
		fmt.Fprintf(w, "\nnot resolving %s (-no-dns): undecided\n", q.Host)
		return explainDenied
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := resolverLookup(ctx, q.Host)
	if err != nil {
		fmt.Fprintf(w, "\nresolving %s failed: %v\nferry would answer dns_error (502 / SOCKS 0x04)\n", q.Host, err)
		return explainDenied
	}
	strs := make([]string, len(addrs))
	for i, a := range addrs {
		addrs[i] = a.Unmap() // as the engine sees it
		strs[i] = addrs[i].String()
	}
	fmt.Fprintf(w, "\nresolved %s: %s\n", q.Host, strings.Join(strs, ", "))
	var allowed []string
	for _, a := range addrs {
		qa := q
		qa.IP = a
		fmt.Fprintf(w, "\non the address %s:\n", a)
		if v := printWalk(w, pol.acl, &qa); v.Allow {
			allowed = append(allowed, a.String())
			fmt.Fprintf(w, "  => allowed by rule %q\n", v.Rule)
		} else {
			fmt.Fprintf(w, "  => denied by rule %q\n", v.Rule)
		}
	}
	if len(allowed) == 0 {
		fmt.Fprintf(w, "\nDENIED: every address is denied (ferry answers 403 destination_ip_prohibited / SOCKS 0x02)\n")
		return explainDenied
	}
	fmt.Fprintf(w, "\nALLOWED: ferry would dial %s\n", strings.Join(allowed, " or "))
	return explainAllowed
}

var resolverLookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
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

// explainQuery builds the query the engine would build for target.
func explainQuery(target, proto, method, user, client, at string) (acl.Query, error) {
	q := acl.Query{User: user, Time: time.Now()}
	hostport := target
	if strings.Contains(target, "://") {
		u, err := url.Parse(target)
		if err != nil {
			return q, fmt.Errorf("bad URL %q: %v", target, err)
		}
		port := u.Port()
		switch u.Scheme {
		case "http":
			q.Proto, q.Method = "http", "GET"
			port = firstNonEmpty(port, "80")
		case "https":
			// A browser reaches https:// through a proxy with CONNECT.
			q.Proto, q.Method = "connect", "CONNECT"
			port = firstNonEmpty(port, "443")
		default:
			return q, fmt.Errorf("URL scheme %q: want http or https", u.Scheme)
		}
		hostport = u.Hostname() + ":" + port
		if strings.Contains(u.Hostname(), ":") {
			hostport = "[" + u.Hostname() + "]:" + port
		}
	} else {
		q.Proto, q.Method = "connect", "CONNECT"
	}
	host, port, err := tunnel.SplitTarget(hostport)
	if err != nil {
		return q, fmt.Errorf("target %q: want a URL or host:port", target)
	}
	q.Port = port
	if ip, err := netip.ParseAddr(host); err == nil {
		q.IP = ip.Unmap()
	} else {
		q.Host = host
	}
	if proto != "" {
		switch proto {
		case "connect", "http", "socks":
		default:
			return q, fmt.Errorf("-proto %q: want connect, http or socks", proto)
		}
		q.Proto = proto
		if proto == "socks" {
			q.Method = ""
		}
	}
	if method != "" {
		q.Method = strings.ToUpper(method)
	}
	c, err := netip.ParseAddr(client)
	if err != nil {
		return q, fmt.Errorf("-client %q: want an IP address", client)
	}
	q.Client = c.Unmap()
	if at != "" {
		if q.Time, err = time.Parse(time.RFC3339, at); err != nil {
			return q, fmt.Errorf("-at %q: want RFC 3339 such as 2025-06-02T09:30:00+02:00", at)
		}
	}
	return q, nil
}

func targetOf(q acl.Query) string {
	h := q.Host
	if h == "" {
		h = q.IP.String()
		if q.IP.Is6() {
			h = "[" + h + "]"
		}
	}
	return h + ":" + strconv.Itoa(int(q.Port))
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

package main

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/tunnel"
)

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
		case "connect", "http", "socks", "udp", "tcp", "tls":
		default:
			return q, fmt.Errorf("-proto %q: want connect, http, socks, udp, tcp or tls", proto)
		}
		q.Proto = proto
		switch proto { // what each front end puts in the request
		case "connect":
			q.Method = "CONNECT"
		case "http":
			if q.Method == "" || q.Method == "CONNECT" {
				q.Method = "GET"
			}
		default:
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

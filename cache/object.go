package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// meta is what is stored about a response besides its body; it is also
// the on-disk header of an entry.
type meta struct {
	Key      string         // primary cache key (§4): see primaryKey
	Status   int            // status code
	Header   http.Header    // response header, hop-by-hop fields removed (§3.1)
	Vary     http.Header    // the request's values of the fields Vary names; absent fields absent (§4.1)
	ReqTime  time.Time      // request_time of §4.2.3
	RespTime time.Time      // response_time of §4.2.3
	Addr     netip.AddrPort // the origin address the response came from, for the ACL on a hit
	Route    string         // the way it was fetched: RouteDirect, or an upstream or group (Transport.Route)
}

// RouteDirect is the route of a response ferry fetched from the origin
// itself, and of every request when Transport.Route is nil.
const RouteDirect = "direct"

// routedKey is a primary key with the route a response was fetched by:
// responses of two routes are variants of their own, never one answering
// a request of the other. A direct response's is the primary key alone,
// as before routes were recorded, so disk entries keep their names.
func routedKey(key, route string) string {
	if route == RouteDirect {
		return key
	}
	return key + "\x00route=" + route
}

// object is one stored response (one variant of a key). Objects are never
// changed once built: a 304 update builds a new one sharing the body.
type object struct {
	meta
	id   string // names the variant: hash of the primary and secondary keys
	size int64  // body length
	body []byte // the whole body; nil when it is on disk only

	// Derived from meta when the object is built.
	cc       Directives
	lifetime time.Duration // freshness_lifetime (§4.2.1)
	initAge  time.Duration // corrected_initial_age (§4.2.3)
	varyOn   []string      // canonical field names from Vary
	metaCRC  uint32        // of the disk header, to notice a replaced file
	partial  bool          // a stored 206 (§3.3): the body holds span of the representation
	span     contentRange  // of a partial object, from its Content-Range

	// transient marks an object built to answer one request only (a 304
	// made it unstorable): it must never enter a store.
	transient bool
}

func newObject(m meta, size int64, body []byte) *object {
	o := &object{meta: m, size: size, body: body}
	o.cc = parseCacheControl(m.Header["Cache-Control"])
	date := dateOf(m.Header, m.RespTime)
	o.lifetime = freshnessLifetime(m.Header, o.cc, m.Status, date)
	o.initAge = initialAge(m.Header, date, m.ReqTime, m.RespTime)
	o.varyOn, _ = varyFields(m.Header)
	key := routedKey(m.Key, m.Route)
	if m.Status == http.StatusPartialContent {
		// A partial response is a variant of its own, beside the
		// complete one of the same secondary key.
		o.partial = true
		o.span, _ = parseContentRange(m.Header["Content-Range"])
		key += partialKey
	}
	o.id = variantID(key, m.Vary, o.varyOn)
	return o
}

// partialID is the id a partial response of o's variant is stored as.
func (o *object) partialID() string {
	return variantID(routedKey(o.Key, o.Route)+partialKey, o.Vary, o.varyOn)
}

// partialKey marks the variant id of a stored partial response; no
// primary key or route name holds a NUL.
const partialKey = "\x00partial"

// age is current_age (§4.2.3) at now.
func (o *object) age(now time.Time) time.Duration {
	return o.initAge + max(0, now.Sub(o.RespTime))
}

// mustRevalidate reports whether a stale o may never be served without
// validation: must-revalidate, proxy-revalidate, or s-maxage, which
// implies proxy-revalidate for a shared cache (§5.2.2.10).
func (o *object) mustRevalidate() bool {
	return o.cc.MustRevalidate || o.cc.ProxyRevalidate || o.cc.SMaxAge >= 0
}

// hasValidator reports whether o can be revalidated (§4.3.1).
func (o *object) hasValidator() bool {
	return o.Header.Get("ETag") != "" || o.Header.Get("Last-Modified") != ""
}

// memSize is what o costs the memory store: the body plus an estimate of
// the header maps and the struct.
func (o *object) memSize() int64 {
	n := int64(len(o.body)) + 512 + int64(len(o.Key)+len(o.id))
	for _, h := range []http.Header{o.Header, o.Vary} {
		for k, vs := range h {
			n += int64(len(k)) + 32
			for _, v := range vs {
				n += int64(len(v)) + 16
			}
		}
	}
	return n
}

// primaryKey is the cache key of §4: the method and the target URI,
// scheme and host in lower case and the default port dropped, so that
// http://Example.com:80/a and http://example.com/a are one resource.
func primaryKey(method string, u *url.URL) string {
	return method + " " + normalURI(u)
}

func normalURI(u *url.URL) string {
	host := strings.ToLower(u.Host)
	scheme := strings.ToLower(u.Scheme)
	if scheme == "http" {
		host = strings.TrimSuffix(host, ":80")
	} else if scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	}
	return scheme + "://" + host + u.RequestURI()
}

// maxVaryFields bounds the fields a stored response may vary on. Real
// responses name a handful (Accept-Encoding, Accept-Language, Origin); one
// naming more is not stored, so its list is never walked per request and
// one response cannot make the cache's work grow with its length (#20
// item 9).
const maxVaryFields = 32

// varyFields lists the canonical field names Vary nominates, sorted and
// without duplicates. matchable is false for "Vary: *", which no later
// request matches (§4.1), and for a list naming more than maxVaryFields
// fields: neither is stored. The work is linear in the field's length and
// stops at the bound.
func varyFields(h http.Header) (fields []string, matchable bool) {
	named := 0
	for _, line := range h["Vary"] {
		for f := range strings.SplitSeq(line, ",") {
			switch f = strings.Trim(f, " \t"); f {
			case "":
			case "*":
				return nil, false
			default:
				if named++; named > maxVaryFields {
					return nil, false
				}
				fields = append(fields, http.CanonicalHeaderKey(f))
			}
		}
	}
	slices.Sort(fields)
	return slices.Compact(fields), true
}

// varyValues records the request's values of the nominated fields,
// normalised (§4.1): field lines joined and whitespace around commas
// dropped, so "gzip,br" and "gzip, br" select the same response.
func varyValues(req http.Header, fields []string) http.Header {
	if len(fields) == 0 {
		return nil
	}
	v := http.Header{}
	for _, f := range fields {
		if lines, ok := req[f]; ok {
			v[f] = []string{normalValue(lines)}
		}
	}
	return v
}

func normalValue(lines []string) string {
	var parts []string
	for _, l := range lines {
		for p := range strings.SplitSeq(l, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
	}
	return strings.Join(parts, ",")
}

// varyMatch reports whether req selects o: every field o's Vary names has
// the same normalised value in req as in the request that stored o, and a
// field absent there is absent here (§4.1).
func (o *object) varyMatch(req http.Header) bool {
	for _, f := range o.varyOn {
		stored, had := o.Vary[f]
		lines, has := req[f]
		if had != has || has && (len(stored) != 1 || stored[0] != normalValue(lines)) {
			return false
		}
	}
	return true
}

// variantID names a variant: the primary key and its secondary key.
func variantID(key string, vary http.Header, fields []string) string {
	h := sha256.New()
	h.Write([]byte(key))
	for _, f := range fields {
		h.Write([]byte{0})
		h.Write([]byte(f))
		if v, ok := vary[f]; ok {
			h.Write([]byte{1})
			h.Write([]byte(v[0]))
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// The fields that carry cookies. A response with any line of them is
// stored only when explicitly shareable (see storable), and then without
// them: a stored header never holds one.
const (
	setCookie  = "Set-Cookie"
	setCookie2 = "Set-Cookie2"
)

// unstored are the fields a stored header never holds. §3.1's: hop-by-hop
// fields (RFC 9110 §7.6.1) and those of the client's proxy configuration,
// Proxy-Authenticate, Proxy-Authentication-Info and Proxy-Authorization.
// And the cookies the origin gave the client whose request fetched the
// response: they reach that client (the origin's response is passed on
// as it came), never a hit, a collapsed follower or a 304 update's later
// readers. Even with public, one client's session cookie served to every
// other is the classic shared-cache leak; Squid too strips Set-Cookie
// from hits.
var unstored = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authentication-Info", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	setCookie, setCookie2,
}

// addCookies adds the cookies of from, a response from the origin to this
// client's own request, to to, the answer built from a stored response.
func addCookies(to, from http.Header) {
	for _, f := range []string{setCookie, setCookie2} {
		for _, v := range from[f] {
			to.Add(f, v)
		}
	}
}

// storedHeader is the header of resp as a cache keeps it.
func storedHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, line := range h["Connection"] {
		for f := range strings.SplitSeq(line, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out.Del(f)
			}
		}
	}
	for _, f := range unstored {
		out.Del(f)
	}
	return out
}

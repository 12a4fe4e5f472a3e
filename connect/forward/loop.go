package forward

import (
	"net/http"
	"strings"

	"github.com/ferry-proxy/ferry/tunnel"
)

// defaultNameHops is how many Via entries with DefaultViaName a request
// may carry: more is taken for a loop of ferries that kept the default
// name, which would otherwise go round until its head outgrew
// max_header_bytes (thousands of connections deep). A CDN counts its own
// CDN-Loop entries the same way (RFC 8586 §2).
const defaultNameHops = 10

// looped refuses a request that passed this ferry before, whatever the
// routes say (a chain of parents that leads back here): Via is there to
// find such loops (RFC 9110 §7.6.3), and a ferry knows its own entry in it
// by its via name, as squid knows its own by its unique_hostname. Only a
// name the config chose is its own: DefaultViaName is every ferry's, and
// a few ferries with it in one chain are no loop; past defaultNameHops of
// them it is one. A fleet member knows its entry by its token (fleet.go)
// whatever the name. The answer is 508 (Kind Loop, proxy_loop_detected).
func (f *Forwarder) looped(h http.Header) error {
	vv := h["Via"]
	if len(vv) == 0 {
		return nil
	}
	if p := f.peers; p != nil {
		for _, v := range vv {
			if strings.Contains(v, p.token) {
				return tunnel.Errorf(tunnel.Loop, "request loop: it passed this fleet member already (Via %q)", v)
			}
		}
	}
	name, seen := f.cfg.ViaName, 0
	for _, v := range vv {
		for by := range viaReceivedBy(v) {
			if !strings.EqualFold(by, name) {
				continue
			}
			if seen++; name != DefaultViaName {
				return tunnel.Errorf(tunnel.Loop, "request loop: its Via %q names this ferry (via = %q) already", clipTarget(v), name)
			}
		}
	}
	if seen > defaultNameHops {
		return tunnel.Errorf(tunnel.Loop, "request loop: its Via names %d proxies %q, the default via name; "+
			"give each ferry in a chain its own via name to find loops at once", seen, name)
	}
	return nil
}

// viaReceivedBy yields the received-by of each entry of a Via field value
// (RFC 9110 §7.6.3: received-protocol RWS received-by [RWS comment]),
// skipping commas inside comments.
func viaReceivedBy(v string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		depth, start := 0, 0
		for i := 0; i <= len(v); i++ {
			switch {
			case i < len(v) && v[i] == '(':
				depth++
			case i < len(v) && v[i] == ')' && depth > 0:
				depth--
			case i == len(v) || v[i] == ',' && depth == 0:
				entry := v[start:i]
				start = i + 1
				if cut := strings.IndexByte(entry, '('); cut >= 0 {
					entry = entry[:cut]
				}
				_, rest := nextWord(entry) // received-protocol
				if by, _ := nextWord(rest); by != "" && !yield(by) {
					return
				}
			}
		}
	}
}

// nextWord is the first run of s without SP or HTAB, and what follows it.
func nextWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t")
	if end := strings.IndexAny(s, " \t"); end >= 0 {
		return s[:end], s[end:]
	}
	return s, ""
}

package connect

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// BlockPage is the body of a 403 for a request the ACL denied: HTML from a
// template for browsers, a line of text for everything else.
type BlockPage struct{ tmpl *template.Template }

// BlockData is what a block page template is given.
type BlockData struct {
	Rule        string // the rule that denied
	Target      string // host:port asked for
	URL         string // the URL, for plain HTTP
	Client      string // client address
	User        string // authenticated user, "" when anonymous
	ProxyStatus string // http_request_denied or destination_ip_prohibited
	Reason      string // the error as logged
	ID          string // the access log record id, to quote to the helpdesk
}

// DefaultBlockPageHTML is the built-in template.
const DefaultBlockPageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Blocked by ferry</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}
code{background:#f3f3f3;padding:0 .2em}</style></head>
<body><h1>Access denied</h1>
<p>The proxy's policy does not allow {{if .URL}}<code>{{.URL}}</code>{{else}}<code>{{.Target}}</code>{{end}}.</p>
<p>Rule: <code>{{.Rule}}</code>{{if .User}} (user <code>{{.User}}</code>){{end}}</p>
<p>If you think this is a mistake, contact your administrator and quote request <code>{{.ID}}</code>.</p>
</body></html>
`

// Bounds of a block page (issue 20 item 10): its template, checked at
// load, and what one rendering may produce, past which the denied client
// gets the text answer instead. Every answer also has a write deadline
// (answerDeadline), so a client that never reads cannot hold one.
const (
	MaxBlockPageTemplate = 64 << 10
	maxBlockPageRender   = 256 << 10
)

// ParseBlockPage parses an html/template for block pages and tries it once,
// so a template naming a field that does not exist, or one over
// MaxBlockPageTemplate bytes, fails at load, not on the first denied
// request.
func ParseBlockPage(name, text string) (*BlockPage, error) {
	if len(text) > MaxBlockPageTemplate {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a block page may have", name, len(text), MaxBlockPageTemplate)
	}
	t, err := template.New(name).Parse(text)
	if err != nil {
		return nil, err
	}
	sample := BlockData{Rule: "r", Target: "example.com:443", URL: "http://example.com/", Client: "192.0.2.1:1",
		User: "u", ProxyStatus: "http_request_denied", Reason: "denied", ID: "1"}
	if err := t.Execute(new(bytes.Buffer), sample); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return &BlockPage{tmpl: t}, nil
}

var defaultBlockPage, _ = ParseBlockPage("built-in block page", DefaultBlockPageHTML)

// SetBlockPage replaces the block page; nil restores the built-in one.
// Reloads call it; a request being answered keeps the page it loaded.
func (s *Server) SetBlockPage(p *BlockPage) {
	if p == nil {
		p = defaultBlockPage
	}
	s.page.Store(p)
}

// refuse answers an error that may be the ACL's or a 407: those get the
// block page or the Basic challenge; anything else is fail's.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, rec *accesslog.Record, err error) {
	switch tunnel.KindOf(err) {
	case tunnel.AuthNeeded:
		// RFC 9110 §11.7.1; charset per RFC 7617 §2.1.
		w.Header().Set("Proxy-Authenticate", `Basic realm="ferry", charset="UTF-8"`)
		fail(w, rec, err)
	case tunnel.Denied, tunnel.DeniedIP:
		s.deny(w, r, rec, err)
	default:
		fail(w, rec, err)
	}
}

// deny writes the 403 of a denied request with its Proxy-Status.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, rec *accesslog.Record, err error) {
	bounded(w)
	kind := tunnel.KindOf(err)
	rule := tunnel.RuleOf(err)
	d := BlockData{Rule: rule, Client: r.RemoteAddr, ProxyStatus: kind.ProxyStatus(), Reason: err.Error()}
	hop, _ := tunnel.NextHopOf(err)
	if rule == "" && hop != "" {
		d.Rule = "upstream " + hop // its own policy denied
	}
	if rec != nil {
		d.Target, d.URL, d.User, d.ID = rec.Target, rec.URL, rec.User, rec.ID
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Proxy-Status", tunnel.ProxyStatus(err))
	var body bytes.Buffer
	if page := s.page.Load(); page != nil && wantsHTML(r.Header.Values("Accept")) &&
		page.tmpl.Execute(&limitedBuffer{&body, maxBlockPageRender}, d) == nil {
		h.Set("Content-Type", "text/html; charset=utf-8")
	} else {
		body.Reset()
		by := fmt.Sprintf("rule %q", rule)
		if rule == "" && hop != "" {
			by = d.Rule
		}
		fmt.Fprintf(&body, "ferry: 403 Forbidden: %s denied by %s (%s)\n", firstOf(d.URL, d.Target), by, d.ProxyStatus)
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	// A length, so the answer is complete once flushed (see settle).
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(kind.HTTPStatus())
	w.Write(body.Bytes())
	rec.Fail(kind.HTTPStatus(), err)
}

// limitedBuffer fails a rendering that grows past its bound.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

var errRenderTooLarge = errors.New("block page rendering over its bound")

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > l.max {
		return 0, errRenderTooLarge
	}
	return l.b.Write(p)
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// wantsHTML reports whether Accept asks for HTML (text/html or XHTML with
// a q above zero, RFC 9110 §12.5.1): browsers do; curl and programs,
// sending */* or nothing, get text.
func wantsHTML(accept []string) bool {
	for _, v := range accept {
		for _, mr := range strings.Split(v, ",") {
			params := strings.Split(mr, ";")
			typ := strings.ToLower(strings.TrimSpace(params[0]))
			if typ != "text/html" && typ != "application/xhtml+xml" {
				continue
			}
			q := 1.0
			for _, p := range params[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(val, 64); err == nil {
						q = f
					}
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}

package pac

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync/atomic"
	"time"
)

// ContentType is the PAC media type browsers expect.
const ContentType = "application/x-ns-proxy-autoconfig"

// Handler serves the current PAC; Set swaps it on reload.
type Handler struct{ p atomic.Pointer[PAC] }

// NewHandler serves p.
func NewHandler(p *PAC) *Handler {
	h := &Handler{}
	h.p.Store(p)
	return h
}

// Set replaces the PAC served.
func (h *Handler) Set(p *PAC) { h.p.Store(p) }

// PAC is the PAC served now.
func (h *Handler) PAC() *PAC { return h.p.Load() }

// ServeHTTP answers GET and HEAD with the PAC file; conditional requests
// get 304 (an ETag of the content).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "ferry: the PAC file is fetched with GET", http.StatusMethodNotAllowed)
		return
	}
	p := h.p.Load()
	proxy, err := p.ProxyAddress(r.Host)
	if err != nil {
		http.Error(w, "ferry: "+err.Error(), http.StatusBadRequest)
		return
	}
	body := p.Generate(proxy)
	sum := sha256.Sum256(body)
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	w.Header().Set("Cache-Control", "max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// No modification time: after a reload an If-Modified-Since would
	// wrongly match; the ETag changes with the content.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

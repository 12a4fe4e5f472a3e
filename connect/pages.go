package connect

import (
	"net/http"

	"github.com/ferry-proxy/ferry/internal/accesslog"
)

// Handle serves h for origin-form requests to path (GET /path sent to
// ferry itself): ferry's own pages on the proxy port, such as the PAC
// file at /proxy.pac. A nil h removes the page. Safe to call while serving.
func (s *Server) Handle(path string, h http.Handler) {
	if h == nil {
		s.pages.Delete(path)
		return
	}
	s.pages.Store(path, h)
}

// servePage runs a page handler and logs what it answered.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request, rec *accesslog.Record) bool {
	v, ok := s.pages.Load(r.URL.Path)
	if !ok {
		return false
	}
	cw := &countingWriter{ResponseWriter: w}
	v.(http.Handler).ServeHTTP(cw, r)
	rec.Status, rec.BytesDown = cw.status, cw.n
	return true
}

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

// countingWriter counts response bytes and keeps the final status.
type countingWriter struct {
	http.ResponseWriter
	n      int64
	status int
}

func (w *countingWriter) WriteHeader(code int) {
	if code >= 200 && w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

package admin

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves s on 127.0.0.1:0 and returns its base URL.
func start(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReadiness(t *testing.T) {
	s := New(Options{})
	base := start(t, s)
	steps := []struct {
		name    string
		do      func()
		healthz int
		readyz  int
		body    string
	}{
		{"starting", func() {}, 200, 503, "starting"},
		{"ready", s.SetReady, 200, 200, "ready"},
		{"draining", s.SetDraining, 200, 503, "draining"},
	}
	for _, st := range steps {
		st.do()
		if code, _ := get(t, base+"/healthz"); code != st.healthz {
			t.Errorf("%s: /healthz %d, want %d", st.name, code, st.healthz)
		}
		if code, body := get(t, base+"/readyz"); code != st.readyz || !strings.Contains(body, st.body) {
			t.Errorf("%s: /readyz %d %q, want %d %q", st.name, code, body, st.readyz, st.body)
		}
	}
}

func TestRoutes(t *testing.T) {
	mark := func(s string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s) })
	}
	tests := []struct {
		name string
		opts Options
		path string
		code int
		body string
	}{
		{"metrics", Options{Metrics: mark("metrics")}, "/metrics", 200, "metrics"},
		{"no metrics", Options{}, "/metrics", 404, ""},
		{"pac", Options{PAC: mark("pac")}, "/proxy.pac", 200, "pac"},
		{"wpad", Options{PAC: mark("pac")}, "/wpad.dat", 200, "pac"},
		{"pprof", Options{Pprof: true}, "/debug/pprof/", 200, "goroutine"},
		{"pprof goroutines", Options{Pprof: true}, "/debug/pprof/goroutine?debug=1", 200, "goroutine profile"},
		{"pprof off", Options{}, "/debug/pprof/", 404, ""},
		{"index", Options{}, "/", 200, "/healthz"},
		{"unknown", Options{}, "/nope", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := start(t, New(tt.opts))
			code, body := get(t, base+tt.path)
			if code != tt.code || !strings.Contains(body, tt.body) {
				t.Errorf("GET %s: %d %q, want %d %q", tt.path, code, body, tt.code, tt.body)
			}
		})
	}
}

package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"
)

// Options are the handlers the admin listener serves; a nil one is 404.
type Options struct {
	Metrics http.Handler // /metrics
	PAC     http.Handler // /proxy.pac and /wpad.dat
	Pprof   bool         // /debug/pprof/
}

// Server is the admin HTTP server.
type Server struct {
	ready    atomic.Bool
	draining atomic.Bool
	srv      *http.Server
}

// New returns a server that is not ready until SetReady.
func New(opts Options) *Server {
	s := &Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	if opts.PAC != nil {
		mux.Handle("/proxy.pac", opts.PAC)
		mux.Handle("/wpad.dat", opts.PAC)
	}
	if opts.Pprof {
		// Mounted here explicitly. (Importing net/http/pprof also adds
		// them to http.DefaultServeMux, which ferry never serves.)
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// No WriteTimeout: a CPU profile or trace streams for as long
		// as it was asked to (?seconds=).
	}
	return s
}

// SetReady marks ferry as listening with its config loaded.
func (s *Server) SetReady() { s.ready.Store(true) }

// SetDraining marks ferry as draining: /readyz answers 503 from now on,
// so a load balancer stops sending new clients while tunnels finish.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server, waiting for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	plain(w, http.StatusOK, "ok\n")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.draining.Load():
		plain(w, http.StatusServiceUnavailable, "draining\n")
	case !s.ready.Load():
		plain(w, http.StatusServiceUnavailable, "starting\n")
	default:
		plain(w, http.StatusOK, "ready\n")
	}
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	plain(w, http.StatusOK, "ferry admin: /healthz /readyz /metrics /debug/pprof/ /proxy.pac\n")
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

package reverse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/netx"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// Server runs the reverse listeners of the current Table.
type Server struct {
	// Observer, when set before the first Apply, is told about every
	// connection (metrics).
	Observer Observer

	engine *tunnel.Engine
	sink   accesslog.Sink
	log    zerolog.Logger
	table  atomic.Pointer[Table]

	conns netx.Tracker // accept loops, open connections, drain

	mu         sync.Mutex
	sockets    map[string]*socket // by listener name
	stopChecks context.CancelFunc
	closed     bool
}

// socket is one bound listener. It outlives reloads that keep its name and
// address (or its address under a new name), and so do its counters: a
// lowered limit applies to connections already open.
type socket struct {
	name   atomic.Pointer[string] // the listener's name: its Table key
	addr   string                 // as configured
	ln     net.Listener
	active atomic.Int64
	perIP  ipCounter
}

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("reverse: server closed")

// New returns a Server that dials through engine and logs to sink. It
// serves nothing until Apply.
func New(engine *tunnel.Engine, sink accesslog.Sink, logger zerolog.Logger) *Server {
	s := &Server{
		engine:  engine,
		sink:    sink,
		log:     logger,
		sockets: map[string]*socket{},
	}
	s.conns.OnAcceptError = func(err error, retryIn time.Duration) {
		s.log.Warn().Err(err).Dur("retry_in", retryIn).Msg("accept")
	}
	return s
}

// Apply makes cfg the running configuration: listeners at new addresses
// are bound (all or none: if one fails, nothing changes), the table is
// swapped for new connections, listeners no longer configured stop
// accepting (their open connections finish), and health checks restart
// with the backends' state carried over.
func (s *Server) Apply(cfg Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	t, err := NewTable(cfg, s.table.Load())
	if err != nil {
		return err
	}
	keep, fresh, err := s.bind(t)
	if err != nil {
		return err
	}
	sockets := make(map[string]*socket, len(t.order))
	for sk, name := range keep {
		sk.name.Store(&name)
		sockets[name] = sk
	}
	s.table.Store(t)
	for name, sk := range s.sockets {
		if _, ok := keep[sk]; !ok {
			sk.ln.Close()
			s.log.Info().Str("listener", name).Str("addr", sk.ln.Addr().String()).Msg("reverse listener closed")
		}
	}
	s.sockets = sockets
	for _, sk := range fresh {
		l := t.listeners[*sk.name.Load()]
		s.sockets[l.Name] = sk
		s.log.Info().Str("listener", l.Name).Str("addr", sk.ln.Addr().String()).
			Str("protocol", string(l.Mode)).Bool("reverse", true).Msg("listening")
		go s.accept(sk)
	}
	if s.stopChecks != nil {
		s.stopChecks()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopChecks = cancel
	for _, l := range t.order {
		for _, r := range l.routes {
			r.Pool.startChecks(ctx, s.healthChanged(l), s.isOwnListener)
		}
	}
	return nil
}

// bind finds, for every listener of t, the socket it keeps (same name and
// address, or the same fixed address under a new name), with the name it
// will have, or binds a fresh one. All or nothing: on error the fresh
// sockets are closed again and nothing else has changed.
func (s *Server) bind(t *Table) (keep map[*socket]string, fresh []*socket, err error) {
	keep = map[*socket]string{}
	byAddr := map[string]*socket{}
	for _, sk := range s.sockets {
		if !strings.HasSuffix(sk.addr, ":0") {
			byAddr[sk.addr] = sk
		}
	}
	for _, l := range t.order {
		sk := s.sockets[l.Name]
		if _, taken := keep[sk]; sk == nil || sk.addr != l.Address || taken {
			sk = byAddr[l.Address]
		}
		if _, taken := keep[sk]; sk != nil && !taken {
			keep[sk] = l.Name // renamed only once the whole reload succeeds
			continue
		}
		ln, lerr := net.Listen("tcp", l.Address)
		if lerr != nil {
			for _, f := range fresh {
				f.ln.Close()
			}
			return nil, nil, fmt.Errorf("reverse listener %q: %w", l.Name, lerr)
		}
		f := &socket{addr: l.Address, ln: ln}
		f.name.Store(&l.Name)
		fresh = append(fresh, f)
	}
	return keep, fresh, nil
}

// isOwnListener reports whether a is where one of s's listeners accepts
// (its address, or its port on any address for a wildcard listener).
func (s *Server) isOwnListener(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sk := range s.sockets {
		la, ok := sk.ln.Addr().(*net.TCPAddr)
		if ok && la.Port == ta.Port && (la.IP.IsUnspecified() || la.IP.Equal(ta.IP)) {
			return true
		}
	}
	return false
}

// Addr returns the bound address of the listener called name (to learn
// the port of ":0"), or nil.
func (s *Server) Addr(name string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk := s.sockets[name]; sk != nil {
		return sk.ln.Addr()
	}
	return nil
}

func (s *Server) healthChanged(l *Listener) changeFunc {
	return func(p *Pool, b *Backend, err error) {
		e := s.log.Warn()
		msg := "backend down"
		if b.Up() {
			e, msg = s.log.Info(), "backend up"
		}
		e = e.Str("listener", l.Name).Str("route", p.Route).Str("backend", b.Address).
			Int("down", p.Down()).Int("backends", len(p.backends))
		if err != nil {
			e = e.Str("err", err.Error())
		}
		e.Msg(msg)
	}
}

// accept serves sk's listener until it is closed: by a reload that drops
// it, or by Close.
func (s *Server) accept(sk *socket) {
	err := s.conns.Serve(sk.ln, context.Background(), func(ctx context.Context, c net.Conn) {
		s.serveConn(ctx, sk, c)
	})
	if !errors.Is(err, netx.ErrClosed) && !errors.Is(err, net.ErrClosed) {
		s.log.Error().Err(err).Str("listener", *sk.name.Load()).Str("addr", sk.ln.Addr().String()).Msg("accept")
	}
}

// Close stops accepting on every listener and stops health checks; open
// connections go on until Drain.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.conns.Close()
	for _, sk := range s.sockets {
		sk.ln.Close() // those whose accept loop has not started yet
	}
	if s.stopChecks != nil {
		s.stopChecks()
	}
}

// Drain waits for open connections to finish until ctx ends, then cancels
// the rest and waits for them. It reports whether all finished on their own.
func (s *Server) Drain(ctx context.Context) bool { return s.conns.Drain(ctx) }

// Active reports the connections being served now.
func (s *Server) Active() int { return s.conns.Len() }

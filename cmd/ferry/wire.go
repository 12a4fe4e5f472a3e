package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-proxy/ferry/cache"
	"github.com/ferry-proxy/ferry/connect"
	"github.com/ferry-proxy/ferry/connect/forward"
	"github.com/ferry-proxy/ferry/fleet"
	"github.com/ferry-proxy/ferry/front"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/ferry-proxy/ferry/reverse"
	"github.com/ferry-proxy/ferry/socks"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// app is one running ferry: the engine, the front ends and the mux.
type app struct {
	log     zerolog.Logger
	engine  *tunnel.Engine
	http    *connect.Server
	mux     *front.Mux
	reverse *reverse.Server // reverse.go
	tls     tlsListeners    // tls.go
	self    selfAddrs       // self.go
	proxy   proxyFrom       // proxyfrom.go
	cache   *cache.Cache    // nil when off
	fleet   *fleet.Client   // nil without [fleet] redis (fleet.go)
	// leaveFleet takes this member out of the shared cache's ring at once
	// (a clean stop); nil when the ring is not from Redis.
	leaveFleet func()
	sink       accesslog.Sink // every front end's access log (and metrics)
	ops        *ops           // metrics, admin, PAC, log files, sd_notify (ops.go)
}

func newApp(cfg *config.File, logger zerolog.Logger, pol *policy, sink accesslog.Sink) (*app, error) {
	c, err := newCache(cfg.Cache, logger)
	if err != nil {
		return nil, err
	}
	engine := tunnel.New(cfg.Limits.Config, pol.tunnel)
	engine.SetUpstreamLog(upstreamLog(logger)) // policy.go
	fl, err := startFleet(cfg, engine, logger)
	if err != nil {
		engine.Close()
		return nil, err
	}
	maxConns, maxIdle := fdBudget(openFileLimit(), cfg.Limits.MaxConns, forward.DefaultMaxIdleConns, logger)
	httpSrv := connect.New(connect.Config{
		Limits: cfg.Limits.Limits,
		Forward: forward.Config{HTTP: cfg.HTTP, Limits: cfg.Limits.ForwardLimits, Cache: c,
			MaxIdleConns: maxIdle},
		HTTP2: cfg.HTTP2,
	}, engine, sink, logger)
	httpSrv.SetBlockPage(pol.page)
	mux := &front.Mux{
		HTTP:             httpSrv,
		SOCKS:            socks.New(engine, sink, logger),
		HandshakeTimeout: engine.HandshakeTimeout(),
		MaxConns:         maxConns,
		Log:              logger,
	}
	httpSrv.SetSlots(mux.Hold) // each HTTP/2 stream counts against max_conns
	return &app{log: logger, engine: engine, http: httpSrv, mux: mux, cache: c, sink: sink, fleet: fl}, nil
}

// serve runs ferry until SIGINT or SIGTERM, then drains.
func serve(cfg *config.File, path string, listens []string, stderr io.Writer) int {
	// Catch signals before the listening events: a supervisor may signal
	// as soon as it sees them, and the default action would kill ferry.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	logger := newLogger(cfg.Log, stderr)
	logStart(logger, cfg)
	pol, err := buildPolicy(cfg, logger)
	if err != nil {
		logger.Error().Str("err", err.Error()).Msg("config refused")
		return exitUsage
	}
	o, err := newOps(cfg, logger, stderr)
	if err != nil {
		logger.Error().Err(err).Msg("start")
		return exitFailed
	}
	a, err := newApp(cfg, logger, pol, o.sink)
	if err != nil {
		logger.Error().Err(err).Msg("start")
		return exitFailed
	}
	a.attach(o)

	lns, err := a.bind(cfg)
	if err != nil {
		logger.Error().Err(err).Msg("listen")
		return exitFailed
	}
	leaveFleet, err := a.startFleetCache(cfg, lns) // fleet.go
	if err != nil {
		logger.Error().Err(err).Msg("listen")
		for _, ln := range lns {
			ln.Close()
		}
		return exitFailed
	}
	a.leaveFleet = leaveFleet
	var wg sync.WaitGroup
	for i, ln := range lns {
		l := cfg.Listeners[i]
		logger.Info().Str("listener", l.Name).Str("addr", ln.Addr().String()).Str("protocol", string(l.Protocol)).Bool("tls", l.TLS != nil).Msg("listening")
		wg.Go(func() {
			if err := a.mux.Serve(ln, l.Protocol); err != nil && err != front.ErrClosed {
				logger.Error().Err(err).Str("listener", l.Name).Msg("accept")
			}
		})
	}
	a.self.log = logger
	a.self.start(cfg.Self)
	defer a.self.close()
	memCtx, stopMem := context.WithCancel(context.Background())
	defer stopMem()
	go releaseMemory(memCtx, a.active) // memory.go
	paceGC()                           // gcpace.go
	a.ops.ready(lns)

	a.handleSignals(sigs, cfg, path, listens)
	a.shutdown(cfg.Limits.ShutdownGrace, sigs)
	wg.Wait()
	a.ops.close()
	return exitOK
}

// bind binds every forward listener, and starts the admin port, reverse
// mode and the listeners' TLS, before anything is served: a bad one fails
// the start, and the listeners bound so far are closed.
func (a *app) bind(cfg *config.File) (lns []net.Listener, err error) {
	defer func() {
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
		}
	}()
	lc := net.ListenConfig{KeepAlive: a.engine.TCPKeepAlive()}
	for _, l := range cfg.Listeners {
		ln, err := lc.Listen(context.Background(), "tcp", l.Address)
		if err != nil {
			return lns, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		lns = append(lns, ln)
	}
	if err := a.ops.start(cfg, lns, a.http); err != nil {
		return lns, err
	}
	if err := a.startReverse(cfg); err != nil {
		return lns, err
	}
	a.mux.BaseContext = listenerContexts(cfg, lns)
	a.proxy.lns = lns
	a.proxy.use(cfg)
	a.mux.ProxyFrom = a.proxy.of                 // proxyfrom.go
	if err := a.startTLS(cfg, lns); err != nil { // tls.go
		return lns, err
	}
	return lns, nil
}

// handleSignals serves reloads (HUP) and log reopens (USR1) until INT or
// TERM, which stops the accepting and returns for the drain.
func (a *app) handleSignals(sigs <-chan os.Signal, cfg *config.File, path string, listens []string) {
	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			a.ops.reloading()
			a.ops.reloaded(a.reload(path, listens, cfg))
		case syscall.SIGUSR1:
			a.ops.reopen()
		default:
			// Stop accepting before saying so: a client that connects
			// after the shutdown event must be refused, not served.
			a.ops.draining()
			a.mux.Close()
			a.log.Info().Str("signal", sig.String()).Dur("grace", cfg.Limits.ShutdownGrace).Msg("shutdown")
			return
		}
	}
}

// active counts the connections served now, forward and reverse.
func (a *app) active() int { return int(a.mux.Active()) + a.reverse.Active() }

// reload re-reads the config and returns it; a bad one is refused (nil)
// and the running one stays. start is the config ferry started with, whose
// listeners, [fleet] and start-only tables stay in force.
func (a *app) reload(path string, listens []string, start *config.File) *config.File {
	if path == "" {
		a.log.Info().Bool("ok", true).Str("note", "embedded config: nothing to re-read").Msg("reload")
		return start
	}
	cfg, err := loadConfig(path, listens)
	if err == nil {
		err = sameListeners(start, cfg)
	}
	if err == nil {
		err = sameFleet(start, cfg) // fleet.go
	}
	var pol *policy
	if err == nil {
		pol, err = buildPolicy(cfg, a.log)
	}
	var commitTLS func()
	if err == nil {
		commitTLS, err = a.prepareTLS(cfg) // tls.go
	}
	if err != nil {
		a.log.Error().Bool("ok", false).Str("err", err.Error()).Msg("reload")
		return nil
	}
	if err := a.reloadReverse(cfg); err != nil {
		a.log.Error().Bool("ok", false).Str("err", err.Error()).Msg("reload")
		return nil
	}
	a.engine.SetPolicy(pol.tunnel)
	a.self.use(cfg.Self)
	a.proxy.use(cfg)
	commitTLS()
	a.http.GoAway() // HTTP/2 clients reconnect, under the new TLS material
	a.http.SetBlockPage(pol.page)
	a.noteStartOnly(start, cfg) // startonly.go
	a.log.Info().Bool("ok", true).Str("config", path).Msg("reload")
	return cfg
}

// shutdown stops accepting, lets open connections finish within grace (a
// second signal cuts it short), then closes what is left.
func (a *app) shutdown(grace time.Duration, sigs <-chan os.Signal) {
	a.mux.Close() // already closed on a signal; idempotent
	if a.leaveFleet != nil {
		a.leaveFleet() // the other members stop sending this one requests
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	go a.http.Shutdown(ctx)
	start := time.Now()
	revClean := make(chan bool, 1)
	go func() { revClean <- a.drainReverse(ctx) }()
	clean := a.mux.Drain(ctx)
	clean = <-revClean && clean
	a.engine.Close() // upstream checkers, the limiter's last flush
	if a.fleet != nil {
		a.fleet.Close()
	}
	a.closeCache()
	a.log.Info().Bool("clean", clean).Dur("took", time.Since(start)).Msg("stopped")
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/admin"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/internal/pac"
	"github.com/ferry-proxy/ferry/internal/sdnotify"
	"github.com/ferry-proxy/ferry/tunnel"
	"github.com/rs/zerolog"
)

// ops is what running ferry for months needs beside the proxy: the access
// log's sink, the metrics, the PAC file, the admin listener and the
// service manager's notifications.
//
// Hooks for other features, each one line where they are wired:
//   - a front end logs to a.sink (access log and metrics in one);
//   - upstream health: a.ops.metrics.SetUpstreams(func() []metrics.Health);
//   - reverse backends' health: a.ops.metrics.SetBackends(...), Group the
//     route, Name the backend address;
//   - the cache's store sizes: SetCacheUsage, in attach below;
//   - a collector of its own: a.ops.metrics.Registry().MustRegister(...).
type ops struct {
	log     zerolog.Logger
	sink    accesslog.Sink   // the access log tee'd with the metrics
	file    *accesslog.File  // the access-log file; nil on stderr
	metrics *metrics.Metrics // also the mux's Observer (metrics.Conns)
	pac     *pac.Handler     // nil until the listeners are bound
	admin   *admin.Server    // nil when [admin] is off
	adminLn net.Listener
	served  chan struct{} // closed when the admin server has stopped
	cfg     *config.File  // the config at start: [admin] and [log] are not reloaded

	pacAddr, pacProto string // the first listener's bound address and protocol
}

// newOps opens the access log and builds the metrics. It fails when the
// access-log file cannot be opened.
func newOps(cfg *config.File, logger zerolog.Logger, stderr io.Writer) (*ops, error) {
	o := &ops{log: logger, cfg: cfg, served: make(chan struct{})}
	for _, w := range opsWarnings(cfg) {
		logger.Warn().Msg(w)
	}
	version, commit := buildInfo()
	o.metrics = metrics.New(version, commit)
	logSink, file, err := accessSink(cfg.Log.Config, stderr, func(err error) {
		logger.Error().Err(err).Msg("access log write failed")
	})
	if err != nil {
		return nil, err
	}
	o.file = file
	// Metrics first: once a request's log line can be seen, it is counted.
	o.sink = accesslog.Tee{o.metrics, logSink}
	return o, nil
}

// accessSink is where access events go: stderr or a file, in the format
// asked for. It has no level: log.level filters server events only, and
// the access log is complete.
func accessSink(cfg accesslog.Config, stderr io.Writer, onError func(error)) (accesslog.Sink, *accesslog.File, error) {
	w := stderr
	var file *accesslog.File
	if cfg.Access != accesslog.Stderr {
		f, err := accesslog.OpenFile(cfg.Access, cfg.Flush, onError)
		if err != nil {
			return nil, nil, err
		}
		w, file = f, f
	}
	switch cfg.Format {
	case accesslog.FormatSquid:
		return &accesslog.Squid{W: w, HTTPStatus: tunnel.HTTPStatusFor}, file, nil
	case accesslog.FormatConsole:
		w = consoleWriter(w, time.RFC3339)
	}
	return accesslog.Zerolog{Log: zerolog.New(w).With().Timestamp().Logger()}, file, nil
}

// attach makes a's front ends report to o: the mux's connections, the
// upstreams' health and the cache's size to the metrics. (The access log
// already goes to o.sink, given to newApp.)
func (a *app) attach(o *ops) {
	a.ops = o
	a.mux.Observer = o.metrics.Conns
	o.metrics.SetUpstreams(func() []metrics.Health { // ferry_upstream_up
		var hs []metrics.Health
		for _, u := range a.engine.UpstreamStates() {
			hs = append(hs, metrics.Health{Name: u.Name, Up: u.Up})
		}
		return hs
	})
	o.metrics.SetAssociations(a.engine.Associations)
	o.metrics.SetLimits(limitStats(a.engine)) // limits.go
	if a.fleet != nil {
		o.metrics.SetFleet(func() metrics.FleetStat {
			return metrics.FleetStat{Up: a.fleet.Up(), Slow: a.fleet.Slow(), Changes: a.fleet.Changes()}
		})
	}
	if c := a.cache; c != nil {
		o.metrics.SetCacheUsage(func() []metrics.StoreUsage {
			st := c.Stats()
			return []metrics.StoreUsage{{Store: "memory", Objects: st.MemoryObjects, Bytes: st.MemoryBytes},
				{Store: "disk", Objects: st.DiskObjects, Bytes: st.DiskBytes}}
		})
	}
}

// start runs once the proxy listeners lns are bound: it binds the admin
// listener (if on), builds the PAC for the first listener and mounts it on
// the proxy port (pages) and the admin listener, names the listeners for
// the metrics, and starts serving the admin listener.
func (o *ops) start(cfg *config.File, lns []net.Listener, pages interface{ Handle(string, http.Handler) }) error {
	if a := cfg.Admin.Address; a != "" {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			close(o.served)
			return fmt.Errorf("admin listener: %w", err)
		}
		o.adminLn = ln
	}
	for i, ln := range lns {
		o.metrics.Conns.Name(ln, cfg.Listeners[i].Name)
	}
	o.pacAddr, o.pacProto = lns[0].Addr().String(), string(cfg.Listeners[0].Protocol)
	p, err := pac.New(cfg.PAC, o.pacAddr, o.pacProto)
	if err != nil {
		if o.adminLn != nil {
			o.adminLn.Close()
		}
		close(o.served)
		return err
	}
	o.pac = pac.NewHandler(p)
	pages.Handle("/proxy.pac", o.pac)
	pages.Handle("/wpad.dat", o.pac)
	if o.adminLn == nil {
		close(o.served)
		return nil
	}
	o.admin = admin.New(admin.Options{Metrics: o.metrics.Handler(), PAC: o.pac, Pprof: cfg.Admin.Pprof})
	go func() {
		defer close(o.served)
		if err := o.admin.Serve(o.adminLn); err != nil {
			o.log.Error().Err(err).Str("listener", "admin").Msg("accept")
		}
	}()
	return nil
}

// ready says start-up is done: /readyz answers 200 and systemd hears
// READY=1.
func (o *ops) ready(lns []net.Listener) {
	if o.admin != nil {
		// Ready before the admin's listening event, so whoever acts on
		// that event finds /readyz answering 200; the event comes after
		// the proxy's own: the first one is the proxy's address for
		// whoever reads the log.
		o.admin.SetReady()
		o.log.Info().Str("listener", "admin").Str("addr", o.adminLn.Addr().String()).Str("protocol", "admin").Msg("listening")
	}
	status := "serving on"
	for _, ln := range lns {
		status += " " + ln.Addr().String()
	}
	o.notify(sdnotify.Ready(status))
}

// reloading tells systemd a reload has begun.
func (o *ops) reloading() { o.notify(sdnotify.Reloading()) }

// reloaded applies what ops takes from a reloaded config (cfg nil: the
// reload was refused) and tells systemd and the metrics.
func (o *ops) reloaded(cfg *config.File) {
	o.metrics.Reloaded(cfg != nil)
	if cfg != nil && cfg != o.cfg {
		// Listeners are not reloaded: the PAC still points at the one
		// bound at start.
		if p, err := pac.New(cfg.PAC, o.pacAddr, o.pacProto); err == nil {
			o.pac.Set(p)
		} else {
			o.log.Error().Err(err).Msg("pac: kept the previous PAC")
		}
	}
	o.notify(sdnotify.Ready("reloaded"))
}

// reopen reopens the access-log file (SIGUSR1, after a rotation).
func (o *ops) reopen() {
	if o.file == nil {
		o.log.Info().Str("access", "stderr").Msg("reopen: nothing to reopen")
		return
	}
	if err := o.file.Reopen(); err != nil {
		o.log.Error().Err(err).Msg("reopen: still writing to the file open before")
		return
	}
	o.log.Info().Str("access", o.file.Path()).Msg("reopen")
}

// draining says ferry stops: /readyz answers 503 and systemd hears
// STOPPING=1. The admin listener stays up until close.
func (o *ops) draining() {
	if o.admin != nil {
		o.admin.SetDraining()
	}
	o.notify(sdnotify.Stopping())
}

// close stops the admin listener and closes the access-log file, after
// the drain.
func (o *ops) close() {
	if o.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		o.admin.Shutdown(ctx)
		cancel()
		<-o.served
	}
	if o.file != nil {
		o.file.Close()
	}
}

func (o *ops) notify(err error) {
	if err != nil {
		o.log.Warn().Err(err).Msg("sd_notify")
	}
}

// opsWarnings are things that are valid but probably not meant; ferry
// check prints them and ferry logs them at start.
func opsWarnings(cfg *config.File) []string {
	ws := slices.Clone(cfg.Warnings)
	if a := cfg.Admin.Address; a != "" && !loopbackHost(a) {
		ws = append(ws, fmt.Sprintf("admin.address %q may be reachable from other machines: /metrics and /debug/pprof/ are served there without authentication", a))
		// A PAC pointing at loopback sends other machines' browsers to
		// themselves.
		proxy := cfg.PAC.ProxyAddress
		if proxy == "" {
			proxy = cfg.Listeners[0].Address
		}
		if loopbackHost(proxy) {
			ws = append(ws, fmt.Sprintf("pac: the admin listener serves the PAC to other machines, but it points at %s, a loopback address; set pac.proxy_address", proxy))
		}
	}
	return ws
}

// loopbackHost: the host of addr is a loopback IP or localhost.
func loopbackHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

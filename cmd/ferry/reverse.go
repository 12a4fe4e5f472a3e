package main

import (
	"context"

	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/reverse"
)

// startReverse binds the reverse listeners; an error fails the start.
func (a *app) startReverse(cfg *config.File) error {
	a.reverse = reverse.New(a.engine, a.sink, a.log)
	a.reverse.Observer = a.ops.metrics.Conns.Named() // connections by listener
	a.ops.metrics.SetBackends(a.backendHealth)
	return a.reverse.Apply(reverse.Config{Listeners: cfg.Reverse})
}

// backendHealth lists every reverse backend's health for the metrics
// (ferry_backend_up), read at each scrape.
func (a *app) backendHealth() []metrics.Health {
	var hs []metrics.Health
	for _, b := range a.reverse.Backends() {
		hs = append(hs, metrics.Health{Group: b.Listener + "/" + b.Route, Name: b.Address, Up: b.Up})
	}
	return hs
}

// reloadReverse swaps the route table; listeners are added and removed by
// address. On error nothing changed.
func (a *app) reloadReverse(cfg *config.File) error {
	return a.reverse.Apply(reverse.Config{Listeners: cfg.Reverse})
}

// drainReverse stops the reverse listeners and waits for their
// connections like the front mux's Drain.
func (a *app) drainReverse(ctx context.Context) bool {
	a.reverse.Close()
	return a.reverse.Drain(ctx)
}

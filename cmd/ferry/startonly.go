package main

import (
	"reflect"
	"strings"

	"github.com/ferry-proxy/ferry/internal/config"
)

// startOnlyChanged names the tables of cfg, a reloaded config, that differ
// from start's, which the running ferry keeps: they are applied once, at
// start (the listeners and [fleet] refuse a reload instead, sameListeners
// and sameFleet).
func startOnlyChanged(start, cfg *config.File) []string {
	var changed []string
	for _, t := range []struct {
		name     string
		was, now any
	}{
		{"[limits]", start.Limits, cfg.Limits},
		{"[http]", start.HTTP, cfg.HTTP},
		{"[http2]", start.HTTP2, cfg.HTTP2},
		{"[log]", start.Log, cfg.Log},
		{"[admin]", start.Admin, cfg.Admin},
		{"[cache]", start.Cache, cfg.Cache},
	} {
		if !reflect.DeepEqual(t.was, t.now) {
			changed = append(changed, t.name)
		}
	}
	return changed
}

// noteStartOnly warns, on a reload, about the start-only tables the file
// changed, so that the reload's ok is not taken for them being in force.
func (a *app) noteStartOnly(start, cfg *config.File) {
	if changed := startOnlyChanged(start, cfg); len(changed) > 0 {
		a.log.Warn().Strs("tables", changed).Msg("reload: " + strings.Join(changed, ", ") +
			" changed in the file: applied at the next start, not on reload")
	}
}

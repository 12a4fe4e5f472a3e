package main

import (
	"io"
	"os"
	"runtime"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/config"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// newLogger is the server log: JSON lines, or lines for people
// (log.format = "console"), on w.
func newLogger(cfg config.Log, w io.Writer) zerolog.Logger {
	if cfg.Format == accesslog.FormatConsole {
		w = consoleWriter(w, time.RFC3339)
	}
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// logStart says what is starting: which ferry, from which config, to
// listen where (the bound addresses follow, in the listening events).
func logStart(log zerolog.Logger, cfg *config.File) {
	version, commit := buildInfo()
	ls := make([]string, len(cfg.Listeners))
	for i, l := range cfg.Listeners {
		ls[i] = l.Name + " " + l.Address
	}
	rs := make([]string, len(cfg.Reverse))
	for i, l := range cfg.Reverse {
		rs[i] = l.Name + " " + l.Address
	}
	log.Info().Str("version", version).Str("commit", commit).Str("go", runtime.Version()).Str("config", cfg.Path).
		Strs("listeners", ls).Strs("reverse", rs).Str("self", cfg.Self.String()).Msg("starting")
}

// consoleWriter writes log lines for people on w, in colour only when w
// is a terminal and NO_COLOR is unset (https://no-color.org): escape
// codes in a pipe, a file or the journal are noise.
func consoleWriter(w io.Writer, timeFormat string) zerolog.ConsoleWriter {
	return zerolog.ConsoleWriter{Out: w, NoColor: !colour(w, os.Getenv), TimeFormat: timeFormat}
}

// colour reports whether w is a terminal that may get colour: an
// *os.File on a tty, with NO_COLOR empty or unset.
func colour(w io.Writer, getenv func(string) string) bool {
	if getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/ferry-proxy/ferry"
	"github.com/ferry-proxy/ferry/internal/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // could not start or run (a port in use, say)
	exitUsage  = 2 // bad flags or a bad config file
)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// embeddedName names the embedded config in messages.
const embeddedName = "config.toml.example (embedded)"

func run(args []string, stdout, stderr io.Writer) int {
	if code, ok := runSubcommand(args, stdout, stderr); ok {
		return code
	}
	fs := flag.NewFlagSet("ferry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "TOML config `file` (default: the embedded config.toml.example)")
	var listens stringList
	fs.Var(&listens, "listen", "listen `address` (host:port), repeatable; replaces the config's listeners")
	showVersion := fs.Bool("version", false, "print version, commit and Go version, then exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ferry [-config file] [-listen addr]... [-version]\n"+
			"       ferry check [-config file] [-listen addr]... [-q]   (validate; print the effective config)\n"+
			"       ferry explain [-config file] [-user u] [-client ip] ... target   (see ferry explain -h)\n"+
			"       ferry hash-password < password   (a bcrypt hash for [[auth.user]])\n\n"+
			"ferry is a forward proxy: HTTP CONNECT, plain HTTP and SOCKS4/4a/5 on one port.\n"+
			"Every config key is documented in config.toml.example.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, 0); !ok {
		return code
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionString())
		return exitOK
	}
	cfg, err := loadConfig(*configPath, listens)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: config refused:\n%v\n", err)
		return exitUsage
	}
	return serve(cfg, *configPath, listens, stderr)
}

// loadConfig reads path, or the embedded default when path is "", and
// applies -listen overrides.
func loadConfig(path string, listens []string) (*config.File, error) {
	var cfg *config.File
	var err error
	if path == "" {
		cfg, err = config.Parse(embeddedName, ferry.DefaultConfig)
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return nil, err
	}
	if len(listens) > 0 {
		if err := cfg.OverrideListeners(listens); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func versionString() string {
	version, commit := buildInfo()
	return fmt.Sprintf("ferry %s commit %s %s", version, commit, runtime.Version())
}

// buildInfo is the module version and VCS commit the binary was built
// from, as far as the build recorded them.
func buildInfo() (version, commit string) {
	version, commit = "(devel)", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	return version, commit
}

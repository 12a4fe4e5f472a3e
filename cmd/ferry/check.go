package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/ferry-proxy/ferry/acl"
	"github.com/rs/zerolog"
)

// ruleList names the rules of a, in order, and the default.
func ruleList(a acl.Config) string {
	var b strings.Builder
	for _, r := range a.Rules {
		fmt.Fprintf(&b, "%s (%s), ", r.Name, r.Action)
	}
	def := a.Default
	if def == "" {
		def = "deny"
	}
	return b.String() + "then the default: " + def
}

// check validates a config without starting ferry: exit 0 and the
// effective config (every default filled in) as TOML on stdout, or exit 2
// and every problem found, one per line, on stderr.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "TOML config `file` to check (default: the embedded config.toml.example)")
	var listens stringList
	fs.Var(&listens, "listen", "listen `address` (host:port), repeatable, as for ferry itself")
	quiet := fs.Bool("q", false, "print nothing when the config is good; only the exit status tells")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ferry check [-config file] [-listen addr]... [-q]\n\n"+
			"Validates the config as ferry would load it. Exit 0: it is good, and the effective\n"+
			"config (defaults filled in) is printed as TOML. Exit 2: every problem is listed.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, 0); !ok {
		return code
	}
	name := *configPath
	if name == "" {
		name = embeddedName
	}
	cfg, err := loadConfig(*configPath, listens)
	if err == nil {
		// What start would refuse after loading: the files the config
		// names (htpasswd, domain lists, block page, certificates).
		_, err = buildPolicy(cfg, zerolog.Nop())
	}
	if err != nil {
		fmt.Fprintf(stderr, "ferry check: %s refused:\n%v\n", name, err)
		return exitUsage
	}
	for _, w := range opsWarnings(cfg) {
		fmt.Fprintf(stderr, "ferry check: warning: %s\n", w)
	}
	if *quiet {
		return exitOK
	}
	fmt.Fprintf(stdout, "# %s is valid. The effective config, every default filled in.\n", name)
	fmt.Fprintf(stdout, "# The acl rules in force, first match wins: %s.\n", ruleList(cfg.ACL))
	fmt.Fprintf(stdout, "# ip \"self\" is this host's addresses, read now (and by ferry at start, on reload and when they change): %s.\n\n", cfg.Self)
	if err := toml.NewEncoder(stdout).Encode(cfg); err != nil {
		fmt.Fprintf(stderr, "ferry check: printing the config: %v\n", err)
		return exitFailed
	}
	return exitOK
}

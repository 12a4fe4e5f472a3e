package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// testNames are the tests, in the order they run.
var testNames = []string{"bulk", "setup", "http", "open", "idle", "udp"}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	http, socks, tcp string
	echoAddr         string
	tcpBulk          string // forwarders to the sink and the source: "sink,source"
	sinkAddr         string
	sourceAddr       string
	only             []string
	duration         time.Duration
	conc             int
	rounds           int
	jsonOut, quiet   bool
	name             string
	pid              int
	idleMax          int
	idleWait         time.Duration
	udpIdle          int
	openRates        []openRate
	openBase         map[string]float64 // -open-base: direct capacity by test
	calibrate        bool
	merge            bool
	cpuProfile       string
	args             []string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("ferry-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.http, "http-proxy", "", "HTTP proxy `host:port` (CONNECT and plain GET); empty skips those figures")
	fs.StringVar(&o.socks, "socks-proxy", "", "SOCKS5 proxy `host:port`; empty skips those figures")
	fs.StringVar(&o.tcp, "tcp-proxy", "", "plain TCP forwarder `host:port` to the echo origin (e.g. haproxy mode tcp), for setup and open; needs -echo-addr")
	fs.StringVar(&o.echoAddr, "echo-addr", "", "listen `address` of the echo origin (default: a free loopback port)")
	fs.StringVar(&o.tcpBulk, "tcp-bulk-proxy", "", "plain TCP forwarders `sink,source` (host:port each) to the sink and source origins, for bulk; needs -sink-addr and -source-addr")
	fs.StringVar(&o.sinkAddr, "sink-addr", "", "listen `address` of the sink origin (default: a free loopback port)")
	fs.StringVar(&o.sourceAddr, "source-addr", "", "listen `address` of the source origin (default: a free loopback port)")
	only := fs.String("only", strings.Join(testNames, ","), "tests to run, comma-separated: "+strings.Join(testNames, ","))
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "measured time of each figure, split over the rounds")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds per figure: direct and proxy take turns, so load changes on a shared machine hit both (each round has an unmeasured warm-up of a fifth of it, 100ms–1s)")
	fs.IntVar(&o.conc, "c", 64, "concurrency of the setup and http tests")
	fs.BoolVar(&o.jsonOut, "json", false, "print JSON instead of the table")
	fs.BoolVar(&o.quiet, "q", false, "no progress line on stderr")
	fs.StringVar(&o.name, "name", "proxy", "`name` of the proxy in the report")
	fs.IntVar(&o.pid, "pid", 0, "PID of the proxy, for its CPU time and the idle test (default: the process listening on the proxy's port)")
	fs.IntVar(&o.idleMax, "idle-max", 10000, "idle tunnels to open at most (fewer if the open-file limit says so)")
	fs.DurationVar(&o.idleWait, "idle-wait", 60*time.Second, "how long to wait for the proxy's fds and RSS to return after the idle tunnels close")
	fs.IntVar(&o.udpIdle, "udp-idle", 1000, "idle UDP associations to open at most for the udp test (from 127.0.0.1-250)")
	openBase := fs.String("open-base", "", "direct capacities the open test's shares are of, `setup=N,http=M` per second (default: measured in the run; bench/compare.sh measures them once with -calibrate, so every proxy gets the same rates)")
	fs.BoolVar(&o.calibrate, "calibrate", false, "measure the direct closed-loop capacity of setup and http, print it as -open-base takes it, and exit")
	openRates := fs.String("open-rates", "25%,50%", "arrival `rates` of the open test, comma-separated: shares of the direct capacity (25%) or rates per second (2000)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the tool's own CPU profile to `file` (is the client the bottleneck?)")
	fs.BoolVar(&o.merge, "merge", false, "read the -json `files` given as arguments and print one markdown comparison table (runs of one proxy name: the median of each figure)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ferry-bench [-http-proxy addr] [-socks-proxy addr] [flags]\n"+
			"       ferry-bench -merge run1.json run2.json ...\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.args = fs.Args()
	if o.merge {
		if len(o.args) == 0 {
			return nil, errors.New("-merge needs JSON files")
		}
		return o, nil
	}
	if len(o.args) > 0 {
		return nil, fmt.Errorf("unexpected argument %q", o.args[0])
	}
	for _, t := range strings.Split(*only, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(testNames, t) {
			return nil, fmt.Errorf("-only: unknown test %q (want %s)", t, strings.Join(testNames, ","))
		}
		o.only = append(o.only, t)
	}
	rates, err := parseOpenRates(*openRates)
	if err != nil {
		return nil, err
	}
	o.openRates = rates
	if o.openBase, err = parseOpenBase(*openBase); err != nil {
		return nil, err
	}
	if o.calibrate {
		return o, nil
	}
	var tcpBulk []string
	if o.tcpBulk != "" {
		tcpBulk = strings.Split(o.tcpBulk, ",")
		if len(tcpBulk) != 2 {
			return nil, errors.New("-tcp-bulk-proxy: want two addresses, sink,source")
		}
	}
	for _, a := range append([]string{o.http, o.socks, o.tcp}, tcpBulk...) {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("proxy address %q: %w", a, err)
		}
	}
	switch {
	case o.http == "" && o.socks == "" && o.tcp == "" && o.tcpBulk == "":
		return nil, errors.New("nothing to measure: give -http-proxy, -socks-proxy, -tcp-proxy or -tcp-bulk-proxy")
	case o.tcp != "" && o.echoAddr == "":
		return nil, errors.New("-tcp-proxy needs -echo-addr (the forwarder's fixed target)")
	case o.tcpBulk != "" && (o.sinkAddr == "" || o.sourceAddr == ""):
		return nil, errors.New("-tcp-bulk-proxy needs -sink-addr and -source-addr (the forwarders' fixed targets)")
	case o.duration <= 0 || o.conc <= 0 || o.rounds <= 0 || o.idleMax < 0 || o.udpIdle < 0:
		return nil, errors.New("-duration, -c, -rounds, -idle-max and -udp-idle must be positive")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "ferry-bench:", err)
		return 2
	}
	if o.merge {
		runs, err := readReports(os.ReadFile, o.args)
		if err == nil {
			err = writeComparison(stdout, medianRuns(runs))
		}
		if err != nil {
			fmt.Fprintln(stderr, "ferry-bench:", err)
			return 1
		}
		return 0
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "ferry-bench:", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if o.calibrate {
		base, err := calibrate(o)
		if err != nil {
			fmt.Fprintln(stderr, "ferry-bench:", err)
			return 1
		}
		fmt.Fprintln(stdout, base)
		return 0
	}
	r, err := measure(o)
	if err != nil {
		fmt.Fprintln(stderr, "ferry-bench:", err)
		return 1
	}
	if o.jsonOut {
		err = writeJSON(stdout, r)
	} else {
		err = writeTable(stdout, r)
	}
	if err != nil {
		fmt.Fprintln(stderr, "ferry-bench:", err)
		return 1
	}
	return 0
}

func measure(o *options) (*Report, error) {
	limit, err := raiseFileLimit()
	if err != nil {
		return nil, fmt.Errorf("open-file limit: %w", err)
	}
	orig, err := startOrigins(o.echoAddr, o.sinkAddr, o.sourceAddr)
	if err != nil {
		return nil, fmt.Errorf("starting origins: %w", err)
	}
	defer orig.close()
	b := &bench{
		o:       orig,
		warmup:  min(max(o.duration/time.Duration(5*o.rounds), 100*time.Millisecond), time.Second),
		round:   o.duration / time.Duration(o.rounds),
		rounds:  o.rounds,
		conc:    o.conc,
		p:       newProgress(os.Stderr, o.quiet),
		http:    o.http,
		socks:   o.socks,
		tcp:     o.tcp,
		tcpBulk: map[*origin]string{},

		directRate: map[string]float64{},
		openBase:   map[string]float64{},
	}
	for k, v := range o.openBase {
		b.openBase[k] = v
	}
	if sink, source, ok := strings.Cut(o.tcpBulk, ","); ok {
		b.tcpBulk[orig.sink], b.tcpBulk[orig.source] = sink, source
	}
	pid := o.pid
	if pid == 0 {
		pid = findPID(o)
	}
	b.pid = pid
	r := &Report{Name: o.name, Time: time.Now().UTC().Truncate(time.Second),
		HTTPProxy: o.http, SOCKSProxy: o.socks, TCPProxy: o.tcp, Duration: o.duration.Seconds(), PID: pid}
	for _, t := range o.only {
		switch t {
		case "bulk":
			r.Metrics = append(r.Metrics, b.runBulk()...)
		case "setup":
			r.Metrics = append(r.Metrics, b.runSetup()...)
		case "http":
			r.Metrics = append(r.Metrics, b.runHTTP()...)
		case "open":
			r.Metrics = append(r.Metrics, b.runOpen(o.openRates)...)
		case "idle":
			r.Metrics = append(r.Metrics, b.runIdle(idleConfig{pid: pid, want: o.idleMax, limit: limit, wait: o.idleWait})...)
		case "udp":
			r.Metrics = append(r.Metrics, b.runUDP(idleConfig{pid: pid, want: o.udpIdle, limit: limit})...)
		}
	}
	return r, nil
}

// findPID looks up the process listening on the proxy's port; 0 if none.
func findPID(o *options) int {
	for _, a := range []string{o.http, o.socks, o.tcp, strings.Split(o.tcpBulk, ",")[0]} {
		if a == "" {
			continue
		}
		_, port, _ := net.SplitHostPort(a)
		p, err := strconv.Atoi(port)
		if err != nil {
			continue
		}
		if pid, err := pidOfListener(p); err == nil {
			return pid
		}
	}
	return 0
}

package test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// opsConfig is minimalConfig with the admin listener on an ephemeral
// loopback port.
const opsConfig = minimalConfig + `
[admin]
address = "127.0.0.1:0"
`

// adminClient talks to the admin listener without keeping connections, so
// a scrape leaves no connection (and goroutine) behind in ferry.
var adminClient = &http.Client{Timeout: ioTimeout, Transport: &http.Transport{DisableKeepAlives: true}}

// startOps starts ferry with configTOML (which must turn the admin
// listener on) and returns it with the admin listener's address.
func startOps(t testing.TB, configTOML string, args ...string) (*Ferry, string) {
	t.Helper()
	f := startFerry(t, configTOML, args...)
	return f, f.AddrOf("admin")
}

// adminGet fetches path from the admin listener.
func adminGet(t testing.TB, admin, path string) (int, http.Header, string) {
	t.Helper()
	resp, body := get(t, adminClient, context.Background(), "http://"+admin+path)
	return resp.StatusCode, resp.Header, body
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// metrics is a scrape of /metrics.
type metrics []sample

// scrape reads /metrics in the text exposition format.
func scrape(t testing.TB, admin string) metrics {
	t.Helper()
	code, _, body := adminGet(t, admin, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %q", code, body)
	}
	ms, bad := parseMetrics(strings.NewReader(body))
	if bad != "" {
		t.Fatalf("/metrics: unparsable line %q", bad)
	}
	return ms
}

// parseMetrics reads the text exposition format: the samples of every line
// that parses, and the first line that does not ("" if none).
func parseMetrics(r io.Reader) (ms metrics, bad string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s, ok := parseSample(line)
		if !ok {
			if bad == "" {
				bad = line
			}
			continue
		}
		ms = append(ms, s)
	}
	return ms, bad
}

// parseSample parses `name{k="v",...} value` (label values here never
// hold a quote, comma or brace).
func parseSample(line string) (sample, bool) {
	head, val, ok := strings.Cut(line, " ")
	if !ok {
		return sample{}, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
	if err != nil {
		return sample{}, false
	}
	s := sample{labels: map[string]string{}, value: v}
	name, rest, hasLabels := strings.Cut(head, "{")
	s.name = name
	if hasLabels {
		rest = strings.TrimSuffix(rest, "}")
		for _, kv := range strings.Split(rest, ",") {
			if kv == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return sample{}, false
			}
			s.labels[k] = strings.Trim(v, `"`)
		}
	}
	return s, true
}

// get is the value of the series name with exactly the labels kv (pairs),
// and whether it exists.
func (ms metrics) get(name string, kv ...string) (float64, bool) {
	for _, s := range ms {
		if s.name != name || len(s.labels) != len(kv)/2 {
			continue
		}
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			if s.labels[kv[i]] != kv[i+1] {
				match = false
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

// val is get, with a missing series read as 0 (a counter not yet moved).
func (ms metrics) val(name string, kv ...string) float64 {
	v, _ := ms.get(name, kv...)
	return v
}

// waitMetrics scrapes until ok accepts a scrape, polling every 50ms for at
// most timeout, and returns the last scrape and whether ok accepted it.
func waitMetrics(t testing.TB, admin string, timeout time.Duration, ok func(metrics) bool) (metrics, bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ms := scrape(t, admin)
		if ok(ms) {
			return ms, true
		}
		if time.Now().After(deadline) {
			return ms, false
		}
		<-tick.C
	}
}

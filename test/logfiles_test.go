package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fileLines returns the lines of the file at path ("" lines dropped).
func fileLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// waitUntil polls cond every 20ms for at most timeout.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// TestAccessLogRotation: with the access log in a file, a rotation tool
// renames it and sends SIGUSR1 while requests keep coming; ferry reopens
// the path, and the two files together hold exactly one line per request.
func TestAccessLogRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f := startFerry(t, minimalConfig+fmt.Sprintf("\n[log]\naccess = %q\n", path))
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(origin.Close)

	// Load: workers fetch through ferry until stopped (at most maxRequests
	// in all), counting the answered requests.
	const workers, maxRequests = 4, 50000
	var done, started atomic.Int64
	var failed atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		client := proxyClient(t, f.Addr, nil)
		wg.Go(func() {
			for started.Add(1) <= maxRequests {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(origin.URL + "/")
				if err != nil {
					failed.Store(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Store(fmt.Errorf("status %d", resp.StatusCode))
					return
				}
				done.Add(1)
			}
		})
	}
	atLeast := func(n int64) bool { return done.Load() >= n || failed.Load() != nil }
	if !waitUntil(eventTimeout, func() bool { return atLeast(300) }) {
		t.Fatalf("only %d requests done", done.Load())
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	f.Signal(syscall.SIGUSR1)
	if ev := f.WaitEvent("reopen", nil); ev.Str("access") != path {
		t.Errorf("reopen event %v", ev)
	}
	after := done.Load() + 300
	if !waitUntil(eventTimeout, func() bool { return atLeast(after) }) {
		t.Fatalf("only %d requests done", done.Load())
	}
	close(stop)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("a request failed: %v", err)
	}
	if code := f.Stop(); code != 0 { // every record is finished by the drain
		t.Fatalf("exit %d", code)
	}

	old, cur := fileLines(t, path+".1"), fileLines(t, path)
	if int64(len(old)+len(cur)) != done.Load() {
		t.Errorf("%d + %d lines in the rotated and new files, want %d: lines lost or doubled", len(old), len(cur), done.Load())
	}
	if len(old) == 0 || len(cur) == 0 {
		t.Errorf("rotated file %d lines, new file %d: want both written", len(old), len(cur))
	}
	for _, l := range append(old, cur...) {
		var ev Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Msg() != "access" || ev.Int("status") != 200 {
			t.Fatalf("line %q is not a whole access event", l)
		}
	}
	if n := len(f.Events("access")); n != 0 {
		t.Errorf("%d access events on stderr, want them only in the file", n)
	}
	t.Logf("%d requests: %d lines before the rotation, %d after", done.Load(), len(old), len(cur))
}

// squidLine is Squid's native format: time.ms elapsed client code/status
// bytes method URL user hierarchy/peer type.
var squidLine = regexp.MustCompile(`^\d{10}\.\d{3} +\d+ \S+ [A-Z_]+/\d{3} \d+ \S+ \S+ \S+ [A-Z_]+/\S+ \S+$`)

// TestSquidLogReadByGoAccess: ferry's squid-format log, from every kind of
// request, is read by GoAccess (Debian's package) with no invalid line.
func TestSquidLogReadByGoAccess(t *testing.T) {
	goaccess, err := exec.LookPath("goaccess")
	if err != nil {
		t.Skip("goaccess not installed (apt-get install goaccess)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	f := startFerry(t, minimalConfig+fmt.Sprintf("\n[log]\naccess = %q\naccess_format = \"squid\"\n[cache]\nenabled = true\n", path))
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cached" {
			w.Header().Set("Cache-Control", "max-age=600")
		}
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "hello")
	}))
	t.Cleanup(origin.Close)
	echo, refused := echoOrigin(t), closedPort(t)
	client := proxyClient(t, f.Addr, &http.Transport{DisableKeepAlives: true})

	want := []*regexp.Regexp{} // one per request, in any order
	expect := func(re string) { want = append(want, regexp.MustCompile(re)) }
	for i := range 3 {
		get(t, client, t.Context(), fmt.Sprintf("%s/page%d", origin.URL, i))
		expect(fmt.Sprintf(` TCP_MISS/200 5 GET %s/page%d - HIER_DIRECT/127\.0\.0\.1 -$`, regexp.QuoteMeta(origin.URL), i))
	}
	if resp, err := client.Post(origin.URL+"/form", "text/plain", strings.NewReader("a=b")); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	expect(` TCP_MISS/200 5 POST ` + regexp.QuoteMeta(origin.URL) + `/form - HIER_DIRECT/`)
	for range 2 {
		get(t, client, t.Context(), origin.URL+"/cached")
	}
	expect(` TCP_MISS/200 5 GET ` + regexp.QuoteMeta(origin.URL) + `/cached - HIER_DIRECT/127\.0\.0\.1 -$`)
	expect(` TCP_HIT/200 5 GET ` + regexp.QuoteMeta(origin.URL) + `/cached - HIER_NONE/- -$`)
	get(t, client, t.Context(), origin.URL+"/missing")
	expect(` TCP_MISS/404 \d+ GET ` + regexp.QuoteMeta(origin.URL) + `/missing `)
	for range 2 {
		c := connectTunnel(t, f.Addr, echo)
		echoRoundTrip(t, c, "tunnel")
		c.Close()
		expect(` TCP_TUNNEL/200 6 CONNECT ` + regexp.QuoteMeta(echo) + ` - HIER_DIRECT/127\.0\.0\.1 -$`)
	}
	c := socks5Tunnel(t, f.Addr, echo)
	echoRoundTrip(t, c, "socks")
	c.Close()
	expect(` TCP_TUNNEL/200 5 CONNECT ` + regexp.QuoteMeta(echo) + ` - HIER_DIRECT/`)
	c = dial(t, f.Addr)
	c.Write(append([]byte{4, 1, byte(portOf(t, echo) >> 8), byte(portOf(t, echo)), 127, 0, 0, 1}, "user\x00"...))
	rep4 := make([]byte, 8)
	if _, err := io.ReadFull(c, rep4); err != nil || rep4[1] != 90 {
		t.Fatalf("SOCKS4 CONNECT: reply % x, %v", rep4, err)
	}
	c.Close()
	expect(` TCP_TUNNEL/200 0 CONNECT ` + regexp.QuoteMeta(echo) + ` - HIER_DIRECT/`)
	code, _, rc := rawConnect(t, f.Addr, refused)
	rc.Close()
	if code != 502 {
		t.Fatalf("CONNECT to a closed port: %d", code)
	}
	expect(` TCP_TUNNEL/502 \d+ CONNECT ` + regexp.QuoteMeta(refused) + ` - HIER_NONE/- -$`)
	if rep, c := socks5Request(t, f.Addr, 1, socks5Addr(t, refused)); rep != 5 {
		t.Fatalf("SOCKS5 to a closed port: reply %d", rep)
	} else {
		c.Close()
	}
	expect(` TCP_TUNNEL/502 0 CONNECT ` + regexp.QuoteMeta(refused) + ` - HIER_NONE/- -$`)
	bad := dial(t, f.Addr)
	fmt.Fprint(bad, "GET ftp://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
	if code, head, _ := readHead(bad); code != 400 {
		t.Fatalf("ftp URL: %d %q", code, head)
	}
	bad.Close()
	expect(` NONE_NONE/400 \d+ GET ftp://example\.com/ - HIER_NONE/- -$`)
	if code, _, _ := adminGet(t, f.Addr, "/proxy.pac"); code != 200 {
		t.Fatalf("/proxy.pac: %d", code)
	}
	expect(` TCP_MISS/200 \d+ GET /proxy\.pac - HIER_NONE/- -$`)

	if code := f.Stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := fileLines(t, path)
	t.Logf("ferry's squid log:\n%s", strings.Join(lines, "\n"))
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if !squidLine.MatchString(l) {
			t.Errorf("not a Squid native line: %q", l)
		}
	}
	for _, re := range want {
		found := false
		for _, l := range lines {
			found = found || re.MatchString(l)
		}
		if !found {
			t.Errorf("no line matches %s in:\n%s", re, strings.Join(lines, "\n"))
		}
	}

	// The format the README gives, which must put every field in place:
	// each URL whole (nothing after it swallowed), the users, the codes.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	format := regexp.MustCompile(`goaccess access\.log --log-format='([^']+)'`).FindSubmatch(readme)
	if format == nil {
		t.Fatal("no goaccess command in README.md")
	}
	out := filepath.Join(dir, "report.json")
	cmd := exec.Command(goaccess, path, "--no-global-config", "-o", out,
		"--log-format="+string(format[1]), "--date-format=%s", "--time-format=%s")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goaccess: %v\n%s", err, b)
	}
	rep, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Data []struct {
			Data string `json:"data"`
		} `json:"data"`
	}
	var report struct {
		General struct {
			Total  int `json:"total_requests"`
			Valid  int `json:"valid_requests"`
			Failed int `json:"failed_requests"`
		} `json:"general"`
		Requests    panel `json:"requests"`
		NotFound    panel `json:"not_found"`
		RemoteUser  panel `json:"remote_user"`
		StatusCodes panel `json:"status_codes"`
	}
	if err := json.Unmarshal(rep, &report); err != nil {
		t.Fatalf("goaccess report: %v", err)
	}
	if g := report.General; g.Total != len(lines) || g.Valid != len(lines) || g.Failed != 0 {
		t.Errorf("goaccess read %d lines: %d valid, %d invalid; want all %d valid", g.Total, g.Valid, g.Failed, len(lines))
	}
	urls := map[string]bool{}
	for _, l := range lines {
		urls[strings.Fields(l)[6]] = true
	}
	for _, p := range [][]struct {
		Data string `json:"data"`
	}{report.Requests.Data, report.NotFound.Data} {
		for _, d := range p {
			if !urls[d.Data] {
				t.Errorf("goaccess read the URL %q, not one of the log's %v", d.Data, urls)
			}
		}
	}
	if len(report.Requests.Data)+len(report.NotFound.Data) == 0 {
		t.Error("goaccess found no URL")
	}
	if u := report.RemoteUser.Data; len(u) != 1 || u[0].Data != "-" {
		t.Errorf("goaccess users %+v, want the anonymous -", u)
	}
	var codes []string
	for _, d := range report.StatusCodes.Data {
		codes = append(codes, d.Data)
	}
	if got := strings.Join(codes, ","); !strings.Contains(got, "2xx") || !strings.Contains(got, "4xx") || !strings.Contains(got, "5xx") {
		t.Errorf("goaccess status classes %q, want 2xx, 4xx and 5xx", got)
	}
}

package test

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// h2Listener is a ferry with a TLS listener, which offers h2 by ALPN.
func h2Listener(pki *chainPKI) string {
	return fmt.Sprintf(`
[[listener]]
name = "tls"
address = "127.0.0.1:0"
tls = { cert = %q, key = %q }

[acl]
default = "allow"
`, pki.Path("remote.pem"), pki.Path("remote.key"))
}

// chromium runs headless Chromium with ferry as its https:// proxy,
// trusting the test CA (an NSS database under a HOME of its own), and
// returns the DOM of url after load. Flags keep it off the network
// (/work/.library/env/machines/go.md); <-loopback> makes it proxy
// loopback origins too, which it otherwise reaches itself.
func chromium(t *testing.T, pki *chainPKI, proxy, url string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (Debian package chromium; .ci/run installs it)")
	}
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		t.Skip("certutil not installed (Debian package libnss3-tools; .ci/run installs it)")
	}
	home := t.TempDir()
	nssdb := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(nssdb, 0o700); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+home)
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + nssdb, "--empty-password"},
		{"-A", "-d", "sql:" + nssdb, "-n", "ferry test CA", "-t", "C,,", "-i", pki.Path("ca.pem")},
	} {
		if code, out, errs := runCmd(t, 30*time.Second, env, certutil, args...); code != 0 {
			t.Fatalf("certutil %v: %d %s %s", args, code, out, errs)
		}
	}
	code, dom, errs := runCmd(t, 60*time.Second, env, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(home, "profile"),
		"--proxy-server=https://"+proxy, "--proxy-bypass-list=<-loopback>",
		"--dump-dom", url)
	if code != 0 {
		t.Fatalf("chromium: exit %d: %s", code, errs)
	}
	return dom
}

// Chromium with ferry as its HTTPS proxy speaks HTTP/2 to it: an https
// page and a WebSocket (wss) come through CONNECT streams, a plain http
// page through a forwarded request on a stream, every access line saying
// h2.
func TestChromiumHTTP2(t *testing.T) {
	pki := newChainPKI(t)
	f := startFerry(t, h2Listener(pki))
	proxy := f.AddrOf("tls")

	second := make(chan string, 1)
	mux := http.NewServeMux()
	mux.Handle("/ws", websocket.Handler(func(ws *websocket.Conn) {
		var msg string
		for i := 0; i < 2 && websocket.Message.Receive(ws, &msg) == nil; i++ {
			if i == 0 {
				websocket.Message.Send(ws, msg)
			} else {
				second <- msg
			}
		}
	}))
	mux.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) {
		// The parser waits for this script, so the page's DOM is dumped
		// after the WebSocket's echo was shown in it.
		select {
		case <-second:
		case <-time.After(20 * time.Second):
		}
		w.Header().Set("Content-Type", "text/javascript")
	})
	origin := httptest.NewUnstartedServer(mux)
	origin.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}}
	origin.StartTLS()
	t.Cleanup(origin.Close)
	_, port, _ := net.SplitHostPort(origin.Listener.Addr().String())
	host := "localhost:" + port
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<html><body><div id="r">waiting</div>
<script>
var ws = new WebSocket("wss://%s/ws");
ws.onopen = function() { ws.send("hello over h2"); };
ws.onmessage = function(e) { document.getElementById("r").textContent = "echo: " + e.data; ws.send("seen"); };
</script>
<script src="/wait"></script>
</body></html>`, host)
	})

	dom := chromium(t, pki, proxy, "https://"+host+"/")
	if !strings.Contains(dom, "echo: hello over h2") {
		t.Errorf("the page's WebSocket did not echo through ferry; DOM:\n%s", dom)
	}
	// The page and the WebSocket: two tunnels at least (a WebSocket gets a
	// connection of its own), each logged when it closes.
	forOrigin := func(e Event) bool { return e.Str("target") == host }
	f.WaitEvents("access", forOrigin, 2)
	for _, e := range f.Events("access") {
		if !forOrigin(e) {
			continue
		}
		if e.Str("proto") != "connect" || e.Str("http_version") != "h2" || e.Int("status") != 200 {
			t.Errorf("access line %v: want a CONNECT over h2, answered 200", e)
		}
	}

	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><body>plain page via "+r.Header.Get("Via")+"</body></html>")
	}))
	t.Cleanup(plain.Close)
	_, port, _ = net.SplitHostPort(plain.Listener.Addr().String())
	plainURL := "http://localhost:" + port + "/"
	dom = chromium(t, pki, proxy, plainURL)
	if !strings.Contains(dom, "plain page via 2 ferry") {
		t.Errorf("the http page did not come through ferry over h2; DOM:\n%s", dom)
	}
	fwd := f.WaitEvent("access", func(e Event) bool { return e.Str("url") == plainURL })
	if fwd.Str("proto") != "http" || fwd.Str("http_version") != "h2" || fwd.Int("status") != 200 {
		t.Errorf("access line %v: want a forwarded request over h2, answered 200", fwd)
	}
}

package connect_test

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/ferry-proxy/ferry/internal/udpframe"
	"golang.org/x/net/http2"
	"golang.org/x/net/websocket"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

// The server offers extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL,
// RFC 8441 §3): x/net does only when GODEBUG says so as it initializes,
// which internal/h2xconnect arranges.
func TestH2ExtendedConnectOffered(t *testing.T) {
	w := newH2World(t, options{})
	if v := w.rawH2(t).settings[http2.SettingEnableConnectProtocol]; v != 1 {
		t.Fatalf("SETTINGS_ENABLE_CONNECT_PROTOCOL = %d, want 1", v)
	}
}

// extendedConnect sends an extended CONNECT for rawURL with :protocol p
// and returns the response and the stream.
func extendedConnect(t *testing.T, cc *http2.ClientConn, p, rawURL string, h http.Header) (*http.Response, *h2Tunnel) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = http.Header{}
	}
	h.Set(":protocol", p)
	pr, pw := io.Pipe()
	res, err := cc.RoundTrip(&http.Request{Method: http.MethodConnect, URL: u, Host: u.Host, Header: h, Body: pr})
	if err != nil {
		pw.Close()
		t.Fatalf("extended CONNECT %s %s: %v", p, rawURL, err)
	}
	s := &h2Tunnel{res: res, up: pw}
	t.Cleanup(func() { s.Close() })
	return res, s
}

// A WebSocket over HTTP/2 (RFC 8441) reaches an HTTP/1.1 origin: ferry
// upgrades to it with a key of its own, answers the client 200, and the
// frames go both ways; the access line says h2.
func TestH2WebSocket(t *testing.T) {
	o := newOrigin(t, websocket.Handler(func(ws *websocket.Conn) { io.Copy(ws, ws) }).ServeHTTP)
	w := newH2World(t, options{})
	res, s := extendedConnect(t, w.h2(t), "websocket", "http://"+o.host+"/ws",
		http.Header{"Sec-Websocket-Version": {"13"}, "Origin": {"http://" + o.host}})
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("status %d %q, want 200", res.StatusCode, b)
	}
	for _, k := range []string{"Upgrade", "Connection", "Sec-Websocket-Accept"} {
		if v := res.Header.Get(k); v != "" {
			t.Errorf("the 200 carries %s: %q (HTTP/1.1's upgrade fields)", k, v)
		}
	}
	// A masked text frame (RFC 6455 §5.2), as a client sends.
	mask := [4]byte{1, 2, 3, 4}
	msg := []byte("hello over h2")
	frame := append([]byte{0x81, 0x80 | byte(len(msg))}, mask[:]...)
	for i, b := range msg {
		frame = append(frame, b^mask[i%4])
	}
	go s.Write(frame)
	head := make([]byte, 2+len(msg))
	if _, err := io.ReadFull(s, head); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if head[0] != 0x81 || int(head[1]) != len(msg) || string(head[2:]) != string(msg) {
		t.Errorf("echo frame %q, want a text frame %q", head, msg)
	}
	s.Close()
	r := w.log.next(t)
	if r.Version != "h2" || r.Method != "CONNECT" || r.URL != "http://"+o.host+"/ws" || r.Status != 200 {
		t.Errorf("record %q %q %q %d", r.Version, r.Method, r.URL, r.Status)
	}
}

// An origin that does not switch answers the client as it is; one that
// switches with the wrong Sec-WebSocket-Accept gets the client a 502.
func TestH2WebSocketRefused(t *testing.T) {
	tests := []struct {
		name   string
		origin http.HandlerFunc
		status int
	}{
		{"not a websocket", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 403) }, 403},
		{"wrong accept", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Sec-WebSocket-Accept", "d3Jvbmc=")
			w.WriteHeader(101)
		}, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, tt.origin)
			w := newH2World(t, options{})
			res, _ := extendedConnect(t, w.h2(t), "websocket", "http://"+o.host+"/ws", nil)
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			if r := w.log.next(t); r.Status != tt.status {
				t.Errorf("record status %d", r.Status)
			}
		})
	}
}

// CONNECT-UDP over HTTP/2 (RFC 9298 §3.4): 200, then DATAGRAM capsules in
// the stream's DATA, both ways.
func TestH2ConnectUDP(t *testing.T) {
	w := newH2World(t, options{})
	echo := testnet.UDPEcho(t)
	res, s := extendedConnect(t, w.h2(t), "connect-udp",
		"https://"+w.addr+udpframe.MasquePath("127.0.0.1", echo.Port()), http.Header{"Capsule-Protocol": {"?1"}})
	if res.StatusCode != 200 || res.Header.Get("Capsule-Protocol") != "?1" {
		t.Fatalf("answer %d %v", res.StatusCode, res.Header)
	}
	go s.Write(capsule(0, "ping over h2"))
	if got := readDatagram(t, bufio.NewReader(s)); got != "ping over h2" {
		t.Fatalf("echo %q", got)
	}
	s.Close()
	r := w.log.next(t)
	if r.Version != "h2" || r.Method != "CONNECT-UDP" || r.Status != 200 || r.Target != echo.String() ||
		r.Packets == nil || r.Packets.DgramsUp != 1 || r.Packets.DgramsDown != 1 {
		t.Errorf("record %q %q %d %q %+v", r.Version, r.Method, r.Status, r.Target, r.Packets)
	}
}

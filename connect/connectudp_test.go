package connect_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/acl"
	"github.com/ferry-proxy/ferry/internal/udpframe"
	"github.com/ferry-proxy/ferry/limit"
	"github.com/ferry-proxy/ferry/tunnel"

	"github.com/ferry-proxy/ferry/internal/testnet"
)

type decideFunc func(q *acl.Query) acl.Verdict

func (f decideFunc) Decide(q *acl.Query) acl.Verdict { return f(q) }

// capsule is a DATAGRAM capsule of context ID ctxID carrying payload.
func capsule(ctxID uint64, payload string) []byte {
	body := append(udpframe.AppendVarint(nil, ctxID), payload...)
	return append(udpframe.AppendVarint([]byte{udpframe.CapsuleDatagram}, uint64(len(body))), body...)
}

// connectUDP sends a CONNECT-UDP request for target (and extra bytes
// right behind it) and returns the status and the reader on the conn.
func connectUDP(t *testing.T, addr, path, headers string, extra []byte) (int, http.Header, *bufio.Reader, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, bound)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(bound))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n" + headers + "\r\n"
	if _, err := c.Write(append([]byte(req), extra...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, resp.Header, br, c
}

const upgradeUDP = "Connection: Upgrade\r\nUpgrade: connect-udp\r\nCapsule-Protocol: ?1\r\n"

func readDatagram(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	b := make([]byte, 70000)
	for range 4 {
		n, ok, err := udpframe.ReadDatagram(br, b)
		if err != nil {
			t.Fatalf("reading a datagram: %v", err)
		}
		if ok {
			return string(b[:n])
		}
	}
	t.Fatal("no DATAGRAM capsule")
	return ""
}

// An RFC 9298 client over HTTP/1.1: 101, then datagrams both ways as
// capsules; capsules of unknown types and other context IDs are skipped;
// datagrams sent right behind the request are not lost.
func TestConnectUDP(t *testing.T) {
	w := newWorld(t, options{})
	echo := testnet.UDPEcho(t)
	path := udpframe.MasquePath("127.0.0.1", echo.Port())
	early := capsule(0, "early")
	status, h, br, c := connectUDP(t, w.addr, path, upgradeUDP, early)
	if status != 101 || h.Get("Upgrade") != "connect-udp" || h.Get("Capsule-Protocol") != "?1" {
		t.Fatalf("answer %d %v", status, h)
	}
	if got := readDatagram(t, br); got != "early" {
		t.Fatalf("first datagram %q", got)
	}
	c.Write([]byte("\x3f\x02zz")) // an unknown capsule type
	c.Write(capsule(7, "context 7"))
	c.Write(capsule(0, "ping"))
	if got := readDatagram(t, br); got != "ping" {
		t.Fatalf("echo %q", got)
	}
	c.Close()
	r := w.log.next(t)
	if r.Proto != "connect" || r.Method != "CONNECT-UDP" || r.Status != 101 || r.Target != echo.String() ||
		r.Dialed != echo.String() || r.Packets == nil || r.Packets.DgramsUp != 2 || r.Packets.DgramsDown != 2 ||
		r.BytesUp != 9 || r.Err != nil {
		t.Errorf("record %+v packets %+v", r, r.Packets)
	}
}

func TestConnectUDPRefusals(t *testing.T) {
	echo := testnet.UDPEcho(t)
	pol := &tunnel.Policy{ACL: decideFunc(func(q *acl.Query) acl.Verdict {
		if q.Proto == "udp" && q.Port == 53 {
			return acl.Verdict{Rule: "no-dns"}
		}
		return acl.Verdict{Allow: true, Rule: "ok"}
	})}
	w := newWorld(t, options{policy: pol})
	good := udpframe.MasquePath("127.0.0.1", echo.Port())
	tests := []struct {
		name, path, headers string
		status              int
		proxyStatus         string
	}{
		{"no upgrade", good, "", 400, "http_request_error"},
		{"another upgrade", good, "Connection: Upgrade\r\nUpgrade: websocket\r\n", 400, "http_request_error"},
		{"port 0", udpframe.MasquePrefix + "127.0.0.1/0/", upgradeUDP, 400, "http_request_error"},
		{"no port", udpframe.MasquePrefix + "127.0.0.1/", upgradeUDP, 400, "http_request_error"},
		{"bad name", udpframe.MasquePrefix + "a%20b/53/", upgradeUDP, 400, "http_request_error"},
		{"denied by the ACL", udpframe.MasquePath("127.0.0.1", 53), upgradeUDP, 403, "destination_ip_prohibited"},
		{"name denied by the ACL", udpframe.MasquePath("localhost", 53), upgradeUDP, 403, "http_request_denied"},
		{"name that does not resolve", udpframe.MasquePath("ferry-test.invalid", 443), upgradeUDP, 502, "dns_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, _, _ := connectUDP(t, w.addr, tt.path, tt.headers, nil)
			if status != tt.status || !strings.Contains(h.Get("Proxy-Status"), "error="+tt.proxyStatus) {
				t.Errorf("answer %d Proxy-Status %q; want %d %s", status, h.Get("Proxy-Status"), tt.status, tt.proxyStatus)
			}
			if r := w.log.next(t); r.Method != "CONNECT-UDP" || r.Status != tt.status || r.ProxyStatus != tt.proxyStatus {
				t.Errorf("record %+v", r)
			}
		})
	}
}

// A capsule longer than any datagram cannot be read past: the tunnel
// ends, and says why.
func TestConnectUDPCapsuleTooLong(t *testing.T) {
	w := newWorld(t, options{})
	echo := testnet.UDPEcho(t)
	status, _, br, c := connectUDP(t, w.addr, udpframe.MasquePath("127.0.0.1", echo.Port()), upgradeUDP, nil)
	if status != 101 {
		t.Fatalf("status %d", status)
	}
	c.Write([]byte{0x00, 0x80, 0x10, 0x00, 0x00}) // 1 MiB
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after the long capsule: %v, want the connection closed", err)
	}
	if r := w.log.next(t); !errors.Is(r.Err, udpframe.ErrCapsuleTooLong) {
		t.Errorf("record err %v", r.Err)
	}
}

// fakeClient is a PacketClient fed by the test: each datagram goes to
// dst; replies arrive on replies.
type fakeClient struct {
	in      chan []byte
	dst     tunnel.PacketAddr
	replies chan string
	closed  chan struct{}
}

func (f *fakeClient) ReadPacket(b *tunnel.PacketBuf) (int, int, tunnel.PacketAddr, error) {
	select {
	case p := <-f.in:
		return tunnel.PacketHeadroom, copy(b.Bytes()[tunnel.PacketHeadroom:], p), f.dst, nil
	case <-f.closed:
		return 0, 0, tunnel.PacketAddr{}, net.ErrClosed
	}
}

func (f *fakeClient) WritePacket(b []byte, off int, _ tunnel.PacketAddr) error {
	f.replies <- string(b[off:])
	return nil
}

func (f *fakeClient) Close() error {
	select {
	case <-f.closed:
	default:
		close(f.closed)
	}
	return nil
}

// The engine's CONNECT-UDP client (an HTTP upstream's way for datagrams)
// against ferry's CONNECT-UDP server: ferry to ferry.
func TestConnectUDPUpstream(t *testing.T) {
	remote := newWorld(t, options{})
	echo := testnet.UDPEcho(t)
	rt, err := tunnel.NewRoutes(tunnel.RoutingSpec{
		Upstreams: []tunnel.UpstreamSpec{{Name: "remote", URL: &url.URL{Scheme: "http", Host: remote.addr}}},
		Default:   "remote",
	})
	if err != nil {
		t.Fatal(err)
	}
	engine := tunnel.New(tunnel.Config{DialTimeout: bound}, &tunnel.Policy{Routes: rt})
	t.Cleanup(engine.Close)
	f := &fakeClient{in: make(chan []byte, 4), replies: make(chan string, 4), closed: make(chan struct{}),
		dst: tunnel.NameOf("localhost", echo.Port())}
	a, err := engine.Associate(t.Context(), &tunnel.Request{Proto: tunnel.ProtoUDP, Client: netip.MustParseAddrPort("127.0.0.1:1")}, f)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan tunnel.PacketStats, 1)
	go func() {
		st, _ := a.Run()
		done <- st
	}()
	for i := range 3 {
		msg := fmt.Sprint("datagram ", i)
		f.in <- []byte(msg)
		select {
		case got := <-f.replies:
			if got != msg {
				t.Fatalf("reply %q, want %q", got, msg)
			}
		case <-time.After(bound):
			t.Fatal("no reply through the upstream")
		}
	}
	a.End(nil)
	st := <-done
	if st.Outcome.Upstream != "remote" || st.DgramsUp != 3 || st.DgramsDown != 3 {
		t.Errorf("stats %+v", st)
	}
	if r := remote.log.next(t); r.Method != "CONNECT-UDP" || r.Target != "localhost:"+fmt.Sprint(echo.Port()) || r.Packets.DgramsUp != 3 {
		t.Errorf("the remote's record %+v", r)
	}
}

// A CONNECT-UDP tunnel is admitted by the [[limit]] rules as a CONNECT
// is (issue 18 review, High 3): it holds a tunnel slot while it is open,
// and one over the limit gets 429 with Retry-After and a Proxy-Status
// naming the limit.
func TestConnectUDPLimited(t *testing.T) {
	rc := limit.RuleConfig{}
	rc.SetDefaults()
	rc.Name, rc.Per, rc.Tunnels = "one-udp", limit.PerClient, 1
	set := limit.Compile([]limit.RuleConfig{rc}, acl.Env{}, "UTC", func(k, msg string) { t.Fatalf("%s: %s", k, msg) })
	w := newWorld(t, options{policy: &tunnel.Policy{Limits: set}})
	path := udpframe.MasquePath("127.0.0.1", testnet.UDPEcho(t).Port())
	status, _, _, held := connectUDP(t, w.addr, path, upgradeUDP, nil)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("first CONNECT-UDP: %d", status)
	}
	status, h, _, _ := connectUDP(t, w.addr, path, upgradeUDP, nil)
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" ||
		!strings.Contains(h.Get("Proxy-Status"), `limit \"one-udp\"`) {
		t.Errorf("second CONNECT-UDP: %d %v; want 429 naming the limit", status, h)
	}
	if r := w.log.next(t); r.Status != http.StatusTooManyRequests || !strings.Contains(fmt.Sprint(r.Err), "one-udp") {
		t.Errorf("record %+v", r)
	}
	held.Close()
	if r := w.log.next(t); r.Status != http.StatusSwitchingProtocols {
		t.Fatalf("record %+v", r)
	}
	if status, _, _, _ := connectUDP(t, w.addr, path, upgradeUDP, nil); status != http.StatusSwitchingProtocols {
		t.Errorf("CONNECT-UDP after the first ended: %d; the slot was not given back", status)
	}
}

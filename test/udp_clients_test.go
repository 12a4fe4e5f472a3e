package test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// socksUDP is a SOCKS5 UDP association opened by hand (RFC 1928 §7): the
// control connection, the relay's address and the client's socket.
type socksUDP struct {
	ctrl  *net.TCPConn
	relay netip.AddrPort
	conn  *net.UDPConn
}

// socks5Associate opens a UDP association through the proxy at addr, for
// a client socket on loopback that declares no port.
func socks5Associate(t testing.TB, addr string) *socksUDP {
	t.Helper()
	rep, relay, ctrl := socks5RequestBound(t, addr, 3, []byte{1, 0, 0, 0, 0, 0, 0})
	if rep != 0 {
		t.Fatalf("UDP ASSOCIATE reply %#x", rep)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &socksUDP{ctrl: ctrl, relay: relay, conn: conn}
}

// header is a SOCKS5 UDP request header for host:port (a name when host
// is not an IP).
func header(host string, port uint16) []byte {
	b := []byte{0, 0, 0}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		b = append(append(b, 1), ip.AsSlice()...)
	} else if err == nil {
		b = append(append(b, 4), ip.AsSlice()...)
	} else {
		b = append(append(b, 3, byte(len(host))), host...)
	}
	return binary.BigEndian.AppendUint16(b, port)
}

// send sends payload to host:port through the association.
func (s *socksUDP) send(t testing.TB, host string, port uint16, payload string) {
	t.Helper()
	s.sendRaw(t, append(header(host, port), payload...))
}

func (s *socksUDP) sendRaw(t testing.TB, b []byte) {
	t.Helper()
	if _, err := s.conn.WriteToUDPAddrPort(b, s.relay); err != nil {
		t.Fatal(err)
	}
}

// recv reads one datagram from the relay and returns its source as the
// header names it and its payload.
func (s *socksUDP) recv(t testing.TB) (string, string) {
	t.Helper()
	buf := make([]byte, 70000)
	s.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	n, from, err := s.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no datagram from the relay: %v", err)
	}
	if from != s.relay {
		t.Fatalf("datagram from %v, want the relay %v", from, s.relay)
	}
	b := buf[:n]
	if len(b) < 10 || b[2] != 0 {
		t.Fatalf("reply header % x", b[:min(len(b), 10)])
	}
	var src string
	switch b[3] {
	case 1:
		src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[8:10])).String()
		b = b[10:]
	case 3:
		l := int(b[4])
		src = net.JoinHostPort(string(b[5:5+l]), fmt.Sprint(binary.BigEndian.Uint16(b[5+l:])))
		b = b[7+l:]
	default:
		t.Fatalf("reply address type %d", b[3])
	}
	return src, string(b)
}

// pythonWithSOCKS finds a Python 3 with PySocks (Debian's python3-socks
// installs it for /usr/bin/python3), or skips the test.
func pythonWithSOCKS(t testing.TB) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import socks").Run() == nil {
			return path
		}
	}
	t.Skip("no python3 with PySocks (Debian python3-socks; .ci/run installs it)")
	return ""
}

// dnsServer answers every A question on 127.0.0.1 with 192.0.2.7, over
// UDP, and returns its address.
func dnsServer(t testing.TB) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A: net.IPv4(192, 0, 2, 7)})
			}
		}
		w.WriteMsg(m)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ActivateAndServe() // the socket is bound: queries wait in it until then
	}()
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
	})
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// startDanted runs Dante's server on a free loopback port with the rules
// given (socks pass blocks), logging to its stderr, and returns its
// address once it says it is running. It needs root (Dante switches to
// nobody) and is skipped without danted.
func startDanted(t testing.TB, rules string) string {
	t.Helper()
	path, err := exec.LookPath("danted")
	if err != nil {
		if path, err = exec.LookPath("/usr/sbin/danted"); err != nil {
			t.Skip("danted not installed (Debian dante-server; .ci/run installs it)")
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("danted needs root to start (user.privileged)")
	}
	port := freePort(t)
	conf := filepath.Join(t.TempDir(), "danted.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`logoutput: stderr
internal: 127.0.0.1 port = %d
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
	from: 127.0.0.0/8 to: 0.0.0.0/0
}
%s
`, port, rules)), 0o644)
	cmd := exec.Command(path, "-f", conf, "-N", "1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	running := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "running") {
				said = true
				running <- true
			}
		}
		if !said {
			running <- false
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case ok := <-running:
		if !ok {
			t.Fatal("danted exited without saying it runs")
		}
	case <-time.After(eventTimeout):
		t.Fatal("danted did not say it runs in time")
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// freePort is a loopback TCP port free a moment ago, for a program that
// takes a port number rather than a listener.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

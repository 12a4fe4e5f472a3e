package accesslog_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

func TestFail(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name                  string
		status                int
		err                   error
		proxyStatus, decision string
		rule                  string
	}{
		{"denied by name", 403, &tunnel.Error{Kind: tunnel.Denied, Rule: "no-ads", Err: errors.New("denied")},
			"http_request_denied", "deny", "no-ads"},
		{"denied by address, wrapped", 0x02, fmt.Errorf("socks: %w", &tunnel.Error{Kind: tunnel.DeniedIP, Rule: "internal", Err: errors.New("denied")}),
			"destination_ip_prohibited", "deny", "internal"},
		{"refused: no decision", 502, refused, "connection_refused", "", ""},
		{"bad request", 400, tunnel.Errorf(tunnel.BadRequest, "bad"), "http_request_error", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &accesslog.Record{}
			rec.Fail(tt.status, tt.err)
			if rec.Status != tt.status || rec.ProxyStatus != tt.proxyStatus || rec.Err != tt.err ||
				rec.Decision != tt.decision || rec.Rule != tt.rule {
				t.Errorf("record status %d proxy_status %q err %v decision %q rule %q; want %d %q %v %q %q",
					rec.Status, rec.ProxyStatus, rec.Err, rec.Decision, rec.Rule, tt.status, tt.proxyStatus, tt.err, tt.decision, tt.rule)
			}
		})
	}
	var nilRec *accesslog.Record
	nilRec.Fail(500, errors.New("no record")) // must not panic
}

// Note copies an outcome, and a later, partial one changes only what it
// says: a dial's outcome keeps the route's record.
func TestNote(t *testing.T) {
	rec := &accesslog.Record{}
	rec.Note(tunnel.Outcome{Rule: "staff", Decision: "allow", Route: "default", Upstream: "corp"})
	rec.Note(tunnel.Outcome{Dialed: "192.0.2.1:443", DialFailed: true, Dial: time.Second})
	if rec.Rule != "staff" || rec.Decision != "allow" || rec.Route != "default" || rec.Upstream != "corp" ||
		rec.Dialed != "192.0.2.1:443" || !rec.DialFailed || rec.Dial != time.Second {
		t.Errorf("record %+v", rec)
	}
	rec.Note(tunnel.Outcome{Rule: "no-internal", Decision: "deny", Dialed: "192.0.2.2:443"})
	if rec.Rule != "no-internal" || rec.Decision != "deny" || rec.Dialed != "192.0.2.2:443" || rec.DialFailed {
		t.Errorf("after a later verdict: %+v", rec)
	}
}

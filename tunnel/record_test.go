package tunnel_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

func TestRecordFailure(t *testing.T) {
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
		{"refused: no decision", 502, dialErr(syscall.ECONNREFUSED), "connection_refused", "", ""},
		{"bad request", 400, tunnel.Errorf(tunnel.BadRequest, "bad"), "http_request_error", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &accesslog.Record{}
			tunnel.RecordFailure(rec, tt.status, tt.err)
			if rec.Status != tt.status || rec.ProxyStatus != tt.proxyStatus || rec.Err != tt.err ||
				rec.Decision != tt.decision || rec.Rule != tt.rule {
				t.Errorf("record status %d proxy_status %q err %v decision %q rule %q; want %d %q %v %q %q",
					rec.Status, rec.ProxyStatus, rec.Err, rec.Decision, rec.Rule, tt.status, tt.proxyStatus, tt.err, tt.decision, tt.rule)
			}
		})
	}
	tunnel.RecordFailure(nil, 500, errors.New("no record")) // must not panic
}

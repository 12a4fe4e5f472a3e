package tunnel

import "testing"

// Every kind's error type maps back to an HTTP status, so a SOCKS record in
// the Squid log shows what an HTTP client would have got; a type two kinds
// share (destination_unavailable: a reverse pool all down, 503, and a failed
// upstream, 502) maps to the first kind's.
func TestHTTPStatusFor(t *testing.T) {
	first := map[string]Kind{}
	for k := OK; int(k) < len(status); k++ {
		ps := k.ProxyStatus()
		if ps == "" {
			continue
		}
		if _, ok := first[ps]; !ok {
			first[ps] = k
		}
		if got, want := HTTPStatusFor(ps), first[ps].HTTPStatus(); got != want {
			t.Errorf("HTTPStatusFor(%q) = %d, want %d (kind %v)", ps, got, want, first[ps])
		}
	}
	if got := HTTPStatusFor("no_such_type"); got != 0 {
		t.Errorf("unknown type: %d, want 0", got)
	}
	if got := HTTPStatusFor(""); got != 0 {
		t.Errorf("empty type: %d, want 0", got)
	}
}

// ferry's member says the kind's error type, the error as details (quotes
// escaped, control bytes replaced), and the upstream that failed or
// reported the failure, with the status it answered.
func TestProxyStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"own failure", Errorf(DNSFailed, `no such host "a\b"`), `ferry; error=dns_error; details="no such host \"a\\b\""`},
		{"control bytes", Errorf(BadGateway, "a\r\nb"), `ferry; error=http_protocol_error; details="a??b"`},
		{"upstream's answer", &Error{Kind: Refused, NextHop: "corp", Received: 503, Err: errorString("refused")},
			`ferry; error=connection_refused; details="refused"; next-hop="corp"; received-status=503`},
		{"upstream unreached", &Error{Kind: Timeout, NextHop: "corp", Err: errorString("slow")},
			`ferry; error=connection_timeout; details="slow"; next-hop="corp"`},
		{"no error type", Errorf(AuthNeeded, "login"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ProxyStatus(tt.err); got != tt.want {
				t.Errorf("ProxyStatus = %s\nwant           %s", got, tt.want)
			}
		})
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

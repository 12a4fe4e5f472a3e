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

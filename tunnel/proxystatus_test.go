package tunnel

import "testing"

// Every kind's error type maps back to that kind's HTTP status, so a SOCKS
// record in the Squid log shows what an HTTP client would have got.
func TestHTTPStatusFor(t *testing.T) {
	for k := OK; int(k) < len(status); k++ {
		ps := k.ProxyStatus()
		if ps == "" {
			continue
		}
		if got := HTTPStatusFor(ps); got != k.HTTPStatus() {
			t.Errorf("HTTPStatusFor(%q) = %d, want %d (kind %v)", ps, got, k.HTTPStatus(), k)
		}
	}
	if got := HTTPStatusFor("no_such_type"); got != 0 {
		t.Errorf("unknown type: %d, want 0", got)
	}
	if got := HTTPStatusFor(""); got != 0 {
		t.Errorf("empty type: %d, want 0", got)
	}
}

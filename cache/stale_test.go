package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

// thenFail is an origin that answers the first request with "old" and
// fields, and every later one by failing: "close" drops the connection
// without an answer, a number answers with that status.
func thenFail(how string, fields ...string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		if n > 1 {
			if how == "close" {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			w.Header().Set("Date", date(now))
			var code int
			fmt.Sscan(how, &code)
			w.WriteHeader(code)
			fmt.Fprint(w, "origin error")
			return
		}
		h := w.Header()
		h.Set("Date", date(now))
		for i := 0; i+1 < len(fields); i += 2 {
			h.Set(fields[i], fields[i+1])
		}
		fmt.Fprint(w, "old")
	}
}

// TestStaleOnError is RFC 9111 §4.2.4 and RFC 5861 §4: a stale response
// answers in place of an origin failure only where allowed.
func TestStaleOnError(t *testing.T) {
	stored := step{cache: "fwd=uri-miss; fwd-status=200; stored", body: "old", hits: 1}
	later := 20 * time.Second
	staleBody := func(cache string) step {
		return step{advance: later, cache: cache, body: "old", want: map[string]string{"Age": "20"}, hits: 2}
	}
	// A dropped connection is tried once more by net/http on a fresh
	// connection (the first was a reused one): two origin requests.
	staleBodyClosed := func(cache string) step {
		s := staleBody(cache)
		s.hits = 3
		return s
	}
	// §5.2.2.2: a response its own directives forbid using unvalidated,
	// whose origin cannot be reached, is the cache's 504, not a failure.
	timeout := func(directive string) step {
		return step{advance: later, status: 504, cache: "fwd=stale; detail=" + directive, body: "ferry: Gateway Timeout: the stored response must be revalidated (" + directive,
			want: map[string]string{"Cache-Control": "no-store"}, hits: 3}
	}
	passed := func(code int) step {
		return step{advance: later, status: code, cache: fmt.Sprintf("fwd=stale; fwd-status=%d", code), body: "origin error", hits: 2}
	}
	runCases(t, []conformanceCase{
		{name: "stale-if-error and a 503", origin: thenFail("503", "Cache-Control", "max-age=10, stale-if-error=60"),
			steps: []step{stored, staleBody("fwd=stale; fwd-status=503; detail=stale-if-error")}},
		{name: "stale-if-error and a 500", origin: thenFail("500", "Cache-Control", "max-age=10, stale-if-error=60"),
			steps: []step{stored, staleBody("fwd=stale; fwd-status=500; detail=stale-if-error")}},
		{name: "stale-if-error and a closed connection", origin: thenFail("close", "Cache-Control", "max-age=10, stale-if-error=60"),
			steps: []step{stored, staleBodyClosed("fwd=stale; detail=stale-if-error")}},
		{name: "stale-if-error and a 501: not an error of RFC 5861", origin: thenFail("501", "Cache-Control", "max-age=10, stale-if-error=60"),
			steps: []step{stored, passed(501)}},
		{name: "stale-if-error window passed", origin: thenFail("503", "Cache-Control", "max-age=10, stale-if-error=5"),
			steps: []step{stored, passed(503)}},
		{name: "stale-if-error in the request", origin: thenFail("503", "Cache-Control", "max-age=10"),
			steps: []step{stored, {advance: later, header: map[string]string{"Cache-Control": "stale-if-error=30"},
				cache: "fwd=stale; fwd-status=503; detail=stale-if-error", body: "old", hits: 2}}},
		{name: "a 503 without stale-if-error is passed on", origin: thenFail("503", "Cache-Control", "max-age=10"),
			steps: []step{stored, passed(503)}},
		{name: "unreachable origin, nothing forbids", origin: thenFail("close", "Cache-Control", "max-age=10"),
			steps: []step{stored, staleBodyClosed("fwd=stale; detail=origin-unreachable")}},
		{name: "unreachable origin, longer than StaleIfUnreachable", origin: thenFail("close", "Cache-Control", "max-age=10"),
			steps: []step{stored, {advance: 25 * time.Hour, fails: true, hits: 3}}},
		{name: "unreachable origin, request max-age", origin: thenFail("close", "Cache-Control", "max-age=10"),
			steps: []step{stored, {advance: later, header: map[string]string{"Cache-Control": "max-age=15"}, fails: true, hits: 3}}},
		{name: "unreachable origin, request no-cache", origin: thenFail("close", "Cache-Control", "max-age=100, stale-if-error=600"),
			steps: []step{stored, {advance: later, header: map[string]string{"Cache-Control": "no-cache"}, fails: true, hits: 3}}},
		{name: "must-revalidate", origin: thenFail("close", "Cache-Control", "max-age=10, must-revalidate, stale-if-error=600"),
			steps: []step{stored, timeout("must-revalidate")}},
		{name: "proxy-revalidate", origin: thenFail("close", "Cache-Control", "max-age=10, proxy-revalidate, stale-if-error=600"),
			steps: []step{stored, timeout("proxy-revalidate")}},
		{name: "s-maxage", origin: thenFail("close", "Cache-Control", "s-maxage=10, stale-if-error=600"),
			steps: []step{stored, timeout("s-maxage")}},
		{name: "no-cache", origin: thenFail("close", "Cache-Control", "no-cache, max-age=10, stale-if-error=600", "ETag", `"n"`),
			steps: []step{stored, timeout("no-cache")}},
		{name: "must-revalidate and a 503", origin: thenFail("503", "Cache-Control", "max-age=10, must-revalidate, stale-if-error=600"),
			steps: []step{stored, passed(503)}},
		{name: "a HEAD, must-revalidate, unreachable origin", origin: thenFail("close", "Cache-Control", "max-age=10, must-revalidate"),
			steps: []step{stored, {advance: later, method: "HEAD", status: 504, cache: "fwd=stale; detail=must-revalidate", hits: 3}}},
		{name: "fresh, must-revalidate, request no-cache: the origin's failure", origin: thenFail("close", "Cache-Control", "max-age=100, must-revalidate"),
			steps: []step{stored, {advance: later, header: map[string]string{"Cache-Control": "no-cache"}, fails: true, hits: 3}}},
		{name: "a HEAD, unreachable origin", origin: thenFail("close", "Cache-Control", "max-age=10"),
			steps: []step{stored, {advance: later, method: "HEAD", cache: "fwd=stale; detail=origin-unreachable", empty: true, hits: 3}}},
	})
}

// TestStaleOnErrorOff: a negative StaleIfUnreachable never serves stale
// without stale-if-error.
func TestStaleOnErrorOff(t *testing.T) {
	w := newWorld(t, Config{MemoryBytes: 1 << 20, StaleIfUnreachable: -1}, thenFail("close", "Cache-Control", "max-age=10"))
	runSteps(t, w, []step{
		{cache: "fwd=uri-miss; fwd-status=200; stored", hits: 1},
		{advance: 20 * time.Second, fails: true, hits: 3},
	})
}

// TestIsUnreachable: only failures to reach the origin count, never a
// refusal by the rules, which a dialer's Control hook returns wrapped in
// a *net.OpError.
func TestIsUnreachable(t *testing.T) {
	refused := func() error {
		_, err := (&net.Dialer{}).Dial("tcp", "127.0.0.1:1")
		return err
	}()
	denied := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("10.0.0.1 denied by rule \"internal\"")}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"closed before an answer", fmt.Errorf("read: %w", io.EOF), true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"timeout", fmt.Errorf("dial: %w", context.DeadlineExceeded), true},
		{"DNS", &net.DNSError{Err: "no such host", Name: "nx.example", IsNotFound: true}, true},
		{"a response timeout of the front end's own", fmt.Errorf("forward: %w", timeoutErr{}), true},
		{"denied in Control", denied, false},
		{"denied", errors.New("denied by rule"), false},
		{"cancelled", context.Canceled, false},
	}
	for _, tt := range tests {
		if got := isUnreachable(tt.err); got != tt.want {
			t.Errorf("%s: isUnreachable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "no response head in 10s" }
func (timeoutErr) Timeout() bool { return true }

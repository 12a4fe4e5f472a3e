package forward

import (
	"bytes"
	"errors"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/tunnel"
)

// This file holds what ferry acts on before it forwards a request: the
// expectations it must meet (RFC 9110 §10.1.1) and Max-Forwards, which
// can make ferry the request's final recipient (§7.6.2).

// checkExpect refuses a request whose Expect asks for anything but
// 100-continue, which ferry cannot promise for the servers behind it
// (RFC 9110 §10.1.1: 417). A 100-continue from an HTTP/1.0 client is
// dropped: the client waits for no 100, and §10.1.1 says to ignore it,
// so the origin must not be asked to hold the body back for one.
func checkExpect(r *http.Request) error {
	vv, ok := r.Header["Expect"]
	if !ok {
		return nil
	}
	for _, v := range vv {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "100-continue") {
				return tunnel.Errorf(tunnel.Expectation, "unsupported expectation %q (RFC 9110 section 10.1.1)", e)
			}
		}
	}
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
		delete(r.Header, "Expect")
	}
	return nil
}

// maxForwards is the Max-Forwards of a TRACE or OPTIONS request, the only
// methods it applies to (RFC 9110 §7.6.2); ok false when there is none, or
// none that is a number (1*DIGIT; then the request goes on untouched). A
// number beyond what ferry counts is the most it does.
func maxForwards(r *http.Request) (n int64, ok bool) {
	if r.Method != http.MethodTrace && r.Method != http.MethodOptions {
		return 0, false
	}
	vv := r.Header["Max-Forwards"]
	if len(vv) != 1 {
		return 0, false
	}
	u, err := strconv.ParseUint(strings.TrimSpace(vv[0]), 10, 63)
	if errors.Is(err, strconv.ErrRange) {
		return math.MaxInt64, true
	}
	return int64(u), err == nil
}

// decrementMaxForwards counts ferry as a hop: a TRACE or OPTIONS sent on
// carries Max-Forwards one lower (RFC 9110 §7.6.2).
func decrementMaxForwards(r *http.Request) {
	if n, ok := maxForwards(r); ok && n > 0 {
		r.Header["Max-Forwards"] = []string{strconv.FormatInt(n-1, 10)}
	}
}

// traceHidden are the fields a TRACE echo leaves out: credentials and
// cookies (RFC 9110 §9.3.8: the final recipient SHOULD exclude fields
// likely to carry sensitive data).
var traceHidden = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true,
}

// answerLastHop answers a TRACE or OPTIONS whose Max-Forwards is 0 as
// its final recipient (RFC 9110 §7.6.2): TRACE gets the request it came
// as back in a message/http body (§9.3.8), OPTIONS a 200 with no content
// (§9.3.7). It reports false for any other request, which goes on.
func answerLastHop(w http.ResponseWriter, r *http.Request, rec *accesslog.Record) bool {
	if n, ok := maxForwards(r); !ok || n != 0 {
		return false
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	var body []byte
	if r.Method == http.MethodTrace {
		body = traceEcho(r)
		h.Set("Content-Type", "message/http")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	n, _ := w.Write(body)
	rec.Status = http.StatusOK
	rec.BytesDown += int64(n)
	return true
}

// traceEcho is r's head as it came, but for traceHidden; the fields in
// name order (the order they came in is not kept).
func traceEcho(r *http.Request) []byte {
	target := r.RequestURI
	if target == "" {
		target = r.URL.String() // HTTP/2: no request line
	}
	var b bytes.Buffer
	b.WriteString(r.Method + " " + target + " " + r.Proto + "\r\n")
	b.WriteString("Host: " + r.Host + "\r\n")
	for _, k := range slices.Sorted(maps.Keys(r.Header)) {
		if traceHidden[k] || k == "Host" {
			continue
		}
		for _, v := range r.Header[k] {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

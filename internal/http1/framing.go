package http1

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Framing is how a message's body is delimited (RFC 9112 §6.3).
type Framing struct {
	Length     int64 // bytes, for a Content-Length body; 0: no body
	Chunked    bool  // the chunked coding (§7.1)
	UntilClose bool  // the body ends when the connection closes (responses only)
	// Close is set when the connection must not carry another message
	// after this one: the framing was questionable (both Content-Length
	// and Transfer-Encoding, Transfer-Encoding on HTTP/1.0, a body where
	// none may be), or the body is delimited by the close.
	Close bool
}

// RequestFraming decides a request body's length from its fields (§6.3).
// It refuses what a server MUST NOT serve: a Transfer-Encoding whose last
// coding is not chunked (400), a coding other than chunked (501, §6.1),
// Transfer-Encoding on HTTP/1.0 (§6.1: faulty framing), Content-Length
// together with Transfer-Encoding (§6.3 allows refusing it, and ferry
// does: the two readings are the seed of request smuggling), and an
// invalid or disagreeing Content-Length (400). The errors wrap
// ErrMalformed; an unsupported coding is ErrUnsupportedCoding.
func RequestFraming(major, minor int, h http.Header) (Framing, error) {
	te, hasTE := h["Transfer-Encoding"]
	cl, hasCL := h["Content-Length"]
	switch {
	case hasTE && major == 1 && minor == 0:
		return Framing{}, malformed("Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1)")
	case hasTE && hasCL:
		return Framing{}, malformed("both Transfer-Encoding and Content-Length (RFC 9112 section 6.3)")
	case hasTE:
		if err := chunkedOnly(te); err != nil {
			return Framing{}, err
		}
		return Framing{Chunked: true}, nil
	case hasCL:
		n, err := contentLength(cl)
		if err != nil {
			return Framing{}, err
		}
		return Framing{Length: n}, nil
	}
	return Framing{}, nil
}

// ErrUnsupportedCoding is a transfer coding other than chunked, which
// ferry does not decode (RFC 9112 §6.1: 501 for a request).
var ErrUnsupportedCoding = malformed("transfer coding other than chunked")

// chunkedOnly accepts a Transfer-Encoding that is exactly "chunked".
func chunkedOnly(te []string) error {
	codings := codingList(te)
	switch {
	case len(codings) == 0:
		return malformed("empty Transfer-Encoding")
	case codings[len(codings)-1] != "chunked":
		return malformed("Transfer-Encoding %q does not end in chunked (RFC 9112 section 6.3)", strings.Join(te, ", "))
	case slices.Contains(codings[:len(codings)-1], "chunked"):
		return malformed("Transfer-Encoding %q applies chunked more than once (RFC 9112 section 6.1)", strings.Join(te, ", "))
	case len(codings) > 1:
		return ErrUnsupportedCoding
	}
	return nil
}

// codingList is the lower-cased transfer codings of te's lines, their
// parameters dropped.
func codingList(te []string) []string {
	var out []string
	for _, line := range te {
		for c := range strings.SplitSeq(line, ",") {
			c, _, _ = strings.Cut(c, ";")
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" {
				out = append(out, c)
			}
		}
	}
	return out
}

// contentLength reads Content-Length lines: digits only (RFC 9110 §8.6),
// one value, or a list whose values are all the same (§8.6 lets a
// recipient take that as one).
func contentLength(lines []string) (int64, error) {
	var n int64 = -1
	for _, line := range lines {
		for v := range strings.SplitSeq(line, ",") {
			v = strings.TrimSpace(v)
			m, err := strconv.ParseUint(v, 10, 63)
			if err != nil || v == "" || v[0] == '+' {
				return 0, malformed("invalid Content-Length %q", line)
			}
			if n >= 0 && int64(m) != n {
				return 0, malformed("Content-Length values disagree: %q", strings.Join(lines, ", "))
			}
			n = int64(m)
		}
	}
	return n, nil
}

// ResponseFraming decides the length of a response to a request of
// method (RFC 9112 §6.3). A response to HEAD, a 1xx, 204 or 304 has no
// body whatever its fields say; one that also claims a body (a
// Transfer-Encoding, or a Content-Length above 0 on 204) is marked Close,
// since the bytes an origin may still send would be read as the next
// response. Transfer-Encoding: chunked wins over Content-Length, which
// the caller must then not forward (§6.3 rule 3), and the connection
// closes after; identity alone makes the body end at the close. A
// Transfer-Encoding on HTTP/1.0 (§6.1: faulty framing), a coding ferry
// cannot take off (responseCoding), and an invalid Content-Length are
// errors a proxy answers 502 (§6.3 rule 5). A body with neither field
// ends at the close.
func ResponseFraming(major, minor, status int, method string, h http.Header) (Framing, error) {
	te, hasTE := h["Transfer-Encoding"]
	cl, hasCL := h["Content-Length"]
	if method == http.MethodHead || status/100 == 1 || status == http.StatusNoContent || status == http.StatusNotModified {
		f := Framing{}
		if hasTE && method != http.MethodHead {
			f.Close = true
		}
		if status == http.StatusNoContent && hasCL {
			if n, err := contentLength(cl); err != nil || n > 0 {
				f.Close = true
			}
		}
		return f, nil
	}
	if hasTE {
		return responseCoding(major, minor, te, hasCL)
	}
	if hasCL {
		n, err := contentLength(cl)
		if err != nil {
			return Framing{}, err
		}
		return Framing{Length: n}, nil
	}
	return Framing{UntilClose: true, Close: true}, nil
}

// responseCoding is ResponseFraming for a response with a
// Transfer-Encoding. Chunked alone frames the body; identity alone (no
// coding, RFC 9112 §6.3 rule 4) ends it at the close, and it passes as it
// came. Any other coding is unsupported: ferry does not take it off, and
// the client, the field gone as hop-by-hop, would take the coded bytes
// for the content (a gzip'd body, or chunked framing applied twice).
func responseCoding(major, minor int, te []string, hasCL bool) (Framing, error) {
	if major == 1 && minor == 0 {
		return Framing{}, malformed("Transfer-Encoding in an HTTP/1.0 response (RFC 9112 section 6.1)")
	}
	codings := codingList(te)
	chunkedLast := len(codings) > 0 && codings[len(codings)-1] == "chunked"
	codings = slices.DeleteFunc(codings, func(c string) bool { return c == "identity" })
	switch {
	case len(codings) == 0:
		return Framing{UntilClose: true, Close: true}, nil
	case len(codings) == 1 && chunkedLast:
		return Framing{Chunked: true, Close: hasCL}, nil
	}
	return Framing{}, ErrUnsupportedCoding
}

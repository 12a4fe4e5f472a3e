package http1

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// ErrMalformed marks a message whose syntax or framing RFC 9112 makes a
// recipient reject. Errors of this package wrap it, except the reader's own.
var ErrMalformed = errors.New("malformed HTTP/1 message")

// malformed is an ErrMalformed with what was wrong.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// maxEmptyLines bounds the empty lines a server skips before a request
// line (RFC 9112 §2.2 asks it to ignore at least one).
const maxEmptyLines = 4

// ReadHead reads a message head from br: the start line and the field
// lines up to the empty line, which lines end in CRLF or a bare LF (§2.2).
// Empty lines before the start line are skipped. The fields are checked
// as §5 asks: a field name is a token, with no whitespace before its colon
// (§5.1, MUST reject); a value has no control byte but HTAB (§5.5: a bare
// CR or NUL is rejected); an obs-fold is replaced by a space (§5.2). The
// caller bounds the bytes br may read.
func ReadHead(br *bufio.Reader) (line string, h http.Header, err error) {
	if line, err = ReadStartLine(br); err != nil {
		return "", nil, err
	}
	// The start line goes back with any error of the fields: the caller
	// tells a long request line from long fields by it.
	h, err = ReadFields(br)
	return line, h, err
}

// ReadStartLine reads the start line of a head, as ReadHead does: a
// caller that can judge the line alone (a request line without a version,
// as HTTP/0.9 sends, is never followed by fields) reads it first and the
// fields with ReadFields.
func ReadStartLine(br *bufio.Reader) (line string, err error) {
	tp := textproto.NewReader(br)
	for range maxEmptyLines + 1 {
		if line, err = tp.ReadLine(); err != nil || line != "" {
			break
		}
	}
	if err != nil {
		return "", err
	}
	if line == "" {
		return "", malformed("empty lines where a start line belongs")
	}
	if strings.ContainsFunc(line, isCtl) {
		return "", malformed("a control byte in the start line")
	}
	return line, nil
}

// ReadFields reads the field lines after a start line, up to the empty
// line, checked as ReadHead says.
func ReadFields(br *bufio.Reader) (http.Header, error) {
	mh, err := textproto.NewReader(br).ReadMIMEHeader()
	if err != nil {
		var pe textproto.ProtocolError
		if errors.As(err, &pe) {
			return nil, malformed("%v", err)
		}
		return nil, err
	}
	for k, vv := range mh {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, malformed("field name %q is not a token (RFC 9112 section 5.1)", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, malformed("a control byte in the value of %s (RFC 9110 section 5.5)", k)
			}
		}
	}
	return http.Header(mh), nil
}

func isCtl(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }

// ParseVersion parses "HTTP/x.y" strictly: one digit each (RFC 9112 §2.3).
func ParseVersion(s string) (major, minor int, ok bool) {
	if len(s) != len("HTTP/1.1") || !strings.HasPrefix(s, "HTTP/") || s[6] != '.' ||
		s[5] < '0' || s[5] > '9' || s[7] < '0' || s[7] > '9' {
		return 0, 0, false
	}
	return int(s[5] - '0'), int(s[7] - '0'), true
}

// KeepAlive reports whether a message of version major.minor with these
// Connection values lets the connection carry another one (RFC 9112
// §9.3): HTTP/1.1 unless "close", HTTP/1.0 only with "keep-alive".
func KeepAlive(major, minor int, h http.Header) bool {
	conn := h["Connection"]
	if httpguts.HeaderValuesContainsToken(conn, "close") {
		return false
	}
	if major == 1 && minor == 0 {
		return httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	}
	return major == 1
}

// WriteField writes one field line, "name: value" and CRLF, piece by
// piece: a line built by concatenation first is an allocation for each
// field of every message.
func WriteField(w *bufio.Writer, name, value string) {
	w.WriteString(name)
	w.WriteString(": ")
	w.WriteString(value)
	w.WriteString("\r\n")
}

// WriteStatusLine writes "HTTP/1.1 code reason" and CRLF.
func WriteStatusLine(w *bufio.Writer, code int, reason string) {
	w.WriteString("HTTP/1.1 ")
	w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(code), 10))
	w.WriteByte(' ')
	w.WriteString(reason)
	w.WriteString("\r\n")
}

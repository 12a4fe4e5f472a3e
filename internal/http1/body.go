package http1

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// MaxTrailerBytes bounds a chunked body's trailer section.
const MaxTrailerBytes = 16 << 10

// Body reads a message body framed by f from br. It returns io.EOF only
// at the body's real end; a connection closed before that is
// io.ErrUnexpectedEOF, and bad chunked syntax an ErrMalformed. A chunked
// body's trailer fields are read with its last chunk (bounded by
// MaxTrailerBytes) and kept for Trailer.
type Body struct {
	f       Framing
	br      *bufio.Reader
	left    int64     // Content-Length bytes still to come
	chunks  io.Reader // the chunked decoder
	trailer http.Header
	done    bool  // read to its end
	err     error // sticky
}

// NewBody returns the body of a message framed by f.
func NewBody(br *bufio.Reader, f Framing) *Body {
	b := &Body{f: f, br: br, left: f.Length}
	if f.Chunked {
		b.chunks = httputil.NewChunkedReader(br)
	}
	if !f.Chunked && !f.UntilClose && f.Length == 0 {
		b.done = true
	}
	return b
}

func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	n, err := b.read(p)
	switch {
	case err == io.EOF:
		b.done = true
	case err != nil:
		b.err = err
	}
	return n, err
}

func (b *Body) read(p []byte) (int, error) {
	switch {
	case b.f.Chunked:
		n, err := b.chunks.Read(p)
		if err == io.EOF {
			if err = b.readTrailer(); err == nil {
				err = io.EOF
			}
		} else if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !isNetErr(err) {
			err = malformed("chunked body: %v", err)
		}
		return n, err
	case b.f.UntilClose:
		return b.br.Read(p)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	if b.left == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// readTrailer reads the trailer section after the last chunk: field lines
// up to an empty line (RFC 9112 §7.1.2), bounded by MaxTrailerBytes. Its
// lines end in CRLF, as the chunk lines before them must (a bare LF here
// is read another way by some hops: request smuggling's seam).
func (b *Body) readTrailer() error {
	var t http.Header
	for total := 0; ; {
		line, err := b.br.ReadSlice('\n')
		total += len(line)
		switch {
		case total > MaxTrailerBytes || errors.Is(err, bufio.ErrBufferFull):
			return malformed("trailer section over %d bytes", MaxTrailerBytes)
		case err == io.EOF:
			return io.ErrUnexpectedEOF
		case err != nil:
			return err
		case len(line) < 2 || line[len(line)-2] != '\r':
			return malformed("trailer line without CRLF")
		}
		line = line[:len(line)-2]
		if len(line) == 0 {
			b.trailer = t
			return nil
		}
		name, value, ok := strings.Cut(string(line), ":")
		if !ok || !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
			return malformed("trailer line %q", clipLine(line))
		}
		if t == nil {
			t = http.Header{}
		}
		t.Add(name, strings.Trim(value, " \t"))
	}
}

func clipLine(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

func isNetErr(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne)
}

// Trailer is the chunked body's trailer section, once read to its end;
// nil when it had none.
func (b *Body) Trailer() http.Header { return b.trailer }

// Done reports whether the body was read to its end.
func (b *Body) Done() bool { return b.done }

// ChunkedWriter writes a chunked body to w; Close writes the last chunk
// and the trailer fields given to it.
type ChunkedWriter struct {
	w  io.Writer
	cw io.WriteCloser
}

// NewChunkedWriter returns a ChunkedWriter on w.
func NewChunkedWriter(w io.Writer) *ChunkedWriter {
	return &ChunkedWriter{w: w, cw: httputil.NewChunkedWriter(w)}
}

func (c *ChunkedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // an empty chunk would end the body
	}
	return c.cw.Write(p)
}

// Close ends the body: the last chunk, the trailer fields, the empty line.
func (c *ChunkedWriter) Close(trailer http.Header) error {
	if err := c.cw.Close(); err != nil {
		return err
	}
	if len(trailer) > 0 {
		if err := trailer.Write(c.w); err != nil {
			return err
		}
	}
	_, err := io.WriteString(c.w, "\r\n")
	return err
}

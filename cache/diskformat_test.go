package cache

import (
	"bytes"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// entryBytes is a whole valid entry file for body.
func entryBytes(t testing.TB, body []byte) []byte {
	m := meta{
		Key:      "GET http://example.com/a",
		Status:   200,
		Header:   http.Header{"Cache-Control": {"max-age=60"}},
		ReqTime:  time.Unix(1700000000, 0).UTC(),
		RespTime: time.Unix(1700000001, 0).UTC(),
		Route:    RouteDirect,
	}
	head, _, err := encodeHead(&m)
	if err != nil {
		t.Fatal(err)
	}
	b := append(head, body...)
	return append(b, encodeTrailer(int64(len(body)), crc32.Checksum(body, castagnoli))...)
}

// FuzzReadEntry: any file content is read without panic or unbounded
// allocation, and a body is only ever accepted with its checksum.
func FuzzReadEntry(f *testing.F) {
	good := entryBytes(f, []byte("hello body"))
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:headLen])
	f.Add([]byte{})
	flipped := bytes.Clone(good)
	flipped[len(flipped)-trailerLen-2] ^= 1
	f.Add(flipped)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "e")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		e, err := readEntry(fh)
		if err != nil {
			return
		}
		if e.bodyOff+e.bodyLen+trailerLen != int64(len(data)) {
			t.Fatalf("accepted lengths %d+%d do not add up to %d", e.bodyOff, e.bodyLen, len(data))
		}
		var buf bytes.Buffer
		err = copyBody(&buf, fh, e)
		sum := crc32.Checksum(data[e.bodyOff:e.bodyOff+e.bodyLen], castagnoli)
		if (err == nil) != (sum == e.bodyCRC) {
			t.Fatalf("copyBody %v, checksum match %v", err, sum == e.bodyCRC)
		}
	})
}

func TestReadEntryRoundTrip(t *testing.T) {
	body := bytes.Repeat([]byte("abc"), 1000)
	p := filepath.Join(t.TempDir(), "e")
	if err := os.WriteFile(p, entryBytes(t, body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e, err := readEntry(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := copyBody(&buf, f, e); err != nil || !bytes.Equal(buf.Bytes(), body) {
		t.Fatalf("body: %v, %d bytes", err, buf.Len())
	}
	if e.meta.Key != "GET http://example.com/a" || e.meta.Header.Get("Cache-Control") != "max-age=60" {
		t.Fatalf("meta %+v", e.meta)
	}
}

var etagTests = []struct {
	list []string
	etag string
	want bool
}{
	{[]string{`"a"`}, `"a"`, true},
	{[]string{`W/"a"`}, `"a"`, true},
	{[]string{`"a"`}, `W/"a"`, true},
	{[]string{`"x", "y",W/"a"`}, `"a"`, true},
	{[]string{`"x"`, `"a"`}, `"a"`, true},
	{[]string{`*`}, `"a"`, true},
	{[]string{`"a,b"`}, `"a,b"`, true},
	{[]string{`"a`}, `"a"`, false},
	{[]string{`a`}, `"a"`, false},
	{[]string{`"b"`}, `"a"`, false},
	{[]string{``}, `"a"`, false},
}

func TestETagListMatch(t *testing.T) {
	for _, tt := range etagTests {
		if got := etagListMatch(tt.list, tt.etag); got != tt.want {
			t.Errorf("etagListMatch(%q, %q) = %v, want %v", tt.list, tt.etag, got, tt.want)
		}
	}
}

// FuzzETagListMatch: any If-None-Match value is read without panic, and a
// well-formed list holding the stored tag, weak or strong, matches it.
func FuzzETagListMatch(f *testing.F) {
	for _, tt := range etagTests {
		for _, l := range tt.list {
			f.Add(l, tt.etag)
		}
	}
	f.Fuzz(func(t *testing.T, list, tag string) {
		etagListMatch([]string{list}, tag)
		if tag == "" || bytes.ContainsAny([]byte(tag), "\"") {
			return
		}
		etag := `"` + tag + `"`
		for _, l := range []string{etag, `W/` + etag, `"x", ` + etag, `"x",W/` + etag + `, "y"`} {
			if !etagListMatch([]string{l}, etag) {
				t.Fatalf("%q not matched by %q", etag, l)
			}
		}
	})
}

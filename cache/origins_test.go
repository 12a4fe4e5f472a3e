package cache

import (
	"fmt"
	"net/http"
	"time"
)

// The origins of the conformance table.

// fixed is an origin answering every request alike: status, body, and
// field/value pairs; Date is the clock's unless given.
func fixed(status int, body string, fields ...string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		h := w.Header()
		h.Set("Date", date(now))
		for i := 0; i+1 < len(fields); i += 2 {
			h.Set(fields[i], fields[i+1])
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

// validating is an origin with ETag "v1" whose first answer carries cc1
// and whose 304s (to If-None-Match "v1") carry cc2 and X-Version: 2;
// a request without the validator gets the full response again.
func validating(cc1, cc2 string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		h := w.Header()
		h.Set("Date", date(now))
		h.Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			h.Set("Cache-Control", cc2)
			h.Set("X-Version", "2")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Cache-Control", cc1)
		h.Set("X-Version", "1")
		h.Set("Content-Type", "text/plain")
		fmt.Fprint(w, "body-v1")
	}
}

// lastModifiedOrigin validates by Last-Modified only (no ETag): its full
// answer carries lm and max-age=10; a request whose If-Modified-Since is
// lm or later gets a 304 with max-age=100 and X-Version: 2.
func lastModifiedOrigin(lm time.Time) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		h := w.Header()
		h.Set("Date", date(now))
		if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !lm.After(ims) {
			h.Set("Cache-Control", "max-age=100")
			h.Set("X-Version", "2")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Last-Modified", date(lm))
		h.Set("Cache-Control", "max-age=10")
		h.Set("X-Version", "1")
		fmt.Fprint(w, "body-lm")
	}
}

// postOrigin answers GETs with max-age=60, POST /r with 201 and a
// same-origin Location /other, POST /elsewhere with a Location on another
// host naming /r, and a POST with X-Fail with 500.
func postOrigin() originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Date", date(now))
		switch {
		case r.Method == "GET":
			w.Header().Set("Cache-Control", "max-age=60")
			fmt.Fprint(w, "page ", n)
		case r.Header.Get("X-Fail") != "":
			w.WriteHeader(500)
		case r.URL.Path == "/elsewhere":
			w.Header().Set("Location", "http://other.example/r")
			w.WriteHeader(201)
		default:
			w.Header().Set("Location", "/other")
			w.WriteHeader(201)
		}
	}
}

// expiresOrigin gives /r an Expires 30s after Date and /zero "Expires: 0"
// with an ETag to revalidate by.
func expiresOrigin() originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Date", date(now))
		if r.URL.Path == "/zero" {
			w.Header().Set("Expires", "0")
			w.Header().Set("ETag", `"z"`)
		} else {
			w.Header().Set("Expires", date(now.Add(30*time.Second)))
		}
		fmt.Fprint(w, "e")
	}
}

// otherETagOrigin stores "one" with ETag "1", then answers the validation
// with a 304 naming tag304 (another representation), and the
// unconditional retry with "two".
func otherETagOrigin(tag304 string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Date", date(now))
		w.Header().Set("Cache-Control", "max-age=10")
		switch {
		case n == 1:
			w.Header().Set("ETag", `"1"`)
			fmt.Fprint(w, "one")
		case r.Header.Get("If-None-Match") != "":
			w.Header().Set("ETag", tag304)
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("ETag", `"2"`)
			fmt.Fprint(w, "two")
		}
	}
}

// setCookieOrigin sets a cookie on every answer; /public says public.
func setCookieOrigin() originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		w.Header().Set("Date", date(now))
		w.Header().Set("Set-Cookie", "theme=dark")
		if r.URL.Path == "/public" {
			w.Header().Set("Cache-Control", "public, max-age=60")
		} else {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		fmt.Fprint(w, "c")
	}
}

// lines is an origin answering every request alike with field/value
// pairs added as lines (a field given twice is sent twice); Date is the
// clock's unless given.
func lines(status int, body string, fields ...string) originFunc {
	return func(w http.ResponseWriter, r *http.Request, n int, now time.Time) {
		h := w.Header()
		for i := 0; i+1 < len(fields); i += 2 {
			h.Add(fields[i], fields[i+1])
		}
		if h.Get("Date") == "" {
			h.Set("Date", date(now))
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

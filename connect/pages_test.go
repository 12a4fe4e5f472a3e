package connect_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A page registered with Handle answers origin-form requests to its path
// on the proxy port, and is logged like any request; other paths still
// get 400, and a removed page is gone.
func TestPages(t *testing.T) {
	w := newWorld(t, options{})
	w.srv.Handle("/proxy.pac", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/x-ns-proxy-autoconfig")
		io.WriteString(rw, "function FindProxyForURL(url, host) { return \"DIRECT\"; }\n")
	}))
	client := &http.Client{Timeout: bound}
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/proxy.pac", 200, "FindProxyForURL"},
		{"/other", 400, "this is a proxy"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := client.Get("http://" + w.addr + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.body) {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, resp.StatusCode, b, tt.status, tt.body)
			}
			r := w.log.next(t)
			if r.URL != tt.path || r.Status != tt.status || r.Proto != "http" || r.Method != "GET" {
				t.Errorf("access record %s %s %s %d, want http GET %s %d", r.Proto, r.Method, r.URL, r.Status, tt.path, tt.status)
			}
			if tt.status == 200 && r.BytesDown != int64(len(b)) {
				t.Errorf("bytes_down %d, want %d", r.BytesDown, len(b))
			}
		})
	}
	w.srv.Handle("/proxy.pac", nil)
	resp, err := client.Get("http://" + w.addr + "/proxy.pac")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("after removal: %d, want 400", resp.StatusCode)
	}
}

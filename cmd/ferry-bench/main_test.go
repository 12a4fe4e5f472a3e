package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		wantErr string // "" for success
	}{
		{"http only", "-http-proxy 127.0.0.1:1", ""},
		{"nothing to measure", "-only bulk", "nothing to measure"},
		{"unknown test", "-http-proxy 127.0.0.1:1 -only bulk,speed", `unknown test "speed"`},
		{"bad address", "-socks-proxy localhost", "proxy address"},
		{"tcp needs a fixed echo", "-tcp-proxy 127.0.0.1:1", "-echo-addr"},
		{"tcp with echo", "-tcp-proxy 127.0.0.1:1 -echo-addr 127.0.0.1:2 -only setup", ""},
		{"tcp bulk needs fixed origins", "-tcp-bulk-proxy 127.0.0.1:1,127.0.0.1:2 -sink-addr 127.0.0.1:3", "-source-addr"},
		{"tcp bulk takes two", "-tcp-bulk-proxy 127.0.0.1:1 -sink-addr 127.0.0.1:3 -source-addr 127.0.0.1:4", "two addresses"},
		{"tcp bulk", "-tcp-bulk-proxy 127.0.0.1:1,127.0.0.1:2 -sink-addr 127.0.0.1:3 -source-addr 127.0.0.1:4 -only bulk", ""},
		{"zero duration", "-http-proxy 127.0.0.1:1 -duration 0s", "must be positive"},
		{"stray argument", "-http-proxy 127.0.0.1:1 extra", "unexpected argument"},
		{"open rates", "-http-proxy 127.0.0.1:1 -only open -open-rates 10%,3000", ""},
		{"bad open rate", "-http-proxy 127.0.0.1:1 -open-rates fast", "-open-rates"},
		{"open base", "-http-proxy 127.0.0.1:1 -open-base setup=9000,http=50000", ""},
		{"bad open base", "-http-proxy 127.0.0.1:1 -open-base udp=5", "-open-base"},
		{"calibrate needs no proxy", "-calibrate", ""},
		{"merge needs files", "-merge", "needs JSON files"},
		{"merge", "-merge a.json b.json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(strings.Fields(tt.args), io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

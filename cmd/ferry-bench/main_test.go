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
		{"zero duration", "-http-proxy 127.0.0.1:1 -duration 0s", "must be positive"},
		{"stray argument", "-http-proxy 127.0.0.1:1 extra", "unexpected argument"},
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

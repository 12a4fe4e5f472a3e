package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/front"
	"github.com/rs/zerolog"
)

// Issue 20 item 6: max_conns and the outbound pool fit the open-file
// limit, with descriptors in reserve for the listeners and the admin port.
func TestFDBudget(t *testing.T) {
	tests := []struct {
		name                string
		limit               uint64
		maxConns, maxIdle   int
		wantConns, wantIdle int
	}{
		{"unknown limit: as configured", 0, 10000, 1024, 10000, 1024},
		{"plenty", 1 << 20, 10000, 1024, 10000, 1024},
		// The case: 1,024 descriptors and the default 10,000.
		{"1024 descriptors", 1024, 10000, 1024, 420, 120},
		{"unlimited max_conns is bounded too", 20000, 0, 1024, 9456, 1024},
		{"a lower max_conns stays", 20000, 500, 1024, 500, 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, i := fdBudget(tt.limit, tt.maxConns, tt.maxIdle, zerolog.Nop())
			if c != tt.wantConns || i != tt.wantIdle {
				t.Fatalf("fdBudget = %d, %d; want %d, %d", c, i, tt.wantConns, tt.wantIdle)
			}
			if tt.limit != 0 && 2*c+i+fdReserve > int(tt.limit) {
				t.Fatalf("%d conns and %d pooled do not fit %d descriptors", c, i, tt.limit)
			}
		})
	}
}

// Lowering the operator's own max_conns is a warning; fitting the
// default to the machine is not (a fresh ferry on a 20,000-descriptor
// machine starts without one).
func TestFDBudgetWarnsOnlyForOwnLimit(t *testing.T) {
	for _, tt := range []struct {
		maxConns int
		level    string
	}{{front.DefaultMaxConns, "info"}, {15000, "warn"}, {0, "warn"}} {
		var buf bytes.Buffer
		fdBudget(20000, tt.maxConns, 1024, zerolog.New(&buf))
		var line struct{ Level, Message string }
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil || !strings.HasPrefix(line.Message, "max_conns lowered") || line.Level != tt.level {
			t.Errorf("max_conns %d lowered: log %q, want one line at %s", tt.maxConns, buf.String(), tt.level)
		}
	}
}

package config

import (
	"errors"
	"strings"
	"testing"
)

// The fleet's tables (issue 18) refuse what cannot work, each problem
// with its file and line.
func TestFleetErrors(t *testing.T) {
	const peer = "[[listener]]\nname = \"main\"\naddress = \"127.0.0.1:8080\"\nproxy_protocol_from = [\"10.0.0.0/8\"]\n" +
		"[[listener]]\nname = \"peer\"\naddress = \"127.0.0.1:8081\"\n"
	tests := []struct {
		name string
		in   string
		want []string // "f.toml:LINE: text"
	}{
		{"bad proxy_protocol_from", "[[listener]]\nproxy_protocol_from = [\"10.0.0.0/33\"]\n",
			[]string{`f.toml:2: listener[0].proxy_protocol_from[0]: bad CIDR or address "10.0.0.0/33"`}},
		{"bad redis url", "[fleet]\nredis = \"http://x\"\n", []string{`f.toml:2: fleet.redis:`}},
		{"timeout too long", "[fleet]\ntimeout = \"2s\"\n", []string{`f.toml:2: fleet.timeout: at most 1s`}},
		{"limit without a limit", "[[limit]]\nname = \"x\"\n", []string{`f.toml:1: limit[0].tunnels: a limit needs tunnels, requests or bytes`}},
		{"limit on an address", "[[limit]]\nname = \"x\"\ntunnels = 1\nip = \"10.0.0.0/8\"\n", []string{`f.toml:4: limit[0].ip: limits are decided before DNS`}},
		{"bad byte size", "[[limit]]\nname = \"x\"\nbytes = \"10 parsecs\"\n",
			[]string{`f.toml:1: limit[0].tunnels: a limit needs`, `f.toml:3: limit.bytes: bad size "10 parsecs"`}},
		{"shared cache on a missing listener", "[cache]\nenabled = true\n[fleet]\nredis = \"redis://127.0.0.1:6379\"\n[fleet.cache]\nlistener = \"peer\"\n",
			[]string{`f.toml:6: fleet.cache.listener: no [[listener]] is named "peer"`}},
		{"shared cache on the balancer's listener", peer + "[cache]\nenabled = true\n[fleet]\nredis = \"redis://127.0.0.1:6379\"\n[fleet.cache]\nlistener = \"main\"\n",
			[]string{`f.toml:13: fleet.cache.listener: listener "main" takes PROXY headers`}},
		{"shared cache that is off", peer + "[fleet]\nredis = \"redis://127.0.0.1:6379\"\n[fleet.cache]\nlistener = \"peer\"\n",
			[]string{`f.toml:11: fleet.cache.listener: sharing the cache needs it on`}},
		{"shared cache without members", peer + "[cache]\nenabled = true\n[fleet.cache]\nlistener = \"peer\"\n",
			[]string{`f.toml:10: fleet.cache.members: a shared cache needs its members`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tt.in))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %v, want config.Errors", err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("%d problems reported, want %d:\n%v", len(es), len(tt.want), err)
			}
			for i, want := range tt.want {
				loc, text, _ := strings.Cut(want, ": ")
				if got := es[i].Error(); !strings.HasPrefix(got, loc+": ") || !strings.Contains(got, text) {
					t.Errorf("problem %d = %q, want %q at %s", i, got, text, loc)
				}
			}
		})
	}
}

package reverse

import (
	"strings"
	"testing"
)

func TestRouteMatch(t *testing.T) {
	rc := func(name string, def bool, names ...string) RouteConfig {
		return RouteConfig{Name: name, Default: def, ServerNames: names, Backends: []BackendConfig{{Address: "127.0.0.1:1"}}}
	}
	tab, err := NewTable(Config{Listeners: []ListenerConfig{{Name: "l", Address: "127.0.0.1:0", Mode: ModeTLS, Routes: []RouteConfig{
		rc("exact", false, "app.example.com", "Upper.Example.COM."),
		rc("wild", false, "*.example.com"),
		rc("deep", false, "*.eu.example.com"),
		rc("def", true),
	}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := tab.Listener("l")
	tests := []struct{ sni, want string }{
		{"app.example.com", "exact"},
		{"upper.example.com", "exact"},
		{"x.example.com", "wild"},
		{"a.b.example.com", "wild"},
		{"x.eu.example.com", "deep"},
		{"eu.example.com", "wild"},
		{"example.com", "def"},
		{"other.test", "def"},
		{"", "def"},
	}
	for _, tt := range tests {
		if r := l.Route(tt.sni); r == nil || r.Name != tt.want {
			t.Errorf("%q: got %v, want %s", tt.sni, r, tt.want)
		}
	}
	noDef, err := NewTable(Config{Listeners: []ListenerConfig{{Name: "l", Mode: ModeTLS, Routes: []RouteConfig{rc("only", false, "a.test")}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := noDef.Listener("l").Route("b.test"); r != nil {
		t.Fatalf("unmatched name without default routed to %s", r.Name)
	}
}

func TestNewTableErrors(t *testing.T) {
	b := []BackendConfig{{Address: "127.0.0.1:1"}}
	tests := []struct {
		name string
		l    ListenerConfig
		want string
	}{
		{"two defaults", ListenerConfig{Mode: ModeTLS, Routes: []RouteConfig{{Name: "a", Default: true, Backends: b}, {Name: "b", Default: true, Backends: b}}}, "both default"},
		{"same name twice", ListenerConfig{Mode: ModeTLS, Routes: []RouteConfig{{Name: "a", ServerNames: []string{"x.test"}, Backends: b}, {Name: "b", ServerNames: []string{"X.test"}, Backends: b}}}, `"x.test" in routes`},
		{"no backend", ListenerConfig{Mode: ModeTCP, Routes: []RouteConfig{{Name: "a"}}}, "no backend"},
		{"tcp two routes", ListenerConfig{Mode: ModeTCP, Routes: []RouteConfig{{Name: "a", Backends: b}, {Name: "b", Backends: b}}}, "exactly one route"},
		{"terminate without cert", ListenerConfig{Mode: ModeTLS, Routes: []RouteConfig{{Name: "a", Default: true, TLS: Terminate, Backends: b}}}, "needs a certificate"},
		{"missing cert file", ListenerConfig{Mode: ModeTLS, Routes: []RouteConfig{{Name: "a", Default: true, TLS: Terminate, Certificates: []CertFile{{"/nonexistent.pem", "/nonexistent.key"}}, Backends: b}}}, "nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.l.Name = "l"
			_, err := NewTable(Config{Listeners: []ListenerConfig{tt.l}}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

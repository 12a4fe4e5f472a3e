package acl

import (
	"strings"
	"testing"
)

func TestMatchSet(t *testing.T) {
	tests := []struct {
		name string
		m    Match
		not  *Match
		q    Query
		want Result
	}{
		{"empty matches all", Match{}, nil, Query{Host: "a.example"}, Matches},
		{"suffix", Match{Domain: Values{".corp.example"}}, nil, Query{Host: "wiki.corp.example"}, Matches},
		{"suffix other", Match{Domain: Values{".corp.example"}}, nil, Query{Host: "example.org"}, NoMatch},
		{"ip unknown for a name", Match{IP: Values{"10.0.0.0/8"}}, nil, Query{Host: "x.example"}, NeedsIP},
		{"ip known", Match{IP: Values{"10.0.0.0/8"}}, nil, Query{Host: "x.example", IP: ip("10.1.2.3")}, Matches},
		{"ip ruled out by port first", Match{IP: Values{"10.0.0.0/8"}, Port: Values{"22"}}, nil,
			Query{Host: "x.example", Port: 443}, NoMatch},
		{"not holds", Match{}, &Match{Domain: Values{"a.example"}}, Query{Host: "a.example"}, NoMatch},
		{"not does not hold", Match{}, &Match{Domain: Values{"a.example"}}, Query{Host: "b.example"}, Matches},
		{"user", Match{User: Values{"alice"}}, nil, Query{User: "alice"}, Matches},
		{"proto", Match{Proto: Values{"socks"}}, nil, Query{Proto: "connect"}, NoMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := CompileMatch(tt.m, tt.not, "UTC", Env{})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Eval(&tt.q); got != tt.want {
				t.Fatalf("Eval = %d, want %d (%s)", got, tt.want, s)
			}
		})
	}
}

func TestCompileMatchErrors(t *testing.T) {
	_, err := CompileMatch(Match{Port: Values{"0"}, Group: Values{"nobody"}}, &Match{IP: Values{"10.1.2.3/8"}}, "Mars/Olympus", Env{})
	if err == nil {
		t.Fatal("want errors")
	}
	es := err.(Errors)
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	got := strings.Join(keys, " ")
	for _, want := range []string{"timezone", "port", "group", "not.ip"} {
		if !strings.Contains(" "+got+" ", " "+want+" ") {
			t.Errorf("keys %q lack %q", got, want)
		}
	}
}

package acl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleList = `# a plain list
ads.example
Tracker.Example.   # inline comment
*.wild.example
.dot.example

! AdBlock
[Adblock Plus 2.0]
||pixel.example^
||imp.example^$important
||narrow.example^$third-party
||path.example/banner.gif
@@||allowed.example^
/banner/*/img^

# hosts
127.0.0.1 localhost
0.0.0.0 hosts-a.example hosts-b.example
::1 ip6-localhost
0.0.0.0 bad_name!.example
not a list line
bücher.example
`

func TestParseList(t *testing.T) {
	s, st, err := ParseList(strings.NewReader(sampleList))
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 9 {
		t.Errorf("entries %d, want 9", st.Entries)
	}
	// narrow, path, @@, /banner, bad_name!, "not a list line".
	if st.Skipped != 6 || st.FirstSkipped != 11 {
		t.Errorf("skipped %d (first at line %d), want 6 (first at 11)", st.Skipped, st.FirstSkipped)
	}
	tests := []struct {
		host string
		want bool
	}{
		{"ads.example", true},
		{"x.y.ads.example", true},
		{"tracker.example", true},
		{"wild.example", false},
		{"a.wild.example", true},
		{"dot.example", true},
		{"a.dot.example", true},
		{"pixel.example", true},
		{"cdn.pixel.example", true},
		{"imp.example", true},
		{"narrow.example", false},
		{"path.example", false},
		{"allowed.example", false},
		{"hosts-a.example", true},
		{"sub.hosts-a.example", false}, // hosts lines are exact
		{"hosts-b.example", true},
		{"localhost", false},
		{"xn--bcher-kva.example", true},
		{"example", false},
		{"badads.example", false},
	}
	for _, tt := range tests {
		if got := s.Contains(tt.host); got != tt.want {
			t.Errorf("Contains(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestParseListLongLine(t *testing.T) {
	in := "a.example\n" + strings.Repeat("x", 100<<10) + "\nb.example\n"
	s, st, err := ParseList(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 2 || st.Skipped != 1 || st.FirstSkipped != 2 || !s.Contains("b.example") {
		t.Fatalf("stats %+v, b.example %v", st, s.Contains("b.example"))
	}
}

func TestLoadList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(path, []byte("ads.example\r\n||x.example^\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, st, err := LoadList(path)
	if err != nil || st.Entries != 2 || !s.Contains("a.x.example") {
		t.Fatalf("LoadList: %v %+v", err, st)
	}
	if _, _, err := LoadList(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestDomainSetGrowAndKinds(t *testing.T) {
	s := NewDomainSet(0)
	for i := range 10000 {
		s.add(genName(i), matchExact)
	}
	s.add(genName(7), matchSubs) // both kinds now
	if s.Len() != 10000 {
		t.Fatalf("Len %d", s.Len())
	}
	for i := range 10000 {
		if !s.Contains(genName(i)) {
			t.Fatalf("lost %s", genName(i))
		}
	}
	if !s.Contains("x."+genName(7)) || s.Contains("x."+genName(8)) {
		t.Fatal("subdomain kinds wrong")
	}
	if s.Contains("absent.example") || s.Contains("") {
		t.Fatal("found what was never added")
	}
}

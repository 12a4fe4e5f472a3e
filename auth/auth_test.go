package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// hashOf makes a bcrypt hash at the minimum cost, to keep tests fast.
func hashOf(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParseHtpasswd(t *testing.T) {
	good := hashOf(t, "secret")
	tests := []struct {
		name    string
		in      string
		users   int
		wantErr string
	}{
		{"bcrypt users", "# comment\n\nalice:" + good + "\nbob:" + strings.Replace(good, "$2a$", "$2y$", 1) + "\n", 2, ""},
		{"apr1 refused", "alice:" + good + "\nbob:$apr1$abc$def\n", 0, "htpasswd:2: user \"bob\": password hash is Apache MD5 ($apr1$)"},
		{"sha refused", "carol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", 0, "htpasswd:1: user \"carol\": password hash is SHA-1 ({SHA})"},
		{"crypt refused", "dave:rl0uEsU7yAs2A\n", 0, "crypt(3) or plain text"},
		{"sha512 refused", "erin:$6$salt$hash\n", 0, "SHA-crypt ($6$)"},
		{"broken bcrypt", "frank:$2y$10$short\n", 0, "malformed bcrypt hash"},
		{"no colon", "gina\n", 0, "htpasswd:1: want user:hash"},
		{"duplicate", "alice:" + good + "\nalice:" + good + "\n", 0, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, err := ParseHtpasswd("htpasswd", strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want it to contain %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "bcrypt") && strings.Contains(tt.wantErr, "hash is") {
					t.Fatalf("err %v does not say what to use", err)
				}
				return
			}
			if err != nil || len(users) != tt.users {
				t.Fatalf("users %d, err %v; want %d", len(users), err, tt.users)
			}
		})
	}
}

func FuzzParseHtpasswd(f *testing.F) {
	f.Add("alice:$2a$04$abcdefghijklmnopqrstuuJ1OmYm7oMxe0C2oJ2aaNS0vTRJPaZzW\n")
	f.Add("bob:$apr1$x$y\n#c\n\n:")
	f.Fuzz(func(t *testing.T, in string) {
		users, err := ParseHtpasswd("f", strings.NewReader(in))
		if err == nil {
			for u, h := range users {
				if u == "" || CheckHash(string(h)) != nil {
					t.Fatalf("accepted %q:%q", u, h)
				}
			}
		}
	})
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(path, []byte("alice:"+hashOf(t, "a-pw")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := Load(Config{Users: []UserConfig{{Name: "bob", Bcrypt: hashOf(t, "b-pw")}}}, path)
	if err != nil || u.Len() != 2 || !u.Has("alice") || !u.Has("bob") {
		t.Fatalf("Load: %v", err)
	}
	_, err = Load(Config{Users: []UserConfig{{Name: "alice", Bcrypt: hashOf(t, "x")}}}, path)
	if err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Fatalf("duplicate across file and config: %v", err)
	}
	_, err = Load(Config{Users: []UserConfig{{Name: "carl", Bcrypt: "plain"}}}, "")
	if err == nil || !strings.Contains(err.Error(), "auth.user[0]") {
		t.Fatalf("inline non-bcrypt: %v", err)
	}
}

func TestVerify(t *testing.T) {
	u := New(map[string][]byte{"alice": []byte(hashOf(t, "right"))}, time.Minute)
	ctx := context.Background()
	tests := []struct {
		user, pw string
		want     bool
	}{
		{"alice", "right", true},
		{"alice", "right", true}, // from the cache
		{"alice", "wrong", false},
		{"alice", "", false},
		{"bob", "right", false},
		{"", "", false},
	}
	for _, tt := range tests {
		ok, err := u.Verify(ctx, tt.user, tt.pw)
		if err != nil || ok != tt.want {
			t.Errorf("Verify(%q, %q) = %v, %v; want %v", tt.user, tt.pw, ok, err, tt.want)
		}
	}
	if n := u.cache.len(); n != 1 {
		t.Fatalf("cache holds %d entries, want only the one success", n)
	}
}

func TestVerifyCancelled(t *testing.T) {
	u := New(map[string][]byte{"alice": []byte(hashOf(t, "pw"))}, 0)
	for range cap(u.sem) {
		u.sem <- struct{}{} // every bcrypt slot busy
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := u.Verify(ctx, "alice", "pw"); ok || err == nil {
		t.Fatalf("Verify with a dead context = %v, %v", ok, err)
	}
}

func TestCacheBoundAndExpiry(t *testing.T) {
	c := newCache(time.Minute, 8)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	for i := range 100 {
		c.add(c.key("u", string(rune('a'+i))))
		if c.len() > 8 {
			t.Fatalf("cache grew to %d past its bound 8", c.len())
		}
	}
	k := c.key("alice", "pw")
	c.add(k)
	if !c.hit(k) {
		t.Fatal("fresh entry missed")
	}
	now = now.Add(time.Minute)
	if c.hit(k) {
		t.Fatal("expired entry hit")
	}
	if c.key("alice\x00", "pw") == c.key("alice", "\x00pw") || c.key("a", "bc") == c.key("ab", "c") {
		t.Fatal("keys of different pairs collide")
	}
}

// hashAt makes a bcrypt hash of pw at cost.
func hashAt(t testing.TB, pw string, cost int) []byte {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// countWork makes u count the bcrypt work it does, in rounds (2^cost per
// compare), and still compare for real.
func countWork(u *Users) *int {
	work := new(int)
	compare := u.compare
	u.compare = func(hash, pw []byte) error {
		c, err := bcrypt.Cost(hash)
		if err == nil {
			*work += 1 << c
		}
		return compare(hash, pw)
	}
	return work
}

// TestVerifyWorkSameForEveryUser: a failed check costs the same bcrypt
// work for an unknown user as for a known one, whatever the cost of the
// known user's hash, so a user name cannot be told by timing (issue 20
// item 4). Work is counted, not timed.
func TestVerifyWorkSameForEveryUser(t *testing.T) {
	ctx := context.Background()
	sets := []struct {
		name   string
		hashes map[string][]byte
		want   int // rounds of every failure
	}{
		// htpasswd -B writes cost 5: an unknown user must cost 5 too.
		{"one cost, as htpasswd -B", map[string][]byte{
			"alice": hashAt(t, "a-pw", 5),
			"yann":  []byte(strings.Replace(string(hashAt(t, "y-pw", 5)), "$2a$", "$2y$", 1)),
		}, 1 << 5},
		// Mixed costs: every failure pays the highest.
		{"mixed costs", map[string][]byte{
			"alice": hashAt(t, "a-pw", 4),
			"bob":   hashAt(t, "b-pw", 6),
			"carol": hashAt(t, "c-pw", 5),
		}, 1 << 6},
	}
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			u := New(set.hashes, time.Minute)
			work := countWork(u)
			// A cached right password must not make a wrong one cheaper.
			if ok, _ := u.Verify(ctx, "alice", "a-pw"); !ok {
				t.Fatal("alice's right password refused")
			}
			tries := []struct{ user, pw string }{
				{"nobody", "x"},
				{"nobody", ""},
				{"nobody", strings.Repeat("p", 100)}, // past bcrypt's 72 bytes
				{"alice", "wrong"},                   // cached with her right password
				{"alice", ""},
				{"alice", strings.Repeat("p", 100)},
			}
			for name := range set.hashes {
				tries = append(tries, struct{ user, pw string }{name, "wrong"})
			}
			for _, tr := range tries {
				*work = 0
				if ok, err := u.Verify(ctx, tr.user, tr.pw); ok || err != nil {
					t.Fatalf("Verify(%q, %q) = %v, %v", tr.user, tr.pw, ok, err)
				}
				if *work != set.want {
					t.Errorf("Verify(%q, wrong password) did %d rounds of bcrypt, want %d", tr.user, *work, set.want)
				}
			}
		})
	}
}

// TestDummyHashes: the dummies are well-formed hashes of their cost that
// no password matches.
func TestDummyHashes(t *testing.T) {
	for c := bcrypt.MinCost; c <= bcrypt.MaxCost; c++ {
		if got, err := bcrypt.Cost(dummyHash(c)); err != nil || got != c || CheckHash(string(dummyHash(c))) != nil {
			t.Fatalf("dummy of cost %d: cost %d, %v", c, got, err)
		}
	}
	if bcrypt.CompareHashAndPassword(dummyHash(bcrypt.MinCost), nil) == nil {
		t.Fatal("the empty password matches the dummy")
	}
}

func TestCosts(t *testing.T) {
	u := New(map[string][]byte{"a": hashAt(t, "x", 4), "b": hashAt(t, "y", 6)}, 0)
	if lo, hi := u.Costs(); lo != 4 || hi != 6 {
		t.Fatalf("Costs() = %d, %d", lo, hi)
	}
	if lo, hi := New(nil, 0).Costs(); lo != bcrypt.DefaultCost || hi != bcrypt.DefaultCost {
		t.Fatalf("no users: Costs() = %d, %d", lo, hi)
	}
}

func TestCached(t *testing.T) {
	u := New(map[string][]byte{"alice": hashAt(t, "pw", 4)}, time.Minute)
	ctx := context.Background()
	if u.Cached("alice", "pw") {
		t.Fatal("cached before any check")
	}
	u.Verify(ctx, "alice", "pw")
	if !u.Cached("alice", "pw") || u.Cached("alice", "other") || u.Cached("bob", "pw") {
		t.Fatal("Cached does not answer for exactly the verified pair")
	}
}

package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Users is a set of users and their bcrypt hashes. It is immutable but for
// its cache, safe for concurrent use; a reload builds a new one (so a
// changed password is never served from an old cache).
type Users struct {
	hashes   map[string][]byte
	maxCost  int // the highest bcrypt cost of hashes: every failed check costs this much
	minCost  int
	throttle Throttle
	cache    *cache
	// sem bounds concurrent bcrypt checks to the CPUs: a flood of wrong
	// passwords queues here instead of starving the relays.
	sem chan struct{}
	// compare is bcrypt.CompareHashAndPassword; tests count its work.
	compare func(hash, password []byte) error
}

// Load builds the users of cfg: the htpasswd file (path resolved by the
// caller) and the inline users. A user in both is an error.
func Load(cfg Config, htpasswdPath string) (*Users, error) {
	hashes := map[string][]byte{}
	if htpasswdPath != "" {
		f, err := os.Open(htpasswdPath)
		if err != nil {
			return nil, err
		}
		hashes, err = ParseHtpasswd(htpasswdPath, f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	for i, u := range cfg.Users {
		if _, dup := hashes[u.Name]; dup {
			return nil, fmt.Errorf("auth.user[%d]: user %q defined twice", i, u.Name)
		}
		if err := CheckHash(u.Bcrypt); err != nil {
			return nil, fmt.Errorf("auth.user[%d]: user %q: %v", i, u.Name, err)
		}
		hashes[u.Name] = []byte(u.Bcrypt)
	}
	u := New(hashes, cfg.CacheTTL)
	u.throttle = cfg.Throttle
	return u, nil
}

// New returns Users over name → bcrypt hash, remembering successful
// checks for ttl (0: not at all), with no throttle.
func New(hashes map[string][]byte, ttl time.Duration) *Users {
	u := &Users{
		hashes:  hashes,
		cache:   newCache(ttl, cacheSize),
		sem:     make(chan struct{}, runtime.GOMAXPROCS(0)),
		compare: bcrypt.CompareHashAndPassword,
	}
	for _, h := range hashes {
		c, err := bcrypt.Cost(h)
		if err != nil {
			continue // Load refuses such a hash; a check of it does the full dummy work
		}
		if u.maxCost == 0 || c > u.maxCost {
			u.maxCost = c
		}
		if u.minCost == 0 || c < u.minCost {
			u.minCost = c
		}
	}
	if u.maxCost == 0 {
		u.minCost, u.maxCost = bcrypt.DefaultCost, bcrypt.DefaultCost
	}
	return u
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.hashes) }

// Has reports whether name is a user.
func (u *Users) Has(name string) bool {
	_, ok := u.hashes[name]
	return ok
}

// Costs are the lowest and highest bcrypt cost of the users' hashes
// (bcrypt.DefaultCost for none). When they differ, every failed check
// pays the highest (see Verify): rehashing at one cost saves that.
func (u *Users) Costs() (lowest, highest int) { return u.minCost, u.maxCost }

// Throttle is the [auth.throttle] the users were loaded with.
func (u *Users) Throttle() Throttle { return u.throttle }

// Cached reports whether user:password was verified within the cache TTL.
// It costs an HMAC, no bcrypt: the engine asks it before its limiter.
func (u *Users) Cached(user, password string) bool {
	return u.cache.hit(u.cache.key(user, password))
}

// Verify reports whether password is user's. The error is only ctx's,
// when it ends while waiting for a bcrypt slot.
//
// A failure costs the same bcrypt work whoever the user is, known or
// not, and whatever the cost of the user's hash, so that timing tells no
// user name apart (issue 20 item 4): 2^maxCost rounds, the cost of the
// dearest hash. An unknown user is compared against a dummy hash of that
// cost; a known user whose hash is cheaper, after the compare fails,
// against dummies of costs c, c+1, ..., maxCost-1, which add up to the
// rest (2^c + 2^c + 2^(c+1) + ... + 2^(maxCost-1) = 2^maxCost). A success
// is answered at once: it tells the client nothing the answer does not.
func (u *Users) Verify(ctx context.Context, user, password string) (bool, error) {
	key := u.cache.key(user, password)
	if u.cache.hit(key) {
		return true, nil
	}
	hash, known := u.hashes[user]
	select {
	case u.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-u.sem }()
	pw := []byte(password)
	if !known {
		u.compare(dummyHash(u.maxCost), pw)
		return false, nil
	}
	if u.compare(hash, pw) == nil {
		u.cache.add(key)
		return true, nil
	}
	from, err := bcrypt.Cost(hash)
	if err != nil {
		u.compare(dummyHash(u.maxCost), pw) // the compare failed before any work
		return false, nil
	}
	for c := from; c < u.maxCost; c++ {
		u.compare(dummyHash(c), pw)
	}
	return false, nil
}

// dummyHashes[c] is a well-formed bcrypt hash of cost c that no password
// matches: the salt and digest are fixed bytes, so building one costs no
// bcrypt (CompareHashAndPassword does the full work of its cost and then
// finds the digest differs).
var dummyHashes = func() (h [bcrypt.MaxCost + 1][]byte) {
	for c := bcrypt.MinCost; c <= bcrypt.MaxCost; c++ {
		h[c] = fmt.Appendf(nil, "$2a$%02d$zDCw9ouuT4nsrgFqnA2Wn.DIMma.PzUPqb4jfqd0RcPuzHEvw6Lzi", c)
	}
	return h
}()

func dummyHash(cost int) []byte { return dummyHashes[cost] }

// cacheSize bounds the verified-credentials cache: past it, expired
// entries go first, then arbitrary ones. 4096 entries is about 300 KiB.
const cacheSize = 4096

// cache remembers recently verified user:password pairs by an HMAC of the
// pair under a key made at start, never the password itself.
type cache struct {
	ttl    time.Duration
	max    int
	secret [32]byte
	now    func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]time.Time // → expiry
}

func newCache(ttl time.Duration, max int) *cache {
	c := &cache{ttl: ttl, max: max, now: time.Now, entries: map[[32]byte]time.Time{}}
	rand.Read(c.secret[:])
	return c
}

func (c *cache) key(user, password string) [32]byte {
	// The user's length first, so no two pairs write the same bytes.
	m := hmac.New(sha256.New, c.secret[:])
	m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(user))))
	m.Write([]byte(user))
	m.Write([]byte(password))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

func (c *cache) hit(k [32]byte) bool {
	if c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[k]
	if ok && c.now().Before(exp) {
		return true
	}
	if ok {
		delete(c.entries, k)
	}
	return false
}

func (c *cache) add(k [32]byte) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= c.max {
		for k, exp := range c.entries {
			if !now.Before(exp) {
				delete(c.entries, k)
			}
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.max {
			break
		}
		delete(c.entries, k)
	}
	c.entries[k] = now.Add(c.ttl)
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

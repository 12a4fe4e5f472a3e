package cache

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Cache is a shared HTTP cache (RFC 9111) over a memory and a disk store.
// Transport puts it in front of an http.RoundTripper.
type Cache struct {
	cfg       Config
	now       func() time.Time
	mem       *memStore  // nil when off
	disk      *diskStore // nil when off
	memLimit  int64      // largest body the memory store takes
	maxObject int64      // largest body stored at all

	mu      sync.Mutex
	flights map[string]*flight        // primary key → the fetch others wait on
	fills   map[string]map[*fill]bool // primary key → bodies being stored
	wg      sync.WaitGroup            // background disk writes and revalidations

	revalidating map[string]bool    // variant ids revalidated in the background; under mu
	closing      context.Context    // done once Close is called: background work stops
	close        context.CancelFunc // ends closing

	joinHook func(following bool) // tests: called after each join of a flight
}

// New opens the stores cfg describes. The disk store's index is rebuilt
// from its directory, dropping entries that fail their checks.
func New(cfg Config) (*Cache, error) {
	if cfg.MaxObjectSize <= 0 {
		cfg.MaxObjectSize = DefaultMaxObjectSize
	}
	if cfg.CollapseWaiters <= 0 {
		cfg.CollapseWaiters = 64
	}
	if cfg.CollapseWait <= 0 {
		cfg.CollapseWait = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnError == nil {
		cfg.OnError = func(string, error) {}
	}
	c := &Cache{cfg: cfg, now: cfg.Now, flights: map[string]*flight{}, fills: map[string]map[*fill]bool{},
		revalidating: map[string]bool{}}
	c.closing, c.close = context.WithCancel(context.Background())
	if cfg.MemoryBytes > 0 {
		c.mem = newMemStore(cfg.MemoryBytes)
		// One object may take an eighth of the memory store, so a few
		// large bodies cannot flush all the small hot ones.
		c.memLimit = min(cfg.MaxObjectSize, cfg.MemoryBytes/8)
	}
	c.maxObject = c.memLimit
	if cfg.DiskDir != "" {
		if cfg.DiskBytes <= 0 {
			return nil, errors.New("cache: disk_bytes must be positive with disk_dir")
		}
		d, err := openDisk(cfg.DiskDir, cfg.DiskBytes, cfg.OnError)
		if err != nil {
			return nil, err
		}
		c.disk = d
		c.maxObject = min(cfg.MaxObjectSize, cfg.DiskBytes)
	}
	if c.mem == nil && c.disk == nil {
		return nil, errors.New("cache: neither a memory nor a disk store configured")
	}
	return c, nil
}

// Sync waits for the disk writes (commits of stored responses, rewrites
// after a 304) and background revalidations under way, so that what was
// stored is on disk.
func (c *Cache) Sync() { c.wg.Wait() }

// Close cancels the background revalidations and waits for them and the
// disk writes under way. The cache is not used after.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.close() // under mu: no revalidation starts once Close waits
	c.mu.Unlock()
	c.Sync()
	return nil
}

func (c *Cache) warn(op string, err error) { c.cfg.OnError(op, err) }

func (c *Cache) background(fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// Stats are the stores' contents.
type Stats struct {
	MemoryObjects int
	MemoryBytes   int64
	DiskObjects   int
	DiskBytes     int64
}

// Stats reports what the stores hold now.
func (c *Cache) Stats() Stats {
	var s Stats
	if c.mem != nil {
		s.MemoryObjects, s.MemoryBytes = c.mem.usage()
	}
	if c.disk != nil {
		s.DiskObjects, s.DiskBytes = c.disk.usage()
	}
	return s
}

// lookup finds the stored responses that req, going out by route,
// selects (§4.1): the most recent complete variant of that route whose
// Vary fields match, and the most recent partial one (§3.3), which may
// answer only a range it holds. found reports whether the URI had any
// variant, of any route, to tell a vary-miss from a uri-miss.
func (c *Cache) lookup(req *http.Request, route string) (o, p *object, found bool) {
	key := primaryKey(http.MethodGet, req.URL)
	if c.mem != nil {
		objs := c.mem.variants(key)
		found = len(objs) > 0
		o, p = newest(objs, req, route, false), newest(objs, req, route, true)
		for _, hit := range []*object{o, p} {
			if hit != nil {
				c.mem.touch(hit.id)
				if c.disk != nil {
					c.disk.touch(hit.id) // hot in memory is hot on disk too
				}
			}
		}
		if o != nil {
			return o, p, true
		}
	}
	if c.disk == nil {
		return nil, p, found
	}
	var objs []*object
	for _, id := range c.disk.variants(key) {
		found = true
		if c.mem != nil && c.mem.has(id) {
			continue // seen above
		}
		if d, err := c.disk.load(id); err == nil {
			objs = append(objs, d)
		}
	}
	if p == nil {
		p = newest(objs, req, route, true)
	}
	return newest(objs, req, route, false), p, found
}

// newest is the stored response req selects among objs, complete or
// partial: of those fetched by route whose Vary fields match, "the most
// recent one (as determined by the Date header field)" (§4), the one
// received last if two have the same Date.
func newest(objs []*object, req *http.Request, route string, partial bool) *object {
	var best *object
	var bestDate time.Time
	for _, o := range objs {
		if o.partial != partial || o.Route != route || !o.varyMatch(req.Header) {
			continue
		}
		d := dateOf(o.Header, o.RespTime)
		if best == nil || d.After(bestDate) || d.Equal(bestDate) && o.RespTime.After(best.RespTime) {
			best, bestDate = o, d
		}
	}
	return best
}

// Purge removes every stored response for the URI u, and stops any being
// stored now. It reports how many there were.
func (c *Cache) Purge(u *url.URL) int { return c.invalidate(u) }

// invalidate is §4.4: after an unsafe request, or a PURGE. In-flight fills
// are cancelled first and the stores emptied after, disk before memory,
// so no commit or promotion racing with it can bring an entry back.
func (c *Cache) invalidate(u *url.URL) int {
	key := primaryKey(http.MethodGet, u)
	c.mu.Lock()
	for f := range c.fills[key] {
		f.cancelled.Store(true)
	}
	c.mu.Unlock()
	ids := map[string]bool{}
	if c.disk != nil {
		for _, id := range c.disk.variants(key) {
			ids[id] = c.disk.remove(id)
		}
	}
	if c.mem != nil {
		for _, o := range c.mem.variants(key) {
			c.mem.remove(o.id)
			ids[o.id] = true
		}
	}
	return len(ids)
}

func (c *Cache) track(f *fill) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.fills[f.obj.Key]
	if m == nil {
		m = map[*fill]bool{}
		c.fills[f.obj.Key] = m
	}
	m[f] = true
}

// untrack is the end of a fill: it leaves the set invalidations cancel
// and, if it was a collapsed fetch, the flight ends with it.
func (c *Cache) untrack(f *fill) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.fills[f.obj.Key]; m != nil {
		delete(m, f)
		if len(m) == 0 {
			delete(c.fills, f.obj.Key)
		}
	}
	if fl := f.flight; fl != nil && c.flights[fl.key] == fl {
		delete(c.flights, fl.key)
	}
}

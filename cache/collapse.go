package cache

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// flight is one origin fetch that concurrent misses of the same URI wait
// on instead of each asking the origin. The leader publishes its response
// head; followers then read the body from the leader's fill as it grows.
type flight struct {
	key     string
	ready   chan struct{} // closed by publish
	obj     *object       // the leader's response; nil: fetch yourself
	fill    *fill         // its body as it is stored
	waiters int           // followers waiting for ready; guarded by Cache.mu
}

// join returns the flight for key. The first caller leads it (leader
// true) and must publish; later ones follow, up to CollapseWaiters, past
// which join returns nil and the caller fetches on its own.
func (c *Cache) join(key string) (f *flight, leader bool) {
	c.mu.Lock()
	f = c.flights[key]
	switch {
	case f == nil:
		f, leader = &flight{key: key, ready: make(chan struct{})}, true
		c.flights[key] = f
	case f.waiters >= c.cfg.CollapseWaiters:
		f = nil
	default:
		f.waiters++
	}
	hook := c.joinHook
	c.mu.Unlock()
	if hook != nil {
		hook(f != nil && !leader)
	}
	return f, leader
}

// publish hands the leader's response to the followers. With a fill, the
// flight lasts until the fill ends (so later misses join it and stream
// too); without one it ends now and the followers fetch for themselves.
func (c *Cache) publish(f *flight, o *object, fl *fill) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.obj, f.fill = o, fl
	if fl != nil {
		fl.flight = f
	} else if c.flights[f.key] == f {
		delete(c.flights, f.key)
	}
	close(f.ready)
}

func (c *Cache) leave(f *flight) {
	c.mu.Lock()
	f.waiters--
	c.mu.Unlock()
}

// follow waits for f's leader and answers req from its response. It
// returns neither response nor error when req must be fetched on its own:
// the wait timed out, the response cannot be shared, or it does not suit
// req.
func (t *Transport) follow(req *http.Request, reqCC Directives, f *flight, fwd string) (*http.Response, error) {
	c := t.Cache
	timer := time.NewTimer(c.cfg.CollapseWait)
	defer timer.Stop()
	select {
	case <-f.ready:
	case <-timer.C:
		c.leave(f)
		return nil, nil
	case <-req.Context().Done():
		c.leave(f)
		return nil, context.Cause(req.Context())
	}
	c.leave(f)
	o := f.obj
	if o == nil || !o.varyMatch(req.Header) || !t.allowed(req, o) || c.usable(o, reqCC, c.now()) != "" {
		return nil, nil
	}
	body := f.fill.reader(req.Context())
	if body == nil {
		return nil, nil
	}
	status := "fwd=" + fwd + "; fwd-status=" + strconv.Itoa(o.Status) + "; collapsed"
	return t.respond(req, o, part{status: o.Status, n: o.size}, body, status), nil
}

// collapsible reports whether req may share an origin fetch: a plain GET
// for the whole response, that no credentials could make personal and no
// precondition of the origin's (originPreconditions) could make fail.
func collapsible(req *http.Request) bool {
	return req.Method == http.MethodGet && !has(req.Header, "Authorization") && !has(req.Header, "Range") &&
		!originPreconditions(req)
}

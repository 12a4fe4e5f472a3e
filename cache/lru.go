package cache

import (
	"container/list"
	"slices"
)

// maxVariants bounds the variants kept per primary key, so a Vary on a
// field with many values (User-Agent, say) cannot make every lookup of
// that URI walk a long list.
const maxVariants = 16

// lru is the index both stores keep: entries by id in recency order, the
// ids of each primary key, and bytes used against a budget. It is not
// safe for concurrent use; each store guards its own.
type lru[T any] struct {
	budget int64
	used   int64
	ll     list.List // of *lruItem[T], most recent at the front
	items  map[string]*list.Element
	byKey  map[string][]string // primary key → ids, oldest first
}

type lruItem[T any] struct {
	id, key string
	size    int64
	val     T
}

func newLRU[T any](budget int64) *lru[T] {
	return &lru[T]{budget: budget, items: map[string]*list.Element{}, byKey: map[string][]string{}}
}

// get returns the entry id and marks it used.
func (l *lru[T]) get(id string) (*lruItem[T], bool) {
	e, ok := l.items[id]
	if !ok {
		return nil, false
	}
	l.ll.MoveToFront(e)
	return e.Value.(*lruItem[T]), true
}

// ids lists the variants of key, oldest first.
func (l *lru[T]) ids(key string) []string { return slices.Clone(l.byKey[key]) }

// add inserts or replaces id and returns what had to go to make room:
// least recently used entries past the budget, and the oldest variant of
// key past maxVariants. An entry larger than the whole budget is refused
// (ok false) and nothing is evicted for it.
func (l *lru[T]) add(id, key string, size int64, val T) (evicted []*lruItem[T], ok bool) {
	if size > l.budget {
		return nil, false
	}
	l.remove(id) // replaced, not evicted: the caller has overwritten it already
	it := &lruItem[T]{id: id, key: key, size: size, val: val}
	l.items[id] = l.ll.PushFront(it)
	l.used += size
	l.byKey[key] = append(l.byKey[key], id)
	if ids := l.byKey[key]; len(ids) > maxVariants {
		if old, had := l.remove(ids[0]); had {
			evicted = append(evicted, old)
		}
	}
	for l.used > l.budget {
		back := l.ll.Back()
		old, _ := l.remove(back.Value.(*lruItem[T]).id)
		evicted = append(evicted, old)
	}
	return evicted, true
}

// remove drops id.
func (l *lru[T]) remove(id string) (*lruItem[T], bool) {
	e, ok := l.items[id]
	if !ok {
		return nil, false
	}
	it := l.ll.Remove(e).(*lruItem[T])
	delete(l.items, id)
	l.used -= it.size
	ids := slices.DeleteFunc(l.byKey[it.key], func(s string) bool { return s == id })
	if len(ids) == 0 {
		delete(l.byKey, it.key)
	} else {
		l.byKey[it.key] = ids
	}
	return it, true
}

func (l *lru[T]) len() int { return len(l.items) }

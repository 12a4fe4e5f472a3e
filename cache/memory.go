package cache

import "sync"

// memStore keeps whole objects in memory, least recently used first out
// when the byte budget is passed. With a disk store it holds the hot part
// of it; without one it is the whole cache.
type memStore struct {
	mu  sync.Mutex
	idx *lru[*object]
}

func newMemStore(budget int64) *memStore { return &memStore{idx: newLRU[*object](budget)} }

// variants returns the objects stored under key.
func (m *memStore) variants(key string) []*object {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := m.idx.byKey[key]
	objs := make([]*object, 0, len(ids))
	for _, id := range ids {
		objs = append(objs, m.idx.items[id].Value.(*lruItem[*object]).val)
	}
	return objs
}

// touch marks id as just used.
func (m *memStore) touch(id string) {
	m.mu.Lock()
	m.idx.get(id)
	m.mu.Unlock()
}

// put stores o unless keep says no any more: keep runs under the store's
// lock, so an invalidation that ran before it is not undone by this put.
func (m *memStore) put(o *object, keep func() bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if keep != nil && !keep() {
		return
	}
	m.idx.add(o.id, o.Key, o.memSize(), o)
}

// replace swaps in o, a 304 update of old, if old is still the stored
// version of that variant.
func (m *memStore) replace(old, o *object) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if it, ok := m.idx.items[old.id]; ok && it.Value.(*lruItem[*object]).val == old {
		m.idx.add(o.id, o.Key, o.memSize(), o)
	}
}

// get returns the object stored as id, or nil.
func (m *memStore) get(id string) *object {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.idx.items[id]; ok {
		return e.Value.(*lruItem[*object]).val
	}
	return nil
}

func (m *memStore) remove(id string) {
	m.mu.Lock()
	m.idx.remove(id)
	m.mu.Unlock()
}

func (m *memStore) has(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.idx.items[id]
	return ok
}

// usage reports the objects held and the bytes charged for them.
func (m *memStore) usage() (n int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.idx.len(), m.idx.used
}

package acl

import (
	"hash/maphash"
)

// DomainSet is a set of domain patterns (a name, a name and everything
// below it, or only what is below it) with lookups whose cost depends on
// the number of labels in the name asked about, not on the set's size:
// one hash probe per label suffix.
//
// It is an open-addressing table over one byte slice rather than a
// map[string]uint8: a million-entry block list then holds about 43 MiB of
// heap instead of about 81 (measured by BenchmarkDomainSetLoad).
// A DomainSet is immutable once built and safe for concurrent lookups.
type DomainSet struct {
	seed  maphash.Seed
	data  []byte   // entries back to back: kind, len, name bytes
	slots []uint64 // 0: empty; else tag<<32 | offset+1 into data
	n     int
}

// maxLoad is the fill (in 1/8) past which the table doubles; at ≤ 1/2 a
// miss, the common case for a block list, ends within a probe or two.
const maxLoad = 4

// NewDomainSet returns an empty set sized for about n entries.
func NewDomainSet(n int) *DomainSet {
	size := 8
	for size*maxLoad/8 < n {
		size *= 2
	}
	return &DomainSet{seed: maphash.MakeSeed(), slots: make([]uint64, size)}
}

// Len is the number of distinct names in the set.
func (s *DomainSet) Len() int { return s.n }

// Bytes is the memory the set holds, for logs.
func (s *DomainSet) Bytes() int { return cap(s.data) + 8*cap(s.slots) }

func (s *DomainSet) hash(name string) uint64 { return maphash.String(s.seed, name) }

// find returns the slot index holding name, or the empty slot where it
// would go, and whether it is there.
func (s *DomainSet) find(name string, h uint64) (int, bool) {
	mask := len(s.slots) - 1
	tag := h >> 32
	for i := int(h) & mask; ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			return i, false
		}
		if v>>32 == tag {
			off := int(uint32(v)) - 1
			l := int(s.data[off+1])
			if l == len(name) && string(s.data[off+2:off+2+l]) == name {
				return i, true
			}
		}
	}
}

// add inserts a normalized name with its kind; a name added twice keeps
// both kinds.
func (s *DomainSet) add(name string, kind uint8) {
	h := s.hash(name)
	i, ok := s.find(name, h)
	if ok {
		s.data[int(uint32(s.slots[i]))-1] |= kind
		return
	}
	if (s.n+1)*8 > len(s.slots)*maxLoad {
		s.grow()
		i, _ = s.find(name, h)
	}
	off := len(s.data)
	s.data = append(s.data, kind, byte(len(name)))
	s.data = append(s.data, name...)
	s.slots[i] = (h>>32)<<32 | uint64(off+1)
	s.n++
}

func (s *DomainSet) grow() {
	old := s.slots
	s.slots = make([]uint64, 2*len(old))
	mask := len(s.slots) - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		off := int(uint32(v)) - 1
		l := int(s.data[off+1])
		h := s.hash(string(s.data[off+2 : off+2+l]))
		i := int(h) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = v
	}
}

// trim gives back the append slack of data once loading is done.
func (s *DomainSet) trim() {
	if cap(s.data)-len(s.data) > 4096 {
		s.data = append([]byte(nil), s.data...)
	}
}

func (s *DomainSet) kind(name string) uint8 {
	i, ok := s.find(name, s.hash(name))
	if !ok {
		return 0
	}
	return s.data[int(uint32(s.slots[i]))-1]
}

// Contains reports whether host (normalized, as in Query.Host) is covered
// by a pattern in the set: itself, or a name above it that covers names
// below.
func (s *DomainSet) Contains(host string) bool {
	if host == "" || s.n == 0 {
		return false
	}
	if s.kind(host)&matchExact != 0 {
		return true
	}
	for i := 0; i < len(host); i++ {
		if host[i] == '.' && s.kind(host[i+1:])&matchSubs != 0 {
			return true
		}
	}
	return false
}

// each calls f with every name in the set and its kind, for tests.
func (s *DomainSet) each(f func(name string, kind uint8)) {
	for off := 0; off < len(s.data); off += 2 + int(s.data[off+1]) {
		f(string(s.data[off+2:off+2+int(s.data[off+1])]), s.data[off])
	}
}

package acl

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// genName is the i-th name of a generated list: shaped like real block
// list entries (two to four labels, 15-30 bytes).
func genName(i int) string {
	switch i % 3 {
	case 0:
		return "ads" + strconv.Itoa(i) + ".tracker-example.com"
	case 1:
		return "px.c" + strconv.Itoa(i) + ".metrics.example.net"
	}
	return "s" + strconv.Itoa(i) + ".example.org"
}

const listSize = 1_000_000

func writeList(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "list.txt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range listSize {
		switch i % 4 {
		case 0:
			fmt.Fprintf(w, "0.0.0.0 %s\n", genName(i))
		case 1:
			fmt.Fprintf(w, "||%s^\n", genName(i))
		default:
			fmt.Fprintf(w, "%s\n", genName(i))
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkDomainSetLoad loads a generated 1,000,000-entry list (a mix of
// plain, hosts and AdBlock lines) and reports the heap it holds, next to
// a map[string]uint8 of the same names as the baseline.
func BenchmarkDomainSetLoad(b *testing.B) {
	path := writeList(b)
	b.Run("domainset", func(b *testing.B) {
		var s *DomainSet
		for b.Loop() {
			s = nil
			before := heapInUse()
			var st ListStats
			var err error
			s, st, err = LoadList(path)
			if err != nil || st.Entries != listSize {
				b.Fatalf("%v %+v", err, st)
			}
			b.ReportMetric(float64(heapInUse()-before)/(1<<20), "MiB")
		}
		runtime.KeepAlive(s)
	})
	b.Run("map-baseline", func(b *testing.B) {
		var m map[string]uint8
		for b.Loop() {
			m = nil
			before := heapInUse()
			m = make(map[string]uint8)
			for i := range listSize {
				m[genName(i)] = matchSubtree
			}
			b.ReportMetric(float64(heapInUse()-before)/(1<<20), "MiB")
		}
		runtime.KeepAlive(m)
	})
}

// BenchmarkDomainSetContains looks names up in the 1,000,000-entry set:
// hits on a name, hits below a listed name, and misses (the common case),
// next to a plain map lookup of the whole name as the baseline.
func BenchmarkDomainSetContains(b *testing.B) {
	s := NewDomainSet(listSize)
	m := make(map[string]uint8, listSize)
	for i := range listSize {
		s.add(genName(i), matchSubtree)
		m[genName(i)] = matchSubtree
	}
	const n = 4096
	hits, below, misses := make([]string, n), make([]string, n), make([]string, n)
	for i := range n {
		j := (i * 7919) % listSize
		hits[i] = genName(j)
		below[i] = "cdn.img." + genName(j)
		misses[i] = "www.n" + strconv.Itoa(j) + ".shop.example.com"
	}
	run := func(name string, names []string, f func(string) bool, want bool) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if f(names[i%n]) != want {
					b.Fatal("wrong answer")
				}
				i++
			}
		})
	}
	mapHas := func(h string) bool { _, ok := m[h]; return ok }
	run("map-baseline-hit", hits, mapHas, true)
	run("hit", hits, s.Contains, true)
	run("hit-below", below, s.Contains, true)
	run("miss", misses, s.Contains, false)
}

// BenchmarkDecide walks policies of growing size to a verdict in the last
// rule, next to AllowAll as the baseline; it allocates nothing.
func BenchmarkDecide(b *testing.B) {
	q := Query{Host: "www.shop.example.com", IP: ip("192.0.2.1"), Port: 443, Proto: "connect",
		Method: "CONNECT", Client: ip("10.0.0.1"), Time: time.Now()}
	b.Run("allowall-baseline", func(b *testing.B) {
		b.ReportAllocs()
		var d Decider = AllowAll{}
		for b.Loop() {
			d.Decide(&q)
		}
	})
	for _, n := range []int{10, 1000, 1_000_000} {
		rules := make([]RuleConfig, n)
		for i := range rules {
			rules[i] = RuleConfig{Name: "r" + strconv.Itoa(i), Action: "deny",
				Match: Match{Domain: Values{"." + genName(i)}, Port: Values{"443"}}}
		}
		rules[n-1] = RuleConfig{Name: "last", Action: "allow", Match: Match{IP: Values{"192.0.2.0/24"}}}
		p := mustCompile(b, Config{Rules: rules}, Env{})
		b.Run(fmt.Sprintf("rules-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v := p.Decide(&q); v.Rule != "last" {
					b.Fatal(v)
				}
			}
		})
	}
}

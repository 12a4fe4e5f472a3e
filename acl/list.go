package acl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// ListStats is what loading a block list found.
type ListStats struct {
	Entries      int // names added
	Skipped      int // lines (or hosts-file names) not understood, left out
	FirstSkipped int // line number of the first skipped line, 0 if none
}

// maxListLine bounds one line of a list; longer lines are skipped.
const maxListLine = 4096

// LoadList reads a block list file into a DomainSet. See ParseList.
func LoadList(path string) (*DomainSet, ListStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, ListStats{}, err
	}
	defer f.Close()
	hint := 1024
	if fi, err := f.Stat(); err == nil {
		// Real lists run 20-40 bytes a line; guess low and let it grow
		// rather than hold a table twice the size needed.
		hint = int(fi.Size() / 40)
	}
	s, st, err := parseList(f, hint)
	if err != nil {
		return nil, st, fmt.Errorf("%s: %w", path, err)
	}
	return s, st, nil
}

// ParseList reads a block list. Each line is one of, told apart line by
// line so that a file may mix them:
//
//   - a domain: "ads.example" blocks it and every name below it; the rule
//     forms ".ads.example" and "*.ads.example" work too;
//   - a hosts-file line: "0.0.0.0 ads.example tracker.example" blocks each
//     name exactly (a hosts file lists names, not trees); localhost and
//     its kin are left out;
//   - an AdBlock domain rule: "||ads.example^" (optionally "$important" or
//     "$all") blocks the name and every name below it.
//
// Blank lines and comments ("#", and AdBlock's "!" and "[...]" headers)
// are ignored; anything else (AdBlock rules with paths, wildcards,
// exceptions "@@", or narrowing options such as "$third-party") is
// skipped and counted in ListStats.Skipped, since blocking the whole
// domain for them would block more than the list means.
func ParseList(r io.Reader) (*DomainSet, ListStats, error) {
	return parseList(r, 1024)
}

func parseList(r io.Reader, hint int) (*DomainSet, ListStats, error) {
	s := NewDomainSet(hint)
	var st ListStats
	br := bufio.NewReaderSize(r, 64<<10)
	skip := func(line int) {
		st.Skipped++
		if st.FirstSkipped == 0 {
			st.FirstSkipped = line
		}
	}
	for n := 1; ; n++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || len(b) > maxListLine {
			skip(n)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
		} else if len(b) > 0 {
			added, skipped := parseListLine(s, b)
			st.Entries += added
			if skipped {
				skip(n)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, st, err
		}
	}
	s.trim()
	return s, st, nil
}

// parseListLine adds the names on one line to s. It reports how many were
// added and whether something on the line was not understood.
func parseListLine(s *DomainSet, b []byte) (added int, skipped bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0, false
	}
	switch b[0] {
	case '#', '!', '[':
		return 0, false
	}
	if bytes.HasPrefix(b, []byte("||")) {
		name, ok := adblockDomain(string(b[2:]))
		if !ok {
			return 0, true
		}
		return addPattern(s, name, matchSubtree)
	}
	if i := bytes.IndexByte(b, '#'); i >= 0 {
		b = bytes.TrimSpace(b[:i])
	}
	first, rest, hasRest := bytes.Cut(b, []byte{' '})
	if !hasRest {
		first, rest, hasRest = bytes.Cut(b, []byte{'\t'})
	}
	if !hasRest {
		return addPattern(s, string(first), matchSubtree)
	}
	if _, err := netip.ParseAddr(string(first)); err != nil {
		return 0, true
	}
	// A hosts-file line: an address, then names.
	for _, f := range bytes.Fields(rest) {
		if hostsBoilerplate[string(f)] {
			continue
		}
		a, sk := addPattern(s, string(f), matchExact)
		added += a
		skipped = skipped || sk
	}
	return added, skipped
}

func addPattern(s *DomainSet, p string, plain uint8) (int, bool) {
	name, kind, err := parseDomainPattern(p, plain)
	if err != nil {
		return 0, true
	}
	s.add(name, kind)
	return 1, false
}

// adblockDomain reads the rest of "||name^[$options]": only whole-domain
// rules, whose options do not narrow what they block.
func adblockDomain(rule string) (string, bool) {
	name, after, ok := strings.Cut(rule, "^")
	if !ok || name == "" {
		return "", false
	}
	if after != "" {
		opts, ok := strings.CutPrefix(after, "$")
		if !ok {
			return "", false
		}
		for _, o := range strings.Split(opts, ",") {
			if o != "important" && o != "all" {
				return "", false
			}
		}
	}
	return name, true
}

// hostsBoilerplate are the names hosts files map to themselves; blocking
// them would say nothing (and they are loopback, denied by address anyway).
var hostsBoilerplate = map[string]bool{
	"localhost": true, "localhost.localdomain": true, "local": true,
	"broadcasthost": true, "ip6-localhost": true, "ip6-loopback": true,
	"ip6-localnet": true, "ip6-mcastprefix": true, "ip6-allnodes": true,
	"ip6-allrouters": true, "ip6-allhosts": true, "0.0.0.0": true,
}

package config

import (
	"regexp"
	"strconv"
	"strings"
)

// lineIndex maps key paths to the line that sets them, so that errors
// found after decoding (unknown keys, bad values) can name a line.
// Paths are indexed twice: with array-of-table indices
// (listener[1].address) and without (listener.address, first occurrence).
type lineIndex map[string]int

var (
	tableRE = regexp.MustCompile(`^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$`)
	arrayRE = regexp.MustCompile(`^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$`)
	keyRE   = regexp.MustCompile(`^\s*([A-Za-z0-9_\-."' ]+?)\s*=`)
)

func indexLines(src string) lineIndex {
	idx := lineIndex{}
	counts := map[string]int{}
	prefix, plain := "", ""
	inMulti := ""
	for i, line := range strings.Split(src, "\n") {
		n := i + 1
		if inMulti != "" {
			if strings.Count(line, inMulti)%2 == 1 {
				inMulti = ""
			}
			continue
		}
		if m := arrayRE.FindStringSubmatch(line); m != nil {
			name := unquoteKey(m[1])
			prefix = name + "[" + strconv.Itoa(counts[name]) + "]"
			plain = name
			counts[name]++
			idx.set(prefix, plain, n)
			continue
		}
		if m := tableRE.FindStringSubmatch(line); m != nil {
			prefix = unquoteKey(m[1])
			plain = prefix
			idx.set(prefix, plain, n)
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			k := unquoteKey(m[1])
			idx.set(join(prefix, k), join(plain, k), n)
			for _, q := range []string{`"""`, `'''`} {
				if strings.Count(line, q)%2 == 1 {
					inMulti = q
				}
			}
		}
	}
	return idx
}

func (idx lineIndex) set(full, plain string, n int) {
	if _, ok := idx[full]; !ok {
		idx[full] = n
	}
	if _, ok := idx[plain]; !ok {
		idx[plain] = n
	}
}

// find returns the line of key or of its nearest indexed parent, 0 if none.
func (idx lineIndex) find(key string) int {
	for key != "" {
		if n, ok := idx[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func unquoteKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

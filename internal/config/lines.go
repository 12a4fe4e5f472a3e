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
	// current maps an array of tables (plain path, "reverse.route") to the
	// full path of its latest element ("reverse[1].route[0]"), so nested
	// arrays and sub-tables index under the right parent element.
	current := map[string]string{}
	resolve := func(name string) string {
		parts := strings.Split(name, ".")
		full, plain := "", ""
		for i, p := range parts {
			plain = join(plain, p)
			if f, ok := current[plain]; ok && i < len(parts)-1 {
				full = f
				continue
			}
			full = join(full, p)
		}
		return full
	}
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
			full := resolve(name)
			prefix = full + "[" + strconv.Itoa(counts[full]) + "]"
			plain = name
			counts[full]++
			current[name] = prefix
			idx.set(prefix, plain, n)
			continue
		}
		if m := tableRE.FindStringSubmatch(line); m != nil {
			plain = unquoteKey(m[1])
			prefix = resolve(plain)
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

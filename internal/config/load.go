package config

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Error is a problem at a place in a config file.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted path such as listener[0].address
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		return controls.Replace(fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg))
	}
	return controls.Replace(fmt.Sprintf("%s: %s", loc, e.Msg))
}

// controls escapes the line breaks toml quotes from the input, so that
// Errors stays one problem per line.
var controls = strings.NewReplacer("\n", `\n`, "\r", `\r`)

// Errors is every problem found in one file.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads and validates the file at path, reads the files it names,
// and compiles the rules: what ferry check, start and every reload do.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes data (named name in errors; files it names are relative
// to name's folder) strictly, fills defaults, validates, and builds what
// Load builds. Every problem found is returned, sorted by line, not only
// the first: a value of the wrong type is reported and left out, and the
// rest of the file is still checked.
func Parse(name string, data []byte) (*File, error) {
	f, md, errs := decode(name, string(data))
	if md == nil {
		return nil, errs
	}
	lines := indexLines(string(data))
	report := func(key, msg string) {
		errs = append(errs, &Error{File: name, Line: lines.find(key), Key: key, Msg: msg})
	}
	for _, k := range md.Undecoded() {
		report(k.String(), "unknown key")
	}
	checkDurations(f, md, report)
	if !md.IsDefined("acl") {
		f.ACL, f.ACLFromDefault = defaultACL(), true
	} else {
		f.applyDefaultRules()
	}
	f.Path = name
	f.validate(report)
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *Error) int { return cmp.Compare(lineOrder(a), lineOrder(b)) })
		return nil, errs
	}
	return f, nil
}

// lineOrder sorts problems by line, those without one last.
func lineOrder(e *Error) int {
	if e.Line == 0 {
		return math.MaxInt
	}
	return e.Line
}

// decode decodes src into a File with every default (prefill). A value of
// the wrong type stops the decoder: it is reported, its line is blanked
// and the decode runs again, at most once per line, so that the next one
// is found too. md is nil when the file does not parse as TOML at all.
func decode(name, src string) (*File, *toml.MetaData, Errors) {
	var errs Errors
	lines := strings.Split(src, "\n")
	blanked := map[int]bool{}
	for range len(lines) + 1 {
		text := strings.Join(lines, "\n")
		var raw map[string]any
		if _, err := toml.Decode(text, &raw); err != nil {
			if len(blanked) == 0 {
				errs = append(errs, decodeError(name, err))
			} // else a blanked line broke a value over several lines: stop
			return nil, nil, errs
		}
		f := &File{}
		prefill(reflect.ValueOf(f).Elem(), raw)
		md, err := toml.Decode(text, f)
		if err == nil {
			return f, &md, errs
		}
		e := decodeError(name, err)
		errs = append(errs, e)
		if e.Line < 1 || e.Line > len(lines) || blanked[e.Line] {
			return nil, nil, errs
		}
		blanked[e.Line] = true
		lines[e.Line-1] = ""
	}
	return nil, nil, errs
}

func decodeError(name string, err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: name, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
	}
	var ppe *toml.ParseError
	if errors.As(err, &ppe) {
		return &Error{File: name, Line: ppe.Position.Line, Key: ppe.LastKey, Msg: ppe.Message}
	}
	// Type mismatches come as "toml: line N (last key "k"): msg".
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	line, key := 0, ""
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		n := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if n > 0 {
			line, _ = strconv.Atoi(rest[:n])
			if i := strings.Index(rest, "): "); i >= 0 {
				msg = rest[i+3:]
				if k, ok := strings.CutPrefix(rest[n:i], ` (last key "`); ok {
					key = strings.TrimSuffix(k, `"`)
				}
			}
		}
	}
	return &Error{File: name, Line: line, Key: key, Msg: msg}
}

// checkDurations refuses a bare number where a duration goes: TOML reads
// dial_timeout = 10 into a time.Duration as 10ns. Only a duration string
// is clear.
func checkDurations(f *File, md *toml.MetaData, report func(key, msg string)) {
	paths := map[string]bool{}
	durationPaths(reflect.TypeOf(f).Elem(), "", paths)
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		s := k.String()
		if paths[s] && !seen[s] && md.Type(k...) == "Integer" {
			seen[s] = true
			report(s, `must be a duration string such as "10s", not a bare number`)
		}
	}
}

var durationType = reflect.TypeFor[time.Duration]()

// durationPaths adds the dotted key of every time.Duration in t, array
// elements' without their index (as MetaData.Keys names them).
func durationPaths(t reflect.Type, prefix string, out map[string]bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		ft := sf.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if sf.Anonymous {
			if ft.Kind() == reflect.Struct {
				durationPaths(ft, prefix, out)
			}
			continue
		}
		key, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if !sf.IsExported() || key == "" || key == "-" {
			continue
		}
		switch {
		case ft == durationType:
			out[join(prefix, key)] = true
		case ft.Kind() == reflect.Struct:
			durationPaths(ft, join(prefix, key), out)
		}
	}
}

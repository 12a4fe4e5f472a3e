package config

import (
	"reflect"
	"strings"
)

// defaulter is a config type that knows its defaults: each package's
// Config states them once, in its SetDefaults.
type defaulter interface{ SetDefaults() }

// prefill gives v, before the file is decoded into it, every default:
// each struct that has SetDefaults gets it called, outer ones first, then
// the structs inside (so an outer SetDefaults may leave inner tables to
// their own), and each array of tables gets as many elements as the file
// has (raw, the file decoded into maps), each with its defaults. Decoding
// then sets only the keys the file has, over the same elements (the
// decoder reuses a slice that is long enough), so that a key the file
// leaves out keeps its default, in an array's elements too, and an
// explicit zero stays zero.
func prefill(v reflect.Value, raw map[string]any) {
	if d, ok := v.Addr().Interface().(defaulter); ok {
		d.SetDefaults()
	}
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		fv := v.Field(i)
		if sf.Anonymous {
			if fv.Kind() == reflect.Struct {
				prefill(fv, raw) // its keys are the outer table's
			}
			continue
		}
		key, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if key == "" || key == "-" {
			continue
		}
		sub := raw[key]
		switch {
		case fv.Kind() == reflect.Struct:
			m, _ := sub.(map[string]any)
			prefill(fv, m)
		case fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.Struct:
			// An optional table (a listener's tls): defaults only when the
			// file has it.
			if m, ok := sub.(map[string]any); ok {
				fv.Set(reflect.New(fv.Type().Elem()))
				prefill(fv.Elem(), m)
			}
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			tables := tablesOf(sub)
			if len(tables) == 0 {
				continue
			}
			s := reflect.MakeSlice(fv.Type(), len(tables), len(tables))
			for j, m := range tables {
				prefill(s.Index(j), m)
			}
			fv.Set(s)
		}
	}
}

// tablesOf is the elements of an array of tables ([[x]]) or an inline
// array of inline tables (x = [{...}, {...}]); nil for anything else,
// which the decoder reports.
func tablesOf(v any) []map[string]any {
	switch a := v.(type) {
	case []map[string]any:
		return a
	case []any:
		out := make([]map[string]any, len(a))
		for i, x := range a {
			m, ok := x.(map[string]any)
			if !ok {
				return nil
			}
			out[i] = m
		}
		return out
	}
	return nil
}

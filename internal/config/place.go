package config

import (
	"errors"
	"os"

	"github.com/ferry-proxy/ferry/acl"
)

// At places err at key (a dotted path such as acl.block_page) in the file
// f was loaded from, as Load places its own problems: file:line: key:
// reason. It is for the checks made after loading, when the policy build
// reads the files the config names (htpasswd, domain lists, block page),
// so that start, reload and ferry check report those the same way. An
// acl.Errors is placed key by key, under key. The file is read again to
// find the line (only on this error path, so File carries no index); if
// it cannot be, the line is left out.
func (f *File) At(key string, err error) error {
	if err == nil {
		return nil
	}
	var lines lineIndex
	if data, rerr := os.ReadFile(f.Path); rerr == nil {
		lines = indexLines(string(data))
	}
	var aes acl.Errors
	if errors.As(err, &aes) {
		es := make(Errors, len(aes))
		for i, e := range aes {
			k := key + "." + e.Key
			es[i] = &Error{File: f.Path, Line: lines.find(k), Key: k, Msg: e.Msg}
		}
		return es
	}
	return &Error{File: f.Path, Line: lines.find(key), Key: key, Msg: err.Error()}
}

// Package test runs ferry end to end. TestMain builds ./cmd/ferry once;
// each test starts the real binary with a config file of its own
// (startFerry), drives it with real clients and asserts on its JSON log
// lines. It imports nothing from ferry: only the binary, its flags, its
// config keys and its log schema are tested here.
//
// Reuse for a feature's e2e tests:
//
//	f := startFerry(t, `
//	[[listener]]
//	address = "127.0.0.1:0"
//	`)
//	// ... drive f.Addr with a client ...
//	ev := f.WaitEvent("access", func(e Event) bool { return e.Str("target") == target })
//	ev = f.WaitEvents("access", nil, 3)[2]         // the third access event
//	if ev := f.Reload(newTOML); ev["ok"] != true {  // SIGHUP with a new file
//
// The process gets SIGTERM at cleanup and must exit 0 in time; the last
// lines of its stderr are logged when the test failed.
package test

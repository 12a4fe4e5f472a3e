// Package config loads ferry's TOML configuration strictly: unknown keys,
// wrong types and bad values are errors that name the file and line, and
// every one is listed, in line order.
//
// It owns no setting. Each table of File is the Config of the package it
// configures (tunnel, connect, front, reverse, cache, acl, auth,
// accesslog, admin, pac), which states its defaults once (SetDefaults)
// and checks itself (Validate, reporting problems by key); [limits],
// [[listener]] and [log] embed the parts of several. This package fills
// those defaults in before decoding (prefill, arrays of tables too),
// checks what spans tables (listener addresses, auth against users, the
// open-proxy refusal), and builds, once per load, what the files a config
// names make: the compiled rules with their domain lists, routing, users
// and block page. ferry check, start and every reload call Load, so they
// agree on what is refused.
package config

module github.com/ferry-proxy/ferry

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/pires/go-proxyproto v0.15.0
	github.com/rs/zerolog v1.35.1
	go.uber.org/goleak v1.3.0
	golang.org/x/crypto v0.59.0
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	golang.org/x/text v0.44.0 // indirect
)

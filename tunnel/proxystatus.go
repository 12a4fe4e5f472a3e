package tunnel

// HTTPStatusFor is the HTTP status ferry answers an RFC 9209 error type
// with, read from the one status table; 0 for a type not in it. The
// access log uses it to give SOCKS records an HTTP status (Squid format).
func HTTPStatusFor(proxyStatus string) int {
	for _, row := range status {
		if row.proxyStatus != "" && row.proxyStatus == proxyStatus {
			return row.http
		}
	}
	return 0
}

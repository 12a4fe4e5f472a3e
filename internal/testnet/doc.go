// Package testnet holds loopback fixtures that the tests and benchmarks of
// several packages share: a dial target that never answers, one that
// refuses, a listener that hands its connections over, a connected TCP
// pair, a UDP echo, a redis-server of the test's own, and the
// bulk-transfer loop the throughput benchmarks measure with, so that
// their MB/s figures compare. Only _test.go files import it.
package testnet

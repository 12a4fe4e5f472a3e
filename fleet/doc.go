// Package fleet is what several ferries behind one balancer share (issue
// 18), through one Redis: the [[limit]] counters (a limit.Store), the
// login throttle's failure counts (a tunnel.SharedFailures), and the
// list of members. Without a [fleet] redis, none of it is used and every
// ferry keeps its counters in process, as a single ferry does.
//
// Redis trouble never hangs a request: every call has a deadline of a few
// milliseconds (timeout) and is not retried; a call that fails is decided
// without Redis (the limit's on_store_error). A refused or broken
// connection, or three calls in a row past their deadline, mark Redis
// down (a log line, ferry_fleet_redis_up 0): every call then answers at
// once with ErrDown while a loop pings Redis with back-off (100ms to 5s),
// and the first answer marks it up again.
package fleet

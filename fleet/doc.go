// Package fleet is what several ferries behind one balancer share (issue
// 18), through one Redis: the [[limit]] counters (a limit.Store), the
// login throttle's failure counts (a tunnel.SharedFailures), and the
// list of members. Without a [fleet] redis, none of it is used and every
// ferry keeps its counters in process, as a single ferry does.
//
// Redis trouble never hangs a request: every call has a deadline of a few
// milliseconds (timeout), no call is retried, and once a call fails the
// client is marked down (a log line, ferry_fleet_redis_up 0) and answers
// at once with ErrDown while a loop pings Redis with back-off; the first
// answer marks it up again. What a limit does meanwhile is its
// on_store_error.
package fleet

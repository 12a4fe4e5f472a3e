package cache

import "strings"

// ageValue is the Age a response carried (RFC 9111 §5.1), in seconds, and
// whether it had a usable one.
//
// Age is a singleton, but a list of members (on one line or over several
// Age lines) is read by its first member, "discarding subsequent ones":
// "7200, 0" is 7200, and two lines "7200" and "0" are 7200 too. A member
// that is no delta-seconds at all (-1, 7200.0, abc) is ignored, as §5.1
// says; the response is then aged by its Date and transit time alone. A
// delta-seconds with parameters after it ("7200;p=1") is read as its
// number: the sender's age is not in doubt, and reading it can only make
// the response older, never falsely fresh. Values saturate at 2^31
// (§1.2.2).
func ageValue(lines []string) (int64, bool) {
	for _, line := range lines {
		for member := range strings.SplitSeq(line, ",") {
			member = strings.Trim(member, " \t")
			if member == "" {
				continue // empty list elements are skipped (RFC 9110 §5.6.1)
			}
			if n, _, ok := strings.Cut(member, ";"); ok {
				member = strings.TrimRight(n, " \t")
			}
			return parseDelta(member)
		}
	}
	return 0, false
}

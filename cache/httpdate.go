package cache

import (
	"strings"
	"time"
)

// parseHTTPDate reads an HTTP-date (RFC 9110 §5.6.7) strictly: the
// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", or one of the two obsolete
// forms recipients must still accept, rfc850-date "Sunday, 06-Nov-94
// 08:49:37 GMT" and asctime-date "Sun Nov  6 08:49:37 1994". Anything
// else is invalid: one-digit hours, doubled spaces, another zone than GMT
// (RFC 9111 §4.2 says to treat such dates as invalid), a two-digit year in
// the IMF form. Names and GMT match case-insensitively (§4.2). ref is the
// time the date was received: an rfc850 two-digit year more than 50 years
// after it is taken as the most recent past year with those digits.
//
// net/http's ParseTime is more lenient (it takes "2:01:18" and runs of
// spaces), which would turn an invalid Expires, "already expired" by
// RFC 9111 §5.3, into a fresh response.
func parseHTTPDate(s string, ref time.Time) (time.Time, bool) {
	switch {
	case len(s) == len("Sun, 06 Nov 1994 08:49:37 GMT") && s[3] == ',':
		return parseIMF(s)
	case len(s) == len("Sun Nov  6 08:49:37 1994"):
		return parseAsctime(s)
	}
	return parseRFC850(s, ref)
}

var (
	shortDays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	longDays  = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
	months    = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
)

// parseIMF reads "Sun, 06 Nov 1994 08:49:37 GMT".
func parseIMF(s string) (time.Time, bool) {
	if !oneOf(s[:3], shortDays) || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
		s[25] != ' ' || !strings.EqualFold(s[26:], "GMT") {
		return time.Time{}, false
	}
	return civil(s[12:16], s[8:11], s[5:7], s[17:25])
}

// parseAsctime reads "Sun Nov  6 08:49:37 1994" (the day space-padded).
func parseAsctime(s string) (time.Time, bool) {
	if !oneOf(s[:3], shortDays) || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
		return time.Time{}, false
	}
	day := s[8:10]
	if day[0] == ' ' {
		day = "0" + day[1:]
	}
	return civil(s[20:], s[4:7], day, s[11:19])
}

// parseRFC850 reads "Sunday, 06-Nov-94 08:49:37 GMT".
func parseRFC850(s string, ref time.Time) (time.Time, bool) {
	name, rest, ok := strings.Cut(s, ", ")
	if !ok || !oneOf(name, longDays) || len(rest) != len("06-Nov-94 08:49:37 GMT") ||
		rest[2] != '-' || rest[6] != '-' || rest[9] != ' ' || rest[18] != ' ' || !strings.EqualFold(rest[19:], "GMT") {
		return time.Time{}, false
	}
	yy, ok := digits(rest[7:9])
	if !ok {
		return time.Time{}, false
	}
	year := ref.UTC().Year()/100*100 + yy
	if year > ref.UTC().Year()+50 {
		year -= 100
	}
	return civil(itoa4(year), rest[3:6], rest[:2], rest[10:18])
}

// civil builds the UTC time from a 4-digit year, a month name, a 2-digit
// day and "hh:mm:ss", refusing values out of range (a 31st of February is
// not quietly the 3rd of March). Second 60 is a leap second: 59.
func civil(year, month, day, clock string) (time.Time, bool) {
	y, okY := digits(year)
	d, okD := digits(day)
	if len(clock) != 8 || clock[2] != ':' || clock[5] != ':' || len(year) != 4 || len(day) != 2 {
		return time.Time{}, false
	}
	hh, okH := digits(clock[:2])
	mm, okM := digits(clock[3:5])
	ss, okS := digits(clock[6:])
	m := index(month, months) + 1
	if !(okY && okD && okH && okM && okS) || m == 0 || hh > 23 || mm > 59 || ss > 60 || d < 1 {
		return time.Time{}, false
	}
	ss = min(ss, 59)
	t := time.Date(y, time.Month(m), d, hh, mm, ss, 0, time.UTC)
	if t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}

// digits reads a run of ASCII digits (no sign, no space).
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func itoa4(n int) string {
	b := []byte{'0', '0', '0', '0'}
	for i := 3; i >= 0 && n > 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b)
}

func index(s string, names []string) int {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return i
		}
	}
	return -1
}

func oneOf(s string, names []string) bool { return index(s, names) >= 0 }

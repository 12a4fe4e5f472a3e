package acl

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// timeMatcher holds when the request's time of day, in the rule's time
// zone, falls in one of the windows. A window whose end is before its
// start crosses midnight ("22:00-06:00").
type timeMatcher struct {
	loc     *time.Location
	windows [][2]int // minutes since midnight, [from, to)
	desc    string
}

func parseTimes(vals []string, loc *time.Location) (*timeMatcher, error) {
	m := &timeMatcher{loc: loc, desc: "time " + strings.Join(vals, ", ") + " " + loc.String()}
	for _, v := range vals {
		from, to, ok := strings.Cut(v, "-")
		a, err1 := parseClock(from)
		b, err2 := parseClock(to)
		if !ok || err1 != nil || err2 != nil || a == b {
			return nil, fmt.Errorf("%q is not a time window such as 09:00-17:30 (24-hour clock, 24:00 ends the day)", v)
		}
		m.windows = append(m.windows, [2]int{a, b})
	}
	return m, nil
}

// parseClock reads HH:MM into minutes since midnight; 24:00 is the end.
func parseClock(s string) (int, error) {
	h, mm, ok := strings.Cut(strings.TrimSpace(s), ":")
	hour, err1 := strconv.Atoi(h)
	min, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || len(mm) != 2 || hour < 0 || min < 0 || min > 59 ||
		hour > 24 || hour == 24 && min != 0 {
		return 0, fmt.Errorf("bad clock %q", s)
	}
	return hour*60 + min, nil
}

func (m *timeMatcher) match(q *Query) tri {
	if q.Time.IsZero() {
		return no
	}
	h, mm, _ := q.Time.In(m.loc).Clock()
	now := h*60 + mm
	for _, w := range m.windows {
		if w[0] < w[1] && now >= w[0] && now < w[1] ||
			w[0] > w[1] && (now >= w[0] || now < w[1]) {
			return yes
		}
	}
	return no
}
func (m *timeMatcher) String() string { return m.desc }

// weekdayMatcher holds on the listed days, in the rule's time zone.
type weekdayMatcher struct {
	loc  *time.Location
	days uint8 // bit i: time.Weekday(i)
	desc string
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func parseWeekdays(vals []string, loc *time.Location) (*weekdayMatcher, error) {
	m := &weekdayMatcher{loc: loc, desc: "weekday " + strings.Join(vals, ", ") + " " + loc.String()}
	for _, v := range vals {
		from, to, isRange := strings.Cut(strings.ToLower(v), "-")
		if !isRange {
			to = from
		}
		a, ok1 := weekdays[day3(from)]
		b, ok2 := weekdays[day3(to)]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%q is not a weekday (mon ... sun) or a range such as mon-fri", v)
		}
		for d := a; ; d = (d + 1) % 7 {
			m.days |= 1 << d
			if d == b {
				break
			}
		}
	}
	return m, nil
}

// day3 accepts "monday" as well as "mon".
func day3(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 3 {
		if _, ok := weekdays[s[:3]]; ok && strings.HasPrefix(fullDay[s[:3]], s) {
			return s[:3]
		}
	}
	return s
}

var fullDay = map[string]string{
	"sun": "sunday", "mon": "monday", "tue": "tuesday", "wed": "wednesday",
	"thu": "thursday", "fri": "friday", "sat": "saturday",
}

func (m *weekdayMatcher) match(q *Query) tri {
	if q.Time.IsZero() {
		return no
	}
	return bool3(m.days&(1<<q.Time.In(m.loc).Weekday()) != 0)
}
func (m *weekdayMatcher) String() string { return m.desc }

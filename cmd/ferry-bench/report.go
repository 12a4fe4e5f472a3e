package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Units of Metric values.
const (
	unitBytesPerSec = "B/s"
	unitPerSec      = "1/s"
	unitMicros      = "us"
	unitKiB         = "KiB"
	unitFDs         = "fd"
	unitSeconds     = "s"
	unitCount       = "n"
	unitMsPerGiB    = "ms/GiB"
)

// Metric is one figure of a run: the proxy's value next to the direct
// baseline measured in the same run, and their ratio proxy/direct.
type Metric struct {
	ID     string   `json:"id"`    // stable key across runs, e.g. "bulk.connect.up.1"
	Label  string   `json:"label"` // for people
	Unit   string   `json:"unit"`  // B/s, 1/s, us, KiB, fd, s, n or ms/GiB
	Direct *float64 `json:"direct,omitempty"`
	Proxy  *float64 `json:"proxy,omitempty"`
	Ratio  *float64 `json:"ratio,omitempty"`  // proxy/direct
	Added  *float64 `json:"added,omitempty"`  // proxy-direct, for latency the proxy adds (the open test)
	Errors int64    `json:"errors,omitempty"` // failed operations in the window
	Note   string   `json:"note,omitempty"`
}

// Report is one run of ferry-bench against one proxy.
type Report struct {
	Name       string    `json:"name"`
	Time       time.Time `json:"time"`
	HTTPProxy  string    `json:"http_proxy,omitempty"`
	SOCKSProxy string    `json:"socks_proxy,omitempty"`
	TCPProxy   string    `json:"tcp_proxy,omitempty"`
	PID        int       `json:"pid,omitempty"`
	Duration   float64   `json:"duration_s"` // each figure's measured window
	Metrics    []Metric  `json:"metrics"`
}

func num(v float64) *float64 { return &v }

// pair makes a metric of a proxy value and its direct baseline.
func pair(id, label, unit string, direct, proxy float64) Metric {
	m := Metric{ID: id, Label: label, Unit: unit, Direct: num(direct), Proxy: num(proxy)}
	if direct > 0 {
		m.Ratio = num(proxy / direct)
	}
	return m
}

// format renders v in unit for people.
func format(v float64, unit string) string {
	switch unit {
	case unitBytesPerSec:
		if v >= 1<<30 {
			return strconv.FormatFloat(v/(1<<30), 'f', 2, 64) + " GiB/s"
		}
		return strconv.FormatFloat(v/(1<<20), 'f', 0, 64) + " MiB/s"
	case unitPerSec:
		return strconv.FormatFloat(v, 'f', 0, 64) + "/s"
	case unitMicros:
		switch {
		case v < 1000:
			return strconv.FormatFloat(v, 'f', 0, 64) + " µs"
		case v < 1e6:
			return strconv.FormatFloat(v/1e3, 'f', 2, 64) + " ms"
		}
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + " s"
	case unitKiB:
		return strconv.FormatFloat(v, 'f', 1, 64) + " KiB"
	case unitFDs:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case unitSeconds:
		return strconv.FormatFloat(v, 'f', 2, 64) + " s"
	case unitMsPerGiB:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms/GiB"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func formatRatio(r float64) string { return strconv.FormatFloat(r, 'f', 2, 64) }

// formatAdded renders a difference with its sign: "+120 µs", "−3 µs".
func formatAdded(v float64, unit string) string {
	if v < 0 {
		return "−" + format(-v, unit)
	}
	return "+" + format(v, unit)
}

// writeTable prints a run for people: one line per figure.
func writeTable(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "ferry-bench %s  %s  window %s per figure\n", r.Name, r.Time.Format(time.RFC3339), time.Duration(r.Duration*float64(time.Second)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tdirect\tproxy\tproxy/direct\t")
	for _, m := range r.Metrics {
		d, p, ratio := "—", "—", ""
		if m.Direct != nil {
			d = format(*m.Direct, m.Unit)
		}
		if m.Proxy != nil {
			p = format(*m.Proxy, m.Unit)
		}
		switch {
		case m.Added != nil:
			ratio = formatAdded(*m.Added, m.Unit)
		case m.Ratio != nil:
			ratio = formatRatio(*m.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Label, d, p, ratio, notes(m))
	}
	return tw.Flush()
}

func notes(m Metric) string {
	var s []string
	if m.Errors > 0 {
		s = append(s, strconv.FormatInt(m.Errors, 10)+" errors")
	}
	if m.Note != "" {
		s = append(s, m.Note)
	}
	return strings.Join(s, "; ")
}

func writeJSON(w io.Writer, r *Report) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// groupRank orders rows of a comparison by test, whatever run they first
// appeared in.
func groupRank(id string) int {
	g, _, _ := strings.Cut(id, ".")
	if i := slices.Index(testNames, g); i >= 0 {
		return i
	}
	return len(testNames)
}

// writeComparison prints one markdown table of several runs: a row per
// figure, a column per run. A cell is the ratio proxy/direct with the
// proxy's value, or the value alone where there is no baseline; "—" where
// that run could not measure the figure. The direct column gives the range
// of the baselines over the runs (each run measured its own).
func writeComparison(w io.Writer, runs []*Report) error {
	type row struct {
		id, label string
		first     int
		cells     []*Metric
	}
	var rows []*row
	byID := map[string]*row{}
	for ri, r := range runs {
		for i := range r.Metrics {
			m := &r.Metrics[i]
			rw := byID[m.ID]
			if rw == nil {
				rw = &row{id: m.ID, label: m.Label, first: len(byID), cells: make([]*Metric, len(runs))}
				byID[m.ID] = rw
				rows = append(rows, rw)
			}
			rw.cells[ri] = m
		}
	}
	slices.SortStableFunc(rows, func(a, b *row) int { return groupRank(a.id) - groupRank(b.id) })

	var b strings.Builder
	b.WriteString("| figure | direct |")
	for _, r := range runs {
		b.WriteString(" " + r.Name + " |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(runs)) + "\n")
	for _, rw := range rows {
		b.WriteString("| " + rw.label + " | " + directRange(rw.cells) + " |")
		for _, m := range rw.cells {
			b.WriteString(" " + cell(m) + " |")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func directRange(cells []*Metric) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	unit := ""
	for _, m := range cells {
		if m != nil && m.Direct != nil {
			lo, hi, unit = min(lo, *m.Direct), max(hi, *m.Direct), m.Unit
		}
	}
	switch {
	case unit == "":
		return "—"
	case format(lo, unit) == format(hi, unit):
		return format(lo, unit)
	}
	return format(lo, unit) + " – " + format(hi, unit)
}

func cell(m *Metric) string {
	if m == nil || (m.Proxy == nil && m.Note == "") {
		return "—"
	}
	var s string
	switch {
	case m.Added != nil:
		s = "**" + formatAdded(*m.Added, m.Unit) + "** (" + format(*m.Proxy, m.Unit) + ")"
	case m.Ratio != nil:
		s = "**" + formatRatio(*m.Ratio) + "** (" + format(*m.Proxy, m.Unit) + ")"
	case m.Proxy != nil:
		s = format(*m.Proxy, m.Unit)
	}
	if n := notes(*m); n != "" {
		s = strings.TrimSpace(s + " " + n)
	}
	return strings.ReplaceAll(s, "|", "\\|")
}

// readReports decodes the -json outputs named by paths.
func readReports(read func(string) ([]byte, error), paths []string) ([]*Report, error) {
	var runs []*Report
	for _, p := range paths {
		data, err := read(p)
		if err != nil {
			return nil, err
		}
		r := &Report{}
		if err := json.Unmarshal(data, r); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if r.Name == "" {
			r.Name = p
		}
		runs = append(runs, r)
	}
	return runs, nil
}

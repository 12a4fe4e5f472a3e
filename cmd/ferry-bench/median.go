package main

import (
	"cmp"
	"slices"
	"strconv"
)

// medianRuns folds runs of the same proxy (same Name) into one, in the
// order names first appear: each figure is the median run's metric for
// it, whole (value, baseline, ratio, notes), so a cell still reads as one
// run measured it. The median is by the figure's value (what the proxy
// adds, for the open test); a run that has no value for a figure (an idle
// RSS that did not come back) sorts above every value, as the worst. An
// odd count picks the middle run, an even one the lower middle. A folded
// run's name says how many runs it holds ("ferry ×3").
func medianRuns(runs []*Report) []*Report {
	var names []string
	byName := map[string][]*Report{}
	for _, r := range runs {
		if _, ok := byName[r.Name]; !ok {
			names = append(names, r.Name)
		}
		byName[r.Name] = append(byName[r.Name], r)
	}
	out := make([]*Report, 0, len(names))
	for _, name := range names {
		group := byName[name]
		if len(group) == 1 {
			out = append(out, group[0])
			continue
		}
		m := *group[0]
		m.Name = name + " ×" + strconv.Itoa(len(group))
		m.Metrics = nil
		seen := map[string]bool{}
		for _, r := range group {
			for _, mt := range r.Metrics {
				if seen[mt.ID] {
					continue
				}
				seen[mt.ID] = true
				m.Metrics = append(m.Metrics, medianMetric(mt.ID, group))
			}
		}
		out = append(out, &m)
	}
	return out
}

// medianMetric is the median run's metric id among group.
func medianMetric(id string, group []*Report) Metric {
	var ms []Metric
	for _, r := range group {
		for _, mt := range r.Metrics {
			if mt.ID == id {
				ms = append(ms, mt)
				break
			}
		}
	}
	slices.SortStableFunc(ms, func(a, b Metric) int {
		va, oka := metricValue(a)
		vb, okb := metricValue(b)
		switch {
		case oka && okb:
			return cmp.Compare(va, vb)
		case oka:
			return -1
		case okb:
			return 1
		}
		return 0
	})
	return ms[(len(ms)-1)/2]
}

func metricValue(m Metric) (float64, bool) {
	switch {
	case m.Added != nil:
		return *m.Added, true
	case m.Proxy != nil:
		return *m.Proxy, true
	}
	return 0, false
}

package console

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// livePoints is how many samples a chart keeps (10 minutes at 5s).
const livePoints = 120

// sampler keeps the recent history of a few metrics, sampled from a
// registry (this process's, or every instance's: see peers): the rates of
// events, deliveries and failed attempts, the consumer lag of each stage,
// and the delivery lag.
type sampler struct {
	g   prometheus.Gatherer
	now func() time.Time

	mu     sync.Mutex
	prev   map[string]counted // counters at the sample that last had them
	first  bool               // no sample yet
	times  []time.Time
	charts map[string]map[string][]float64 // chart → series → values, aligned with times
}

// counted is a counter's value when it was read.
type counted struct {
	v  float64
	at time.Time
}

func newSampler(g prometheus.Gatherer, now func() time.Time) *sampler {
	return &sampler{g: g, now: now, first: true, prev: map[string]counted{}, charts: map[string]map[string][]float64{}}
}

// Charts, in the order the page shows them.
const (
	chartThroughput = "Throughput (per second)"
	chartFailures   = "Failed attempts by cause (per second)"
	chartLag        = "Consumer lag by stage (records)"
	chartAge        = "Delivery lag: event to success (seconds, mean)"
)

var chartOrder = []string{chartThroughput, chartFailures, chartLag, chartAge}

// read returns the counters and gauges the charts draw, by chart and
// series: counters (to turn into rates), each apart per instance (after
// instSep) so that an instance missing from a sample or started again
// neither spikes nor dips the sum, and gauges (drawn as they are).
func (sm *sampler) read() (counters, gauges map[string]float64) {
	counters, gauges = map[string]float64{}, map[string]float64{}
	if sm.g == nil {
		return counters, gauges
	}
	// Every instance that runs a stage measures its group's whole lag:
	// the largest figure of each partition, not their sum.
	lag := map[[3]string]float64{}
	fams, _ := sm.g.Gather() // a collector's error leaves out its metrics, not the others
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			inst := instSep + label(m, instanceLabel)
			switch f.GetName() {
			case "hookstream_events_dispatched_total":
				counters[chartThroughput+"\x00events dispatched"+inst] += m.GetCounter().GetValue()
			case "hookstream_attempt_outcomes_total":
				switch label(m, "outcome") {
				case "succeeded":
					counters[chartThroughput+"\x00delivered"+inst] += m.GetCounter().GetValue()
				case "retrying", "dead":
					counters[chartThroughput+"\x00failed attempts"+inst] += m.GetCounter().GetValue()
				}
			case "hookstream_attempts_total":
				if c := label(m, "class"); c != "2xx" {
					counters[chartFailures+"\x00"+c+inst] += m.GetCounter().GetValue()
				}
			case "hookstream_consumer_lag_records":
				k := [3]string{label(m, "group"), label(m, "topic"), label(m, "partition")}
				lag[k] = max(lag[k], m.GetGauge().GetValue())
			case "hookstream_delivery_lag_seconds":
				counters["lag\x00sum"+inst] += m.GetHistogram().GetSampleSum()
				counters["lag\x00count"+inst] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	for k, v := range lag {
		gauges[chartLag+"\x00"+k[0]] += v
	}
	return counters, gauges
}

// instanceLabel names the instance a peer's metric came from (see peers);
// instSep ends a counter's series name before it.
const (
	instanceLabel = "instance"
	instSep       = "\x01"
)

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// sample reads the registry once and appends a point to every series.
func (sm *sampler) sample() {
	counters, gauges := sm.read()
	now := sm.now()
	sm.mu.Lock()
	defer sm.mu.Unlock()
	points := map[string]float64{}
	for k, v := range gauges {
		points[k] = v
	}
	// Each counter's rate since it was last read, summed over instances.
	var lagSum, lagCount float64
	for k, v := range counters {
		p, seen := sm.prev[k]
		sm.prev[k] = counted{v, now}
		if !seen || !now.After(p.at) {
			continue
		}
		d := max(0, v-p.v) // a counter that went down started again
		name, _, _ := strings.Cut(k, instSep)
		switch name {
		case "lag\x00sum":
			lagSum += d
		case "lag\x00count":
			lagCount += d
		default:
			points[name] += d / now.Sub(p.at).Seconds()
		}
	}
	if !sm.first {
		points[chartAge+"\x00mean"] = 0
		if lagCount > 0 {
			points[chartAge+"\x00mean"] = lagSum / lagCount
		}
	}
	for k, p := range sm.prev { // instances gone for good
		if now.Sub(p.at) > 10*time.Minute {
			delete(sm.prev, k)
		}
	}
	if sm.first {
		sm.first = false
		return
	}
	sm.times = append(sm.times, now)
	for k, v := range points {
		chart, name, _ := strings.Cut(k, "\x00")
		series := sm.charts[chart]
		if series == nil {
			series = map[string][]float64{}
			sm.charts[chart] = series
		}
		if _, ok := series[name]; !ok {
			series[name] = make([]float64, len(sm.times)-1) // zeros before it appeared
		}
		series[name] = append(series[name], v)
	}
	for _, series := range sm.charts { // series that did not appear this time
		for name, vs := range series {
			if len(vs) < len(sm.times) {
				series[name] = append(vs, 0)
			}
		}
	}
	if len(sm.times) > livePoints {
		drop := len(sm.times) - livePoints
		sm.times = sm.times[drop:]
		for _, series := range sm.charts {
			for name, vs := range series {
				series[name] = vs[drop:]
			}
		}
	}
}

// Chart geometry (the SVG's viewBox).
const (
	chartW = 600
	chartH = 120
)

type chartView struct {
	Title  string
	Max    string
	Series []seriesView
	Span   string
}

type seriesView struct {
	Name   string
	Class  string
	Points string // of an SVG polyline
	Last   string
}

// view draws the charts: each series as a polyline scaled to the chart's
// largest value.
func (sm *sampler) view() []chartView {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	var out []chartView
	for _, title := range chartOrder {
		cv := chartView{Title: title, Max: "0"}
		series := sm.charts[title]
		names := make([]string, 0, len(series))
		top := 0.0
		for name, vs := range series {
			names = append(names, name)
			top = max(top, slices.Max(vs))
		}
		sort.Strings(names)
		cut := commonPrefix(names)
		if len(sm.times) > 1 {
			cv.Span = short(sm.times[len(sm.times)-1].Sub(sm.times[0]))
		}
		scale := 1.0
		if top > 0 {
			scale = (chartH - 4) / top
			cv.Max = number(top)
		}
		for i, name := range names {
			vs := series[name]
			var b strings.Builder
			for j, v := range vs {
				x := float64(chartW) * float64(j) / float64(max(len(vs)-1, 1))
				y := float64(chartH) - 2 - v*scale
				if j > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(strconv.FormatFloat(x, 'f', 1, 64) + "," + strconv.FormatFloat(y, 'f', 1, 64))
			}
			cv.Series = append(cv.Series, seriesView{Name: name[cut:], Class: "s" + strconv.Itoa(i%6), Points: b.String(),
				Last: number(vs[len(vs)-1])})
		}
		out = append(out, cv)
	}
	return out
}

func number(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func (s *Server) livePage(w http.ResponseWriter, r *http.Request, sc scope) {
	s.render(w, r, sc, "live", http.StatusOK, "Live", s.live.view())
}

// commonPrefix is the length of the prefix every name shares, up to a
// separator ('-' or '.'), when there are several: the lag's consumer
// groups all start with the topic prefix.
func commonPrefix(names []string) int {
	if len(names) < 2 {
		return 0
	}
	n := 0
	for i := 0; i < len(names[0]); i++ {
		for _, s := range names[1:] {
			if i >= len(s) || s[i] != names[0][i] {
				return n
			}
		}
		if c := names[0][i]; c == '-' || c == '.' {
			n = i + 1
		}
	}
	return n
}

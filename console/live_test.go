package console

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookstream/hookstream/internal/testenv"
)

// instance is a hookstream instance's /metrics as the live charts read it:
// a real registry behind a real HTTP server.
type instance struct {
	delivered prometheus.Counter
	lag       prometheus.Gauge
	srv       *http.Server
	ln        net.Listener
}

func newInstance(t *testing.T, ip, port string) *instance {
	t.Helper()
	reg := prometheus.NewRegistry()
	in := &instance{
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "hookstream_attempt_outcomes_total",
			ConstLabels: prometheus.Labels{"outcome": "succeeded"}}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hookstream_consumer_lag_records",
			ConstLabels: prometheus.Labels{"group": "hookstream-deliver", "topic": "hookstream.deliveries", "partition": "0"}}),
	}
	reg.MustRegister(in.delivered, in.lag)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
	testenv.Must(t, err, "listen")
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	in.srv, in.ln = &http.Server{Handler: mux}, ln
	go func() { _ = in.srv.Serve(ln) }()
	t.Cleanup(func() { _ = in.srv.Close() })
	return in
}

func TestLiveChartsDrawEveryInstance(t *testing.T) {
	a := newInstance(t, "127.0.0.1", "0")
	_, port, _ := net.SplitHostPort(a.ln.Addr().String())
	b := newInstance(t, "127.0.0.2", port)
	p, err := newPeers("hookstream-metrics.test:" + port)
	testenv.Must(t, err, "newPeers")
	p.lookup = func(_ context.Context, host string) ([]string, error) {
		if host != "hookstream-metrics.test" {
			t.Errorf("looked up %q", host)
		}
		return []string{"127.0.0.1", "127.0.0.2"}, nil
	}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	sm := newSampler(p, func() time.Time { return now })
	last := func(chart, series string) float64 {
		t.Helper()
		vs := sm.charts[chart][series]
		if len(vs) == 0 {
			t.Fatalf("%s has no series %q: %v", chart, series, sm.charts[chart])
		}
		return vs[len(vs)-1]
	}

	// Both measure the same group's lag (7): it is 7, not 14.
	a.lag.Set(7)
	b.lag.Set(7)
	a.delivered.Add(10)
	b.delivered.Add(20)
	sm.sample()
	now = now.Add(5 * time.Second)
	a.delivered.Add(5)
	b.delivered.Add(10)
	sm.sample()
	if got := last(chartThroughput, "delivered"); got != 3 {
		t.Errorf("delivered = %v/s, want 3 (5 + 10 in 5 s, both instances)", got)
	}
	if got := last(chartLag, "hookstream-deliver"); got != 7 {
		t.Errorf("lag = %v, want 7 (the group's, measured by both)", got)
	}

	// b stops answering: a's rate alone, no dip below it.
	testenv.Must(t, b.srv.Close(), "stop b")
	now = now.Add(5 * time.Second)
	a.delivered.Add(5)
	sm.sample()
	if got := last(chartThroughput, "delivered"); got != 1 {
		t.Errorf("with b gone, delivered = %v/s, want a's 1", got)
	}
	// b comes back, started again (its counter from 0): no spike.
	b = newInstance(t, "127.0.0.2", port)
	b.delivered.Add(2)
	now = now.Add(5 * time.Second)
	a.delivered.Add(5)
	sm.sample()
	if got := last(chartThroughput, "delivered"); got != 1 {
		t.Errorf("with b started again, delivered = %v/s, want 1", got)
	}
	now = now.Add(5 * time.Second)
	a.delivered.Add(5)
	b.delivered.Add(10)
	sm.sample()
	if got := last(chartThroughput, "delivered"); got != 3 {
		t.Errorf("both again: delivered = %v/s, want 3", got)
	}
	if view := sm.view(); len(view) == 0 || !strings.Contains(view[0].Title, "Throughput") {
		t.Errorf("view = %+v", view)
	}
}

func TestNewPeersWantsHostAndPort(t *testing.T) {
	for _, bad := range []string{"", "hookstream-metrics", ":9090", "host:", "http://host:9090"} {
		if _, err := newPeers(bad); err == nil {
			t.Errorf("newPeers(%q) accepted it", bad)
		}
	}
}

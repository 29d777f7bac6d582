package main

import (
	"bytes"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hookstream/hookstream/internal/testenv"
)

// wantMetrics are the families /metrics must carry, with their types.
var wantMetrics = map[string]dto.MetricType{
	"hookstream_events_dispatched_total":                  dto.MetricType_COUNTER,
	"hookstream_events_invalid_total":                     dto.MetricType_COUNTER,
	"hookstream_events_duplicate_total":                   dto.MetricType_COUNTER,
	"hookstream_delivery_tasks_total":                     dto.MetricType_COUNTER,
	"hookstream_attempts_total":                           dto.MetricType_COUNTER,
	"hookstream_attempt_duration_seconds":                 dto.MetricType_HISTOGRAM,
	"hookstream_attempt_outcomes_total":                   dto.MetricType_COUNTER,
	"hookstream_delivery_lag_seconds":                     dto.MetricType_HISTOGRAM,
	"hookstream_dead_letters_total":                       dto.MetricType_COUNTER,
	"hookstream_sink_batch_size":                          dto.MetricType_HISTOGRAM,
	"hookstream_sink_write_duration_seconds":              dto.MetricType_HISTOGRAM,
	"hookstream_sink_write_errors_total":                  dto.MetricType_COUNTER,
	"hookstream_endpoints_disabled_total":                 dto.MetricType_COUNTER,
	"hookstream_events_filtered_total":                    dto.MetricType_COUNTER,
	"hookstream_filter_errors_total":                      dto.MetricType_COUNTER,
	"hookstream_deliveries_in_flight":                     dto.MetricType_GAUGE,
	"hookstream_retry_lateness_seconds":                   dto.MetricType_HISTOGRAM,
	"hookstream_endpoints":                                dto.MetricType_GAUGE,
	"hookstream_deliveries_parked":                        dto.MetricType_GAUGE,
	"hookstream_endpoints_paused":                         dto.MetricType_GAUGE,
	"hookstream_probes_total":                             dto.MetricType_COUNTER,
	"hookstream_endpoints_recovered_total":                dto.MetricType_COUNTER,
	"hookstream_bulk_lane_rate_limit":                     dto.MetricType_GAUGE,
	"hookstream_ordering_blocked_total":                   dto.MetricType_COUNTER,
	"hookstream_ordering_released_total":                  dto.MetricType_COUNTER,
	"hookstream_ordering_halts_total":                     dto.MetricType_COUNTER,
	"hookstream_ordering_blocked_deliveries":              dto.MetricType_GAUGE,
	"hookstream_ordering_halted_keys":                     dto.MetricType_GAUGE,
	"hookstream_ordering_oldest_halt_seconds":             dto.MetricType_GAUGE,
	"hookstream_ordering_pruned_total":                    dto.MetricType_COUNTER,
	"hookstream_consumer_lag_records":                     dto.MetricType_GAUGE,
	"hookstream_consumer_oldest_unprocessed_age_seconds":  dto.MetricType_GAUGE,
	"hookstream_kafka_produce_bytes_total":                dto.MetricType_COUNTER,
	"hookstream_history_partitions_end_timestamp_seconds": dto.MetricType_GAUGE,
	"go_goroutines":                                       dto.MetricType_GAUGE,
	"process_resident_memory_bytes":                       dto.MetricType_GAUGE,
}

// A running instance serves every metric the dashboards and alerts use,
// with its type, in a format promtool's linter accepts; labels stay
// bounded (no endpoint id or URL anywhere).
func TestMetricsExposition(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_LAG_INTERVAL": "200ms"})
	rcv := newReceiver(t, func(n int, _ *http.Request) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	ep := s.endpoint(rcv.URL, "invoice.*")
	s.publish("invoice.paid", `{"n":1}`)
	s.waitStatus(ep.ID, 1, "succeeded", 30*time.Second)

	fams := scrape(t, s)
	for name, typ := range wantMetrics {
		f, ok := fams[name]
		if !ok {
			t.Errorf("missing metric %s", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
		}
	}
	_, raw := s.get("/metrics")
	if strings.Contains(string(raw), ep.ID) || strings.Contains(string(raw), "127.0.0.1:") {
		t.Error("an endpoint id or URL appears in /metrics")
	}
	problems, err := promlint.New(bytes.NewReader(raw)).Lint()
	testenv.Must(t, err, "lint")
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "hookstream_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	groups := map[string]bool{}
	for _, m := range fams["hookstream_consumer_lag_records"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "group" {
				groups[l.GetValue()] = true
			}
		}
	}
	for _, g := range []string{"dispatch", "deliver", "sink", "retry-1s", "retry-2s"} {
		if !groups[strings.TrimSuffix(s.prefix, ".")+"-"+g] {
			t.Errorf("no lag for group %s (have %v)", g, groups)
		}
	}
}

// Every metric the Grafana dashboard and the alert rules query is one the
// binary exports (histograms through their _bucket, _sum and _count).
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_LAG_INTERVAL": "200ms"})
	rcv := newReceiver(t, nil)
	s.endpoint(rcv.URL, "invoice.*")
	s.publish("invoice.paid", `{"n":1}`)
	rcv.waitRequests(t, 1, 30*time.Second)
	fams := scrape(t, s)

	token := regexp.MustCompile(`hookstream_[a-z_]+`)
	for _, file := range []string{"../../deploy/helm/hookstream/files/hookstream.json", "../../deploy/helm/hookstream/files/alerts.yaml"} {
		raw, err := os.ReadFile(file)
		testenv.Must(t, err, "read "+file)
		names := token.FindAllString(string(raw), -1)
		if len(names) == 0 {
			t.Errorf("%s names no hookstream metric", file)
		}
		for _, name := range names {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && fams[b].GetType() == dto.MetricType_HISTOGRAM {
					base = b
				}
			}
			if _, ok := fams[base]; !ok {
				t.Errorf("%s queries %s, which the binary does not export", file, name)
			}
		}
	}
}

// scrape reads /metrics once the lag monitor has measured, and parses it.
func scrape(t *testing.T, s *system) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, raw := s.get("/metrics")
		parser := expfmt.NewTextParser(model.UTF8Validation)
		var err error
		fams, err = parser.TextToMetricFamilies(bytes.NewReader(raw))
		testenv.Must(t, err, "parse /metrics")
		_, ok := fams["hookstream_consumer_lag_records"]
		return ok
	}, "no lag measured")
	return fams
}

// Go's profiles are served only when asked for, on the metrics listener.
func TestPProfOnlyWhenEnabled(t *testing.T) {
	for _, on := range []bool{false, true} {
		env := map[string]string{}
		if on {
			env["HOOKSTREAM_PPROF"] = "true"
		}
		s := startSystem(t, env)
		code, _ := s.get("/debug/pprof/cmdline")
		if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[on]; code != want {
			t.Errorf("pprof %v: GET /debug/pprof/cmdline = %d, want %d", on, code, want)
		}
		s.stop()
	}
}

// The API's listener, the one exposed to tenants, serves neither the
// metrics nor Go's profiles (which show the command line, heap and
// goroutines): those have a listener of their own, which serves nothing
// else. So does a process without the api role.
func TestNoMetricsOrProfilesOnTheAPIListener(t *testing.T) {
	for _, roles := range []string{"", "deliver"} {
		env := map[string]string{"HOOKSTREAM_PPROF": "true"}
		if roles != "" {
			env["HOOKSTREAM_ROLES"] = roles
		}
		s := startSystem(t, env)
		for _, path := range []string{"/metrics", "/debug/pprof/cmdline", "/debug/pprof/"} {
			if code, _ := s.call("GET", path, nil, nil); code != http.StatusNotFound {
				t.Errorf("roles %q: GET %s on the API listener = %d, want 404", roles, path, code)
			}
			if code, _ := s.get(path); code != http.StatusOK {
				t.Errorf("roles %q: GET %s on the metrics listener = %d, want 200", roles, path, code)
			}
		}
		for _, path := range []string{"/healthz", "/v1/endpoints"} {
			if code, _ := s.get(path); code != http.StatusNotFound {
				t.Errorf("roles %q: GET %s on the metrics listener = %d, want 404", roles, path, code)
			}
		}
		s.stop()
	}
}

package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/schema"
)

// Metrics are the stages' Prometheus metrics. Labels are bounded: outcomes
// and response classes, never an endpoint, tenant or URL.
type Metrics struct {
	events      prometheus.Counter
	invalid     prometheus.Counter
	duplicates  prometheus.Counter
	tasks       prometheus.Counter
	bulk        prometheus.Counter
	forwarded   prometheus.Counter
	attempts    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	outcomes    *prometheus.CounterVec
	lag         prometheus.Histogram
	dead        prometheus.Counter
	quarantined *prometheus.CounterVec
	sinkBatch   prometheus.Histogram
	sinkWrite   prometheus.Histogram
	sinkErrors  prometheus.Counter
	disabled    prometheus.Counter
	recovered   prometheus.Counter
	probes      *prometheus.CounterVec
	inFlight    prometheus.Gauge
	movedOn     prometheus.Counter
	lateness    *prometheus.HistogramVec
	// Ordered delivery (docs/ordering.md).
	orderBlocked  prometheus.Counter
	orderReleased prometheus.Counter
	orderHalted   prometheus.Counter
	// filteredOut and filterFailed count the endpoints events did not go
	// to because of their filters, and the filter evaluations that failed.
	filteredOut  prometheus.Counter
	filterFailed prometheus.Counter
}

// NewMetrics registers the stages' metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_events_dispatched_total", Help: "Events fanned out to their subscribed endpoints.",
		}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_events_invalid_total", Help: "Records of the events topic sent to the invalid topic.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_events_duplicate_total", Help: "Events not fanned out because their id was already seen for the tenant.",
		}),
		tasks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_delivery_tasks_total", Help: "Delivery tasks produced by the dispatcher (one per event and endpoint).",
		}),
		bulk: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_delivery_tasks_bulk_total", Help: "Delivery tasks the bulk dispatcher put in the bulk lane of tasks.",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_events_bulk_total", Help: "Events the dispatcher forwarded unclaimed to the bulk lane (events.bulk): their tenant was past its share of the fast lane.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_attempts_total", Help: "HTTP attempts by response class (2xx, 3xx, 4xx, 5xx, timeout, connection, …).",
		}, []string{"class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookstream_attempt_duration_seconds", Help: "Duration of HTTP attempts by response class.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"class"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_attempt_outcomes_total", Help: "Outcomes of delivery tasks: succeeded, retrying, dead, parked.",
		}, []string{"outcome"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookstream_delivery_lag_seconds", Help: "Time from an event's creation to its successful delivery.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 14),
		}),
		dead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_dead_letters_total", Help: "Records sent to the dead topic.",
		}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_quarantined_total", Help: "Poison records moved to the quarantine topic, by the stage (consumer group) that gave up on them.",
		}, []string{"stage"}),
		sinkBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookstream_sink_batch_size", Help: "Attempt records per sink batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}),
		sinkWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookstream_sink_write_duration_seconds", Help: "Duration of a sink batch write to Postgres.",
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 10),
		}),
		sinkErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_sink_write_errors_total", Help: "Sink batch writes that failed and will be retried.",
		}),
		movedOn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_tasks_moved_on_total", Help: "Tasks of slow endpoints at their in-flight cap moved on to a retry tier without an attempt.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookstream_deliveries_in_flight", Help: "HTTP attempts under way.",
		}),
		lateness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookstream_retry_lateness_seconds", Help: "How long after its due time a retry tier handed a task over.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"tier"}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_endpoints_disabled_total", Help: "Endpoints disabled automatically (failures or 410 Gone).",
		}),
		orderBlocked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_ordering_blocked_total", Help: "Tasks of ordered endpoints blocked behind an earlier delivery of their key (no attempt spent).",
		}),
		orderReleased: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_ordering_released_total", Help: "Blocked deliveries released once the earlier delivery of their key was resolved.",
		}),
		orderHalted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_ordering_halts_total", Help: "Ordering keys halted at a dead head (dead_head: halt).",
		}),
		filteredOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_events_filtered_total", Help: "Deliveries not made because the endpoint's payload filter did not let the event through (one per event and endpoint; failed evaluations included).",
		}),
		filterFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_filter_errors_total", Help: "Payload filter evaluations that failed (a missing field, a wrong type, the cost limit): the event was not delivered to that endpoint.",
		}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookstream_endpoints_recovered_total", Help: "Disabled endpoints re-enabled by a probe that succeeded.",
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_probes_total", Help: "Probes of disabled endpoints by outcome: sent (queued), succeeded, failed, skipped (the endpoint changed before it was sent).",
		}, []string{"outcome"}),
	}
	for _, o := range []schema.Outcome{schema.OutcomeSucceeded, schema.OutcomeRetrying, schema.OutcomeDead, schema.OutcomeParked, schema.OutcomeBlocked} {
		m.outcomes.WithLabelValues(string(o))
	}
	for _, o := range []string{"sent", "succeeded", "failed", "skipped"} {
		m.probes.WithLabelValues(o)
	}
	reg.MustRegister(m.events, m.invalid, m.duplicates, m.tasks, m.bulk, m.forwarded, m.attempts, m.duration, m.outcomes,
		m.lag, m.dead, m.quarantined, m.sinkBatch, m.sinkWrite, m.sinkErrors, m.disabled, m.recovered, m.probes, m.inFlight,
		m.lateness, m.movedOn, m.orderBlocked, m.orderReleased, m.orderHalted,
		m.filteredOut, m.filterFailed)
	return m
}

func (m *Metrics) observeAttempt(r delivery.Result) {
	class := delivery.StatusClass(r)
	m.attempts.WithLabelValues(class).Inc()
	m.duration.WithLabelValues(class).Observe(r.Latency.Seconds())
}

func (m *Metrics) observeDelivered(created time.Time) {
	if !created.IsZero() {
		m.lag.Observe(time.Since(created).Seconds())
	}
}

func (m *Metrics) outcome(o schema.Outcome) { m.outcomes.WithLabelValues(string(o)).Inc() }

// InitTiers makes the per-tier series exist before the first retry, so that
// dashboards and alerts see zeros rather than nothing.
func (m *Metrics) InitTiers(schedule delivery.Schedule) {
	for _, d := range schedule {
		m.lateness.WithLabelValues(delivery.TierName(d))
	}
}

// WatchEndpoints exports hookstream_endpoints{state} from counts, read at
// each scrape.
func (m *Metrics) WatchEndpoints(reg prometheus.Registerer, counts func() map[string]int) {
	for _, state := range []string{schema.EndpointEnabled, schema.EndpointDisabled} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookstream_endpoints", Help: "Endpoints by state, as this instance's endpoint table knows them.",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 { return float64(counts()[state]) }))
	}
}

// WatchLane exports hookstream_bulk_lane_rate_limit of a bulk stage's lane.
func (m *Metrics) WatchLane(reg prometheus.Registerer, stage string, l *Lane) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hookstream_bulk_lane_rate_limit", Help: "The rate a bulk lane's stage may work at, in tasks per second, while it yields to the fast lane (+Inf: it does not yield).",
		ConstLabels: prometheus.Labels{"stage": stage},
	}, l.Limit))
}

// Counter counts something in the store: parked deliveries, paused
// endpoints.
type Counter func(context.Context) (int64, error)

// WatchParked exports hookstream_deliveries_parked and
// hookstream_endpoints_paused, counted every interval until ctx ends.
func (m *Metrics) WatchParked(ctx context.Context, reg prometheus.Registerer, parked, paused Counter, every time.Duration) {
	type watched struct {
		gauge prometheus.Gauge
		count Counter
	}
	var gauges []watched
	for _, g := range []struct {
		name, help string
		count      Counter
	}{
		{"hookstream_deliveries_parked", "Deliveries parked until their endpoint is enabled again, or its pause ends.", parked},
		{"hookstream_endpoints_paused", "Endpoints their receivers paused (POST /v1/endpoints/{id}/pause), now.", paused},
	} {
		gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: g.name, Help: g.help})
		reg.MustRegister(gauge)
		gauges = append(gauges, watched{gauge, g.count})
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, w := range gauges {
			if n, err := w.count(ctx); err == nil {
				w.gauge.Set(float64(n))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// WatchOrdering exports hookstream_ordering_blocked_deliveries,
// hookstream_ordering_halted_keys, hookstream_ordering_oldest_halt_seconds
// and hookstream_ordering_oldest_stall_seconds, read every interval until
// ctx ends. A stalled key is logged with its endpoint and head delivery,
// which the metric cannot name.
func (m *Metrics) WatchOrdering(ctx context.Context, reg prometheus.Registerer, stats func(context.Context) (schema.OrderingStats, error),
	every time.Duration, log *slog.Logger) {
	blocked := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hookstream_ordering_blocked_deliveries", Help: "Deliveries of ordered endpoints waiting behind an earlier delivery of their key.",
	})
	halted := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hookstream_ordering_halted_keys", Help: "Ordering keys stopped at a dead head until a person retries or skips it.",
	})
	oldest := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hookstream_ordering_oldest_halt_seconds", Help: "How long the longest-halted ordering key has been halted (0: none).",
	})
	stalled := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hookstream_ordering_oldest_stall_seconds",
		Help: "How long the longest-stalled ordering key has waited for a head that is neither resolved, halted nor waiting for a retry due later (0: none).",
	})
	reg.MustRegister(blocked, halted, oldest, stalled)
	type stalledKey struct{ endpoint, head string }
	var last stalledKey
	var lastLog time.Time
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if s, err := stats(ctx); err == nil {
			blocked.Set(float64(s.Blocked))
			halted.Set(float64(s.HaltedKeys))
			oldest.Set(s.OldestHalt.Seconds())
			stalled.Set(s.OldestStall.Seconds())
			// Logged when the stalled key changes, and every 10 minutes.
			if k := (stalledKey{s.StalledEndpoint, s.StalledHead}); s.OldestStall > 0 && (k != last || time.Since(lastLog) >= 10*time.Minute) {
				last, lastLog = k, time.Now()
				log.Warn("ordering key stalled: its later deliveries wait behind a head that is neither resolved nor waiting for a retry",
					"endpoint_id", s.StalledEndpoint, "head_delivery_id", s.StalledHead, "head_sequence", s.StalledSeq,
					"stalled_for", s.OldestStall.Round(time.Second))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Quarantined returns the consumer.Config.OnQuarantine of a stage: it counts
// the stage's quarantined records. It makes the stage's series exist at
// zero at once.
func (m *Metrics) Quarantined(stage string) func(*kgo.Record, error) {
	c := m.quarantined.WithLabelValues(stage)
	return func(*kgo.Record, error) { c.Inc() }
}

package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The fair scenarios (issue 11): tenant a has a backlog of healthy
// endpoints, tenant b publishes a steady trickle to its own endpoint; b's
// latency should not wait behind a's backlog. fair runs hookstream as it
// is (its fast lane: HOOKSTREAM_TENANT_FAST_LANE_RATE, and the bulk lanes
// yielding to it: HOOKSTREAM_FAST_LANE_TARGET); fair-noyield with lanes
// that do not yield; fair-nolanes with
// the lanes off, for comparison.
//
// The run, with the pipeline up from the start:
//
//  1. b alone for -fair-baseline: its normal latency;
//  2. a's backlog, -fair-backlog events over -fair-endpoints endpoints,
//     published as fast as the producer takes it, b going on;
//  3. once a's last delivery arrived, b alone for tailFor more, then b
//     stops.
//
// b's deliveries are split by the time their event was published: before
// a's backlog was published (alone), from then until a's last delivery
// (during), after it (after).
//
// With -fair-aside=D, a's backlog goes to a topic hookstream does not
// read (asideTopic): the machine takes the burst in (the broker, the
// bench's producer) while hookstream does nothing for a. "During" is then
// D from the start of a's publishing (as long as a's drain lasts in fair,
// so that the burst weighs as much in b's p99). b's latency then is the
// floor the machine sets under any fairness hookstream could have.

// Tenants of the fair scenarios.
const (
	fairA = "a"
	fairB = "b"
)

// tailFor is how long b goes on alone after a's backlog has drained.
const tailFor = 3 * time.Second

// asideTopic takes a's backlog with -fair-aside (after the topic prefix).
const asideTopic = "bench.aside"

// fairPlan is the shape of a fair scenario and, while it runs, its phases.
type fairPlan struct {
	lanes       bool
	aside       time.Duration // a's backlog to asideTopic, "during" this long
	backlog     int           // a's events: seq 0..backlog-1
	fanout      int           // endpoints of each of a's events
	aEndpoints  int           // endpoints 0..aEndpoints-1
	aDeliveries int           // backlog × fanout
	rate        float64
	bEndpoints  int // endpoints aEndpoints..aEndpoints+bEndpoints-1
	baseline    time.Duration
	maxB        int // b's slots: seq backlog..backlog+maxB-1
	stall       time.Duration
	typeOf      func(seq int) string

	// Set by drive; read after it has returned, or through finished.
	aStart     time.Time // a's backlog handed to the producer from here
	aPublished time.Time // to here (acknowledged)
	aDrained   time.Time // a's last delivery
	dispatched time.Time // the dispatcher past a's backlog
	bSent      atomic.Int64
	finished   atomic.Bool
}

func (o options) fairPlan(name string) plan {
	f := &fairPlan{lanes: name != "fair-nolanes", aside: o.fairAside, backlog: o.fairBacklog, rate: o.fairRate,
		bEndpoints: 1, baseline: o.fairBaseline, stall: o.stall}
	// a's events go to fanout endpoints each, of aEndpoints/fanout groups.
	f.fanout = min(max(1, o.fairFanout), o.fairEndpoints)
	groups := o.fairEndpoints / f.fanout
	f.aEndpoints = groups * f.fanout
	f.aDeliveries = f.backlog * f.fanout
	if f.aside > 0 {
		f.aDeliveries = 0
	}
	// b publishes until a has drained: room for a drain at 500 deliveries/s
	// and for the stall timeout. It stops early if it runs out.
	f.maxB = int(f.rate*(f.baseline+tailFor+o.stall).Seconds() + f.rate*float64(f.aDeliveries)/500)
	bEndpoint := func(seq int) int { return f.aEndpoints + (seq-f.backlog)%f.bEndpoints }
	tenantOf := func(k int) string {
		if k < f.aEndpoints {
			return fairA
		}
		return fairB
	}
	p := plan{name: name, endpoints: f.aEndpoints + f.bEndpoints, events: f.backlog + f.maxB, rate: f.rate,
		tenants: []string{fairA, fairB}, endpointTenant: tenantOf,
		eventTenant: func(seq int) string {
			if seq < f.backlog {
				return fairA
			}
			return fairB
		},
		types: func(k int) []string {
			if k < f.aEndpoints {
				return []string{"bench.a" + strconv.Itoa(k/f.fanout)}
			}
			return []string{"bench.b" + strconv.Itoa(k)}
		},
		eventType: func(seq int) string {
			if seq < f.backlog {
				return "bench.a" + strconv.Itoa(seq%groups)
			}
			return "bench.b" + strconv.Itoa(bEndpoint(seq))
		},
		slow: func(int) bool { return false }, timeoutMS: func(int) int { return 0 },
		slots: f.aDeliveries + f.maxB,
		// a's event seq to endpoint k: slot seq×fanout + k%fanout; b's
		// after all of a's.
		expect: func(k, seq int) (int, bool) {
			if seq < f.backlog {
				return seq*f.fanout + k%f.fanout, k < f.aEndpoints && k/f.fanout == seq%groups
			}
			return f.aDeliveries + seq - f.backlog, k == bEndpoint(seq)
		},
		expected: int64(f.aDeliveries), // and b's, once known
		fair:     f}
	f.typeOf = p.eventType
	p.env = map[string]string{}
	switch rate, burst, _ := strings.Cut(o.fairLane, "/"); {
	case !f.lanes:
		p.env["HOOKSTREAM_TENANT_FAST_LANE_RATE"] = "0"
	case rate != "":
		p.env["HOOKSTREAM_TENANT_FAST_LANE_RATE"], p.env["HOOKSTREAM_TENANT_FAST_LANE_BURST"] = rate, cmp.Or(burst, rate)
	}
	if name == "fair" && o.fairTarget != "" {
		p.env["HOOKSTREAM_FAST_LANE_TARGET"] = o.fairTarget
	}
	if name != "fair" {
		// fair-noyield (and fair-nolanes, which has no bulk lanes to
		// pace): the bulk lanes do not yield to the fast lane.
		p.env["HOOKSTREAM_FAST_LANE_TARGET"] = "0"
	}
	return p
}

// group 0: a's slots; 1: b's.
func (f *fairPlan) track(tr *tracker) {
	tr.withGroups(2, func(slot int) int {
		if slot < f.aDeliveries {
			return 0
		}
		return 1
	})
}

// metric sums a metric over procs.
func metric(procs []*hsProc, name, label string) float64 {
	var sum float64
	for _, pr := range procs {
		sum += pr.metric(name, label)
	}
	return sum
}

// drive publishes b's events at rate until a's backlog, published after
// the baseline, has drained and tailFor more has passed. It notes when the
// dispatcher has read past a's backlog (procs' metrics).
func (f *fairPlan) drive(ctx context.Context, name string, pub *publisher, tr *tracker, procs []*hsProc) {
	stopB := make(chan struct{})
	bDone := make(chan struct{})
	go func() {
		defer close(bDone)
		start := time.Now()
		for i := 0; i < f.maxB; i++ {
			due := start.Add(time.Duration(float64(i) / f.rate * float64(time.Second)))
			select {
			case <-stopB:
				return
			case <-ctx.Done():
				return
			case <-time.After(time.Until(due)):
			}
			pub.publish(ctx, f.backlog+i, f.typeOf(f.backlog+i))
			f.bSent.Store(int64(i + 1))
		}
	}()
	sleep := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	fmt.Fprintf(os.Stderr, "[%s] tenant %s alone at %.0f events/s for %s\n", name, fairB, f.rate, f.baseline)
	sleep(f.baseline)
	f.aStart = time.Now()
	pub.runRange(ctx, 0, f.backlog, 0, f.typeOf)
	f.aPublished = time.Now()
	fmt.Fprintf(os.Stderr, "[%s] tenant %s's backlog: %d events published in %.1fs\n",
		name, fairA, f.backlog, f.aPublished.Sub(f.aStart).Seconds())
	// The events before the end of a's backlog: a's and b's so far.
	before := float64(f.backlog) + float64(f.bSent.Load())
	if f.aside > 0 {
		sleep(time.Until(f.aStart.Add(f.aside)))
		f.aDrained = time.Now()
		sleep(tailFor)
		close(stopB)
		<-bDone
		pub.flush(ctx)
		f.finished.Store(true)
		return
	}
	progress, last := time.Now(), int64(0)
	for ctx.Err() == nil && tr.groups[0].unique.Load() < int64(f.aDeliveries) {
		if n := tr.groups[0].unique.Load(); n != last {
			progress, last = time.Now(), n
		} else if time.Since(progress) > f.stall {
			fmt.Fprintf(os.Stderr, "[%s] no delivery of %s's for %s: %d of %d delivered\n", name, fairA, f.stall, n, f.aDeliveries)
			break
		}
		if f.dispatched.IsZero() && metric(procs, "hookstream_events_dispatched_total", "") >= before {
			f.dispatched = time.Now()
		}
		sleep(20 * time.Millisecond)
	}
	f.aDrained = time.Unix(0, tr.groups[0].last.Load())
	sleep(tailFor)
	close(stopB)
	<-bDone
	if f.bSent.Load() == int64(f.maxB) {
		fmt.Fprintf(os.Stderr, "[%s] tenant %s ran out of its %d events before %s drained\n", name, fairB, f.maxB, fairA)
	}
	pub.flush(ctx)
	f.finished.Store(true)
}

// done reports whether the run is over: b stopped and every event that
// was published delivered.
func (f *fairPlan) done(tr *tracker, pub *publisher) bool {
	return f.finished.Load() && tr.unique.Load() >= pub.acked.Load()
}

// Fair is what the fair scenarios measure besides the common fields.
// Result.Latency is b's during a's backlog, Result.PerSec a's deliveries/s.
type Fair struct {
	Lanes      bool    `json:"lanes"` // HOOKSTREAM_TENANT_FAST_LANE_RATE default, or 0
	BulkTasks  float64 `json:"bulk_tasks"`
	Backlogged Tenant  `json:"backlogged"` // a
	Steady     Tenant  `json:"steady"`     // b
	Alone      Summary `json:"steady_alone"`
	During     Summary `json:"steady_during_backlog"`
	After      Summary `json:"steady_after"`
	// During split at the time the dispatcher had read past a's backlog:
	// b's events published before it wait behind a's in the events topic,
	// those published after only behind a's tasks.
	DuringDispatch Summary `json:"steady_during_dispatch"`
	DuringDrain    Summary `json:"steady_after_dispatch"`
	P99VsAlone     float64 `json:"p99_during_vs_alone"`
	BaselineSecs   float64 `json:"baseline_s"`
	// DispatchedSecs is how long after a's backlog started the dispatcher
	// had read past it (b's events behind it in the events topic wait that
	// long, lanes or not); 0: not seen.
	DispatchedSecs float64 `json:"dispatched_s,omitempty"`
	// Outcomes of the attempts by class (hookstream_attempt_outcomes_total).
	Retrying float64 `json:"outcomes_retrying"`
	Dead     float64 `json:"outcomes_dead"`
}

// Tenant is one tenant's part of a fair scenario.
type Tenant struct {
	ID          string  `json:"id"`
	Endpoints   int     `json:"endpoints"`
	Events      int     `json:"events"` // published (acknowledged or not)
	Fanout      int     `json:"fanout,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	Delivered   int64   `json:"delivered"`
	PerSec      float64 `json:"deliveries_per_s,omitempty"` // first to last delivery
	PublishSecs float64 `json:"publish_s,omitempty"`
	DrainSecs   float64 `json:"drain_s,omitempty"` // start of its publishing to its last delivery
	Latency     Summary `json:"publish_to_2xx"`
}

// finish fills res.Fair and makes the common fields count both tenants.
func (f *fairPlan) finish(e *env, res *Result, tr *tracker, pub *publisher, procs []*hsProc) {
	fr := &Fair{Lanes: f.lanes, BaselineSecs: f.baseline.Seconds()}
	fr.BulkTasks = metric(procs, "hookstream_delivery_tasks_bulk_total", "")
	fr.Retrying = metric(procs, "hookstream_attempt_outcomes_total", `"retrying"`)
	fr.Dead = metric(procs, "hookstream_attempt_outcomes_total", `"dead"`)
	if !f.dispatched.IsZero() {
		fr.DispatchedSecs = f.dispatched.Sub(f.aStart).Seconds()
	}
	ga, gb := &tr.groups[0], &tr.groups[1]
	isA := func(slot int) bool { return slot < f.aDeliveries }
	fr.Backlogged = Tenant{ID: fairA, Endpoints: f.aEndpoints, Events: f.backlog, Fanout: f.fanout, Delivered: ga.unique.Load(),
		PerSec:      Sustained(ga.unique.Load(), time.Unix(0, ga.first.Load()), time.Unix(0, ga.last.Load())),
		PublishSecs: f.aPublished.Sub(f.aStart).Seconds(),
		Latency:     Summarize(tr.latenciesOf(func(slot int, _ time.Time) bool { return isA(slot) }))}
	if !f.aDrained.IsZero() && f.aDrained.After(f.aStart) {
		fr.Backlogged.DrainSecs = f.aDrained.Sub(f.aStart).Seconds()
	}
	fr.Steady = Tenant{ID: fairB, Endpoints: f.bEndpoints, Events: int(f.bSent.Load()), Rate: f.rate, Delivered: gb.unique.Load(),
		Latency: Summarize(tr.latenciesOf(func(slot int, _ time.Time) bool { return !isA(slot) }))}
	drained := f.aDrained
	if drained.IsZero() || drained.Before(f.aStart) {
		drained = time.Now() // a never drained: all of b from a's start is "during"
	}
	fr.Alone = Summarize(tr.latenciesOf(func(slot int, t time.Time) bool { return !isA(slot) && t.Before(f.aStart) }))
	fr.During = Summarize(tr.latenciesOf(func(slot int, t time.Time) bool {
		return !isA(slot) && !t.Before(f.aStart) && !t.After(drained)
	}))
	if !f.dispatched.IsZero() {
		fr.DuringDispatch = Summarize(tr.latenciesOf(func(slot int, t time.Time) bool {
			return !isA(slot) && !t.Before(f.aStart) && t.Before(f.dispatched)
		}))
		fr.DuringDrain = Summarize(tr.latenciesOf(func(slot int, t time.Time) bool {
			return !isA(slot) && !t.Before(f.dispatched) && !t.After(drained)
		}))
	}
	fr.After = Summarize(tr.latenciesOf(func(slot int, t time.Time) bool { return !isA(slot) && t.After(drained) }))
	if fr.Alone.P99 > 0 {
		fr.P99VsAlone = fr.During.P99 / fr.Alone.P99
	}
	res.Fair = fr
	// The common fields: every event of both tenants; the rate is a's, the
	// latency b's during a's backlog.
	res.Events = f.backlog + int(f.bSent.Load())
	res.Expected = int64(f.aDeliveries) + f.bSent.Load()
	res.Missing = res.Expected - res.Delivered
	res.ExactlyOnce = res.Missing == 0 && res.Duplicates == 0 && res.Unexpected == 0 && res.BadSig == 0 && res.BadID == 0
	res.PerSec = fr.Backlogged.PerSec
	res.Latency = fr.During
	if fr.Backlogged.PublishSecs > 0 {
		res.PublishRate = float64(f.backlog) / fr.Backlogged.PublishSecs
	}
	if f.lanes && fr.BulkTasks == 0 {
		e.note(res, "no task went to the bulk lane (hookstream_delivery_tasks_bulk_total 0 or unreadable)")
	}
	if !f.lanes && fr.BulkTasks > 0 {
		e.note(res, "%.0f tasks went to the bulk lane with the lanes off", fr.BulkTasks)
	}
}

// createAside creates the topic of -fair-aside with as many partitions as
// the events topic (topic's prefix + "events").
func createAside(ctx context.Context, brokers []string, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	events := strings.TrimSuffix(topic, asideTopic) + "events"
	td, err := adm.ListTopics(ctx, events)
	if err != nil {
		return fmt.Errorf("fair-aside: %w", err)
	}
	parts := int32(len(td[events].Partitions))
	if parts == 0 {
		return fmt.Errorf("fair-aside: topic %s not found", events)
	}
	res, err := adm.CreateTopic(ctx, parts, -1, nil, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("fair-aside: create %s: %w", topic, err)
	}
	return nil
}

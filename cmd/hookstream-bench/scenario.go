package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// plan is one scenario's shape.
type plan struct {
	name       string
	endpoints  int
	events     int
	rate       float64 // events/s; 0: as fast as possible
	prepublish bool    // publish everything before the pipeline runs (backlog)
	ingest     bool    // publish through POST /v1/events, not to Kafka (with prepublish)
	// instances > 0 runs the pipeline as one dispatch,retry process and
	// that many deliver,sink processes, as nodes of a cluster would.
	instances int
	// endpoint k's subscription, and the type of event seq
	types     func(k int) []string
	eventType func(seq int) string
	// slow endpoints answer after their timeout, timeoutMS(k) (0: default)
	slow      func(k int) bool
	timeoutMS func(k int) int
	slowDelay time.Duration
	slots     int
	expect    expectation
	expected  int64 // deliveries that must arrive
	env       map[string]string
	// tenants are created before the endpoints; endpoint k's tenant and
	// event seq's tenant (nil: the default tenant).
	tenants        []string
	endpointTenant func(k int) string
	eventTenant    func(seq int) string
	// fair, when set, publishes and decides when the run is over instead
	// of the above (see fair.go).
	fair *fairPlan
	// orderKey, when set, makes every endpoint ask for ordered delivery
	// and gives event seq its ordering key; the receiver checks the order
	// per endpoint and key (webhook-sequence).
	orderKey func(seq int) string
	// filter, when set, gives endpoint k a payload filter.
	filter func(k int) string
	// traceparent puts a W3C traceparent header on every event record.
	traceparent bool
}

// singleTarget sends event seq to endpoint seq % m only.
func singleTarget(p plan) plan {
	m := p.endpoints
	p.types = func(k int) []string { return []string{"bench.e" + strconv.Itoa(k)} }
	p.eventType = func(seq int) string { return "bench.e" + strconv.Itoa(seq%m) }
	p.slots = p.events
	if p.slow == nil {
		p.slow = func(int) bool { return false }
	}
	slow := p.slow
	p.expect = func(k, seq int) (int, bool) { return seq, seq%m == k && !slow(k) }
	for seq := range p.events {
		if !slow(seq % m) {
			p.expected++
		}
	}
	return p
}

// Sample is one point of a scenario's time series.
type Sample struct {
	T         float64 `json:"t_s"`
	Published int64   `json:"published"`
	Delivered int64   `json:"delivered"`
	RSSMiB    float64 `json:"rss_mib"` // hookstream processes, summed
}

// CPU is the average number of cores each party used while deliveries ran.
type CPU struct {
	Hookstream float64 `json:"hookstream"`
	Broker     float64 `json:"broker"`
	Bench      float64 `json:"bench"` // receiver and publisher
	Postgres   float64 `json:"postgres"`
	Machine    float64 `json:"machine"` // everything on the box, others included
	Other      float64 `json:"other"`   // machine minus the four above: other work on the box
	// HookstreamPerDelivery and OursPerDelivery are CPU microseconds per
	// delivery: of hookstream alone, and of hookstream, Kafka, the bench
	// and Postgres together.
	HookstreamPerDelivery float64 `json:"hookstream_us_per_delivery"`
	OursPerDelivery       float64 `json:"all_us_per_delivery"`
}

// Result is what a scenario measured.
type Result struct {
	Scenario  string  `json:"scenario"`
	Mode      string  `json:"mode"` // single: one process; split: one per role
	Endpoints int     `json:"endpoints"`
	Events    int     `json:"events"`
	Rate      float64 `json:"rate,omitempty"`

	Expected   int64 `json:"expected"`
	Delivered  int64 `json:"delivered"`
	Missing    int64 `json:"missing"`
	Duplicates int64 `json:"duplicates"`
	Unexpected int64 `json:"unexpected"`
	BadSig     int64 `json:"bad_signatures"`
	BadID      int64 `json:"bad_webhook_ids"`
	SlowHits   int64 `json:"slow_requests,omitempty"`
	// OrderViolations counts deliveries of ordered endpoints that arrived
	// with a webhook-sequence not above the last one of their key.
	OrderViolations int64 `json:"order_violations,omitempty"`
	ExactlyOnce     bool  `json:"exactly_once"`

	PublishRate  float64 `json:"publish_per_s"`
	DeliverySecs float64 `json:"delivery_s"` // first to last delivery
	PerSec       float64 `json:"deliveries_per_s"`
	CeilingRatio float64 `json:"ratio_to_ceiling"`
	// CPURatio is the raw ceiling's CPU per request over this scenario's
	// CPU per delivery (all parties): the ratio where CPU is the bound,
	// which other work on the machine sways less than rates.
	CPURatio float64 `json:"cpu_ratio_to_ceiling,omitempty"`
	VsMax    float64 `json:"ratio_to_max,omitempty"`
	// VsUnfiltered is fanout-filtered's rate over fanout's, measured in
	// the same run.
	VsUnfiltered  float64            `json:"ratio_to_unfiltered,omitempty"`
	Latency       Summary            `json:"publish_to_2xx"`
	PeakRSSMiB    float64            `json:"peak_rss_mib"` // hookstream, summed over processes
	ProcPeakMiB   map[string]float64 `json:"peak_rss_mib_by_process"`
	BrokerPeakMiB float64            `json:"broker_peak_rss_mib,omitempty"`

	RowsEvents     int64   `json:"rows_events"`
	RowsDeliveries int64   `json:"rows_deliveries"`
	RowsAttempts   int64   `json:"rows_attempts"`
	SinkSecs       float64 `json:"sink_s"` // first delivery to last attempt row
	RowsPerSec     float64 `json:"rows_per_s"`

	// Statements is where Postgres spent its time (pg_stat_statements,
	// when the server preloads it).
	Statements []Statement `json:"postgres_statements,omitempty"`

	CPU    CPU      `json:"cpu_cores"`
	Fair   *Fair    `json:"fair,omitempty"` // fair, fair-noyield and fair-nolanes
	Ingest *Ingest  `json:"ingest,omitempty"`
	Series []Sample `json:"series"`
	Notes  []string `json:"notes,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// env is what every scenario shares.
type env struct {
	opts    options
	bin     string
	pgAdmin string
	pgPID   int
	rcv     *receiver
	ceiling float64
	// ceilingCPU is the least CPU µs per raw request measured.
	ceilingCPU float64
	logDir     string
	runTag     string
	// profileDir keeps the CPU profiles of -profile.
	profileDir string
}

// pgCPU is the CPU seconds of the Postgres server and its backends, those
// still running and those that exited (0 when its process is not known).
func (e *env) pgCPU() float64 {
	if e.pgPID <= 0 {
		return 0
	}
	pg := cpuSeconds(e.pgPID) + reapedCPUSeconds(e.pgPID)
	for _, c := range childrenOf(e.pgPID) {
		pg += cpuSeconds(c)
	}
	return pg
}

func (e *env) note(r *Result, format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// run runs one scenario from a fresh database and topics to stopped
// processes.
func (e *env) run(ctx context.Context, p plan) (res Result) {
	o := e.opts
	mode := "single"
	if o.split {
		mode = "split"
	}
	if p.instances > 0 {
		mode = fmt.Sprintf("%d× deliver,sink", p.instances)
	}
	res = Result{Scenario: p.name, Mode: mode, Endpoints: p.endpoints, Events: p.events, Rate: p.rate,
		Expected: p.expected, ProcPeakMiB: map[string]float64{}}
	fail := func(err error) Result {
		res.Error = err.Error()
		fmt.Fprintf(os.Stderr, "[%s] error: %v\n", p.name, err)
		return res
	}
	tag := e.runTag + "_" + strings.ReplaceAll(p.name, "-", "_") // a database name
	prefix := "bench" + strings.ReplaceAll(tag, "_", "") + "."

	// Kafka: ours, fresh per scenario, unless brokers are given.
	brokers := o.brokers
	var brk *broker
	if len(brokers) == 0 {
		b, err := startBroker(ctx)
		if err != nil {
			return fail(err)
		}
		brk = b
		defer b.stop()
		brokers = b.addrs
	} else {
		defer deleteTopics(context.Background(), brokers, prefix)
	}

	// Postgres: a fresh database.
	db := "bench_" + tag
	if err := pgExec(ctx, e.pgAdmin, "CREATE DATABASE "+db); err != nil {
		return fail(fmt.Errorf("create database %s: %w", db, err))
	}
	if !o.keep {
		defer func() {
			if err := pgExec(context.Background(), e.pgAdmin, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
				fmt.Fprintf(os.Stderr, "[%s] drop database %s: %v\n", p.name, db, err)
			}
		}()
	}
	dbURL, err := withDatabase(e.pgAdmin, db)
	if err != nil {
		return fail(err)
	}
	logDir := filepath.Join(e.logDir, p.name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fail(err)
	}
	d := &deployment{bin: e.bin, logDir: logDir, prefix: prefix, brokers: brokers,
		adminTok: "hs_admin_bench" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	extra := map[string]string{
		"HOOKSTREAM_DATABASE_URL":     dbURL,
		"HOOKSTREAM_TOPIC_PARTITIONS": strconv.Itoa(o.partitions),
	}
	if o.concurrency > 0 {
		extra["HOOKSTREAM_DELIVER_CONCURRENCY"] = strconv.Itoa(o.concurrency)
	}
	if o.profile > 0 {
		extra["HOOKSTREAM_PPROF"] = "true"
	}
	for k, v := range o.set {
		extra[k] = v
	}
	for k, v := range p.env {
		extra[k] = v
	}
	d.env = d.baseEnv(extra)
	defer d.stopAll()
	if err := d.migrate(ctx); err != nil {
		return fail(err)
	}

	// Phase A: the API alone, to subscribe the endpoints (and, for the
	// backlog, to have the topics created before the events arrive).
	api, err := d.start(ctx, "api")
	if err != nil {
		return fail(err)
	}
	if err := d.createTenants(ctx, api.addr, p.tenants); err != nil {
		return fail(err)
	}
	targets, err := d.createEndpoints(ctx, api.addr, e.rcv.addr(), p.endpoints, p.types, p.timeoutMS, p.slow, p.endpointTenant,
		p.orderKey != nil, p.filter)
	if err != nil {
		return fail(err)
	}
	pub, err := newPublisher(brokers, prefix+"events", tag, o.payload)
	if err != nil {
		return fail(err)
	}
	defer pub.close()
	pub.tenant = p.eventTenant
	if p.fair != nil && p.fair.aside > 0 {
		if err := createAside(ctx, brokers, prefix+asideTopic); err != nil {
			return fail(err)
		}
		pub.topicOf = func(seq int) string {
			if seq < p.fair.backlog {
				return prefix + asideTopic
			}
			return ""
		}
	}
	if p.fair != nil && !o.fairOneProducer {
		// b is another service than a: a producer of its own.
		if err := pub.ownProducer(fairB); err != nil {
			return fail(err)
		}
	}
	pub.orderKey = p.orderKey
	pub.traceparent = p.traceparent
	tr := newTracker(targets, p.slots, p.expect, pub.eventID)
	tr.slowDelay = p.slowDelay
	if p.fair != nil {
		p.fair.track(tr)
	}
	e.rcv.cur.Store(tr)
	defer e.rcv.cur.Store(nil)

	pubStart := time.Now()
	if p.prepublish && p.ingest {
		key, err := d.createKey(ctx, api.addr, ingestTenant)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(os.Stderr, "[%s] posting %d events to POST /v1/events with %d clients before starting the pipeline\n",
			p.name, p.events, o.ingestClients)
		a0, k0, b0, p0, m0 := cpuSeconds(api.pid()), 0.0, cpuSeconds(os.Getpid()), e.pgCPU(), machineBusySeconds()
		if brk != nil {
			k0 = cpuSeconds(brk.pid())
		}
		waitProf := func() {}
		if o.profile > 0 {
			waitProf = profileProcs(ctx, e.profileDir, p.name+"-post", []*hsProc{api}, o.profile)
		}
		in := ingestHTTP(ctx, api.addr, key, p.events, o.ingestClients, o.ingestRepeat, pub, p.eventType)
		a1, k1, b1, p1, m1 := cpuSeconds(api.pid()), 0.0, cpuSeconds(os.Getpid()), e.pgCPU(), machineBusySeconds()
		if brk != nil {
			k1 = cpuSeconds(brk.pid())
		}
		waitProf()
		w := in.Secs
		in.CoresAPI, in.CoresKafk, in.CoresBnch, in.CoresPG = (a1-a0)/w, (k1-k0)/w, (b1-b0)/w, (p1-p0)/w
		in.Other = max(0, (m1-m0)/w-in.CoresAPI-in.CoresKafk-in.CoresBnch-in.CoresPG)
		res.Ingest = &in
		res.PublishRate = in.PerSec
		if in.Accepted < int64(p.events) {
			e.note(&res, "ingest: %d of %d events accepted; first error: %s", in.Accepted, p.events, in.FirstErr)
		}
	} else if p.prepublish {
		fmt.Fprintf(os.Stderr, "[%s] publishing %d events before starting the pipeline\n", p.name, p.events)
		pub.run(ctx, p.events, 0, p.eventType)
		res.PublishRate = Rate(pub.acked.Load(), time.Since(pubStart))
		fmt.Fprintf(os.Stderr, "[%s] published %d in %.1fs (%.0f/s)\n", p.name, pub.acked.Load(),
			time.Since(pubStart).Seconds(), res.PublishRate)
	}

	// Phase B: the pipeline.
	roles := []string{"dispatch", "deliver", "retry", "sink"}
	if p.instances > 0 {
		for _, r := range append([]string{"dispatch,retry"}, slices.Repeat([]string{"deliver,sink"}, p.instances)...) {
			if _, err := d.start(ctx, r); err != nil {
				return fail(err)
			}
		}
	} else if o.split {
		for _, r := range roles {
			if _, err := d.start(ctx, r); err != nil {
				return fail(err)
			}
		}
	} else {
		api.stop()
		if _, err := d.start(ctx, "api,"+strings.Join(roles, ",")); err != nil {
			return fail(err)
		}
	}
	// Every member of every stage, each partition assigned: each process
	// with the dispatch role runs HOOKSTREAM_DISPATCH_SESSIONS members of
	// both dispatch groups, and a group counted stable with its first
	// members (or between the two steps of a cooperative rebalance)
	// rebalances again as the others join, aborting the transactions under
	// way.
	sessions := 4
	if v, err := strconv.Atoi(extra["HOOKSTREAM_DISPATCH_SESSIONS"]); err == nil && v > 0 {
		sessions = v
	}
	deliverers := max(1, p.instances)
	groupPrefix := strings.TrimSuffix(prefix, ".")
	want := map[string]groupWant{
		groupPrefix + "-dispatch":      {sessions, o.partitions},
		groupPrefix + "-dispatch-bulk": {sessions, o.partitions},
		groupPrefix + "-deliver":       {deliverers, o.partitions},
		groupPrefix + "-deliver-bulk":  {deliverers, o.partitions},
		groupPrefix + "-sink":          {deliverers, o.partitions},
	}
	if !waitGroups(ctx, brokers, want, 30*time.Second) {
		e.note(&res, "consumer groups not all stable with all their members after 30s; measured anyway")
	}

	// Measure.
	procs := d.running()
	cpuOf := func() (hs, bk, self, pg, machine float64) {
		for _, pr := range procs {
			hs += cpuSeconds(pr.pid())
		}
		if brk != nil {
			bk = cpuSeconds(brk.pid())
		}
		self = cpuSeconds(os.Getpid())
		return hs, bk, self, e.pgCPU(), machineBusySeconds()
	}
	statements := resetStatements(ctx, e.pgAdmin, db)
	h0, b0, s0, p0, m0 := cpuOf()
	t0 := time.Now()
	if o.profile > 0 {
		wait := profileProcs(ctx, e.profileDir, p.name, procs, o.profile)
		defer wait()
	}

	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	var pubWG sync.WaitGroup
	switch {
	case p.fair != nil:
		pubStart = time.Now()
		pubWG.Go(func() {
			p.fair.drive(pubCtx, p.name, pub, tr, procs)
			res.PublishRate = Rate(pub.acked.Load(), time.Since(pubStart))
		})
	case !p.prepublish:
		pubWG.Go(func() {
			pub.run(pubCtx, p.events, p.rate, p.eventType)
			res.PublishRate = Rate(pub.acked.Load(), time.Since(pubStart))
		})
		pubStart = time.Now()
	}

	var maxRSS int64
	sample := func() Sample {
		var rss int64
		for _, pr := range procs {
			r, _ := memKiB(pr.pid())
			rss += r
		}
		maxRSS = max(maxRSS, rss)
		return Sample{T: time.Since(t0).Seconds(), Published: pub.acked.Load(), Delivered: tr.unique.Load(),
			RSSMiB: float64(rss) / 1024}
	}
	lastProgress, lastCount := time.Now(), int64(0)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prev := Sample{}
wait:
	for {
		select {
		case <-ctx.Done():
			e.note(&res, "interrupted")
			break wait
		case <-tick.C:
		}
		s := sample()
		res.Series = append(res.Series, s)
		fmt.Fprintf(os.Stderr, "[%s %s] %5.0fs  published %d/%d  delivered %d/%d (%.0f/s)  dup %d  rss %.0f MiB\n",
			p.name, mode, s.T, s.Published, p.events, s.Delivered, p.expected,
			float64(s.Delivered-prev.Delivered)/(s.T-prev.T), tr.dups.Load(), s.RSSMiB)
		prev = s
		if p.fair != nil {
			if p.fair.done(tr, pub) {
				break
			}
		} else if s.Delivered >= p.expected && pub.sent.Load() >= int64(p.events) {
			break
		}
		if s.Delivered != lastCount {
			lastProgress, lastCount = time.Now(), s.Delivered
		}
		if time.Since(lastProgress) > o.stall {
			e.note(&res, "no delivery for %s: stopped waiting with %d of %d delivered", o.stall, s.Delivered, p.expected)
			break
		}
		for _, pr := range procs {
			if !pr.running() {
				e.note(&res, "hookstream %s exited during the run: %v", pr.roles, pr.err)
				break wait
			}
		}
	}
	h1, b1, s1, p1, m1 := cpuOf()
	window := time.Since(t0).Seconds()
	res.CPU = CPU{Hookstream: (h1 - h0) / window, Broker: (b1 - b0) / window, Bench: (s1 - s0) / window,
		Postgres: (p1 - p0) / window, Machine: (m1 - m0) / window}
	ours := res.CPU.Hookstream + res.CPU.Broker + res.CPU.Bench + res.CPU.Postgres
	res.CPU.Other = max(0, res.CPU.Machine-ours)
	if n := tr.unique.Load(); n > 0 {
		res.CPU.HookstreamPerDelivery = (h1 - h0) / float64(n) * 1e6
		res.CPU.OursPerDelivery = ours * window / float64(n) * 1e6
	}
	stopPub()
	pubWG.Wait()
	time.Sleep(o.settle) // late duplicates
	_ = sample()

	// The sink: wait until the attempts table stops growing.
	if conn, err := pgx.Connect(ctx, dbURL); err != nil {
		e.note(&res, "count rows: %v", err)
	} else {
		lastChange, lastAttempts := time.Now(), int64(-1)
		deadline := time.Now().Add(o.stall)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			ev, dl, at, err := tableCounts(ctx, conn)
			if err != nil {
				e.note(&res, "count rows: %v", err)
				break
			}
			res.RowsEvents, res.RowsDeliveries = ev, dl
			if at != lastAttempts {
				lastChange, lastAttempts = time.Now(), at
			}
			res.RowsAttempts = at
			if at >= tr.unique.Load() && time.Since(lastChange) > 2*time.Second {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		conn.Close(context.Background())
		if first := tr.first.Load(); first > 0 {
			res.SinkSecs = lastChange.Sub(time.Unix(0, first)).Seconds()
			res.RowsPerSec = float64(res.RowsEvents+res.RowsDeliveries+res.RowsAttempts) / res.SinkSecs
		}
	}

	if statements {
		if res.Statements, err = topStatements(ctx, e.pgAdmin, db, 8); err != nil {
			e.note(&res, "pg_stat_statements: %v", err)
		}
	}

	// Peak RSS: read before each process stops.
	for _, pr := range procs {
		_, hwm := memKiB(pr.pid())
		res.PeakRSSMiB += float64(hwm) / 1024
		res.ProcPeakMiB[pr.roles] = float64(hwm) / 1024
	}
	if res.PeakRSSMiB == 0 {
		res.PeakRSSMiB = float64(maxRSS) / 1024
		e.note(&res, "VmHWM unreadable: peak RSS from 1 s samples")
	}
	if brk != nil {
		_, hwm := memKiB(brk.pid())
		res.BrokerPeakMiB = float64(hwm) / 1024
	}

	res.Delivered = tr.unique.Load()
	res.Missing = p.expected - res.Delivered
	res.Duplicates = tr.dups.Load()
	res.Unexpected = tr.unexpected.Load()
	res.BadSig = tr.badSig.Load()
	res.BadID = tr.badID.Load()
	res.SlowHits = tr.slowHits.Load()
	res.OrderViolations = tr.orderViolations.Load()
	res.ExactlyOnce = res.Missing == 0 && res.Duplicates == 0 && res.Unexpected == 0 && res.BadSig == 0 && res.BadID == 0 &&
		res.OrderViolations == 0
	if f, l := tr.first.Load(), tr.last.Load(); f > 0 {
		res.DeliverySecs = time.Duration(l - f).Seconds()
		res.PerSec = Sustained(res.Delivered, time.Unix(0, f), time.Unix(0, l))
	}
	res.Latency = Summarize(tr.latencies())
	if res.Missing > 0 {
		// Where the missing ones went, as hookstream counted them.
		e.note(&res, "missing deliveries: hookstream counted %.0f retrying and %.0f dead outcomes, %.0f tasks moved on to a retry tier, %.0f records quarantined",
			metric(procs, "hookstream_attempt_outcomes_total", `"retrying"`), metric(procs, "hookstream_attempt_outcomes_total", `"dead"`),
			metric(procs, "hookstream_tasks_moved_on_total", ""), metric(procs, "hookstream_quarantined_total", ""))
	}
	if failed := pub.failed.Load(); failed > 0 {
		e.note(&res, "%d events failed to publish", failed)
	}
	if p.fair != nil {
		p.fair.finish(e, &res, tr, pub, procs)
	}
	return res
}

// Command bench measures hookstream on one machine: a raw HTTP ceiling
// first, then scenarios that publish events to Kafka, deliver them to a
// local receiver that verifies every signature and webhook-id, and report
// deliveries/s, publish→2xx latency, peak RSS, Postgres rows/s and whether
// every delivery arrived exactly once.
//
//	go run ./cmd/hookstream-bench                            # every scenario, quick sizes
//	go run ./cmd/hookstream-bench -scenario=max -events=100000
//	go run ./cmd/hookstream-bench -full -json=bench.json     # the sizes of the targets
//
// hookstream runs as subprocesses (one, or one per role with -split) on an
// embedded Kafka in a child process, or on HOOKSTREAM_KAFKA_BROKERS, with a
// fresh Postgres database per scenario on HOOKSTREAM_DATABASE_URL's server
// or the scripts/pg-local cluster. It is a benchmark, not a test: nothing
// here asserts a time.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hookstream/hookstream/delivery"
)

var allScenarios = []string{"steady", "max", "ingest", "fanout", "fanout-filtered", "slow", "backlog", "fair", "ordered"}

// moreScenarios run only when named.
var moreScenarios = []string{"fair-noyield", "fair-nolanes", "scale", "history", "tracing"}

type options struct {
	scenarios       []string
	split           bool
	endpoints       int
	events          int
	rate            float64
	duration        time.Duration
	fanoutEndpoints int
	fanoutEvents    int
	orderedEPs      int
	orderedKeys     int
	backlog         int
	slowFraction    float64
	slowTimeout     time.Duration
	fairBacklog     int
	fairEndpoints   int
	fairFanout      int
	fairRate        float64
	fairBaseline    time.Duration
	fairLane        string
	fairTarget      string
	fairOneProducer bool
	fairAside       time.Duration
	concurrency     int
	ceilingConc     []int
	ceilingDur      time.Duration
	partitions      int
	payload         int
	stall           time.Duration
	settle          time.Duration
	bin             string
	jsonPath        string
	keep            bool
	brokers         []string
	unsafe          bool
	ingestEvents    int
	ingestClients   int
	ingestRepeat    int
	profile         time.Duration
	databaseURL     string
	historyAttempts int64
	historyDays     int
	historyQueries  int
	historyFlat     bool
	historyReuse    string
	// set is hookstream settings (HOOKSTREAM_NAME=value) every hookstream
	// process of every scenario gets, over the bench's own.
	set map[string]string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-broker-child" {
		if err := serveBroker(); err != nil {
			fmt.Fprintln(os.Stderr, "bench broker:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	known := slices.Concat(allScenarios, moreScenarios)
	scen := fs.String("scenario", "all", "scenarios, comma-separated: "+strings.Join(known, ",")+", or all (all but "+strings.Join(moreScenarios, ",")+")")
	full := fs.Bool("full", false, "the sizes of the issue's targets (defaults of the size flags change; explicit flags win)")
	fs.BoolVar(&o.split, "split", false, "run each role as its own process")
	fs.IntVar(&o.endpoints, "endpoints", 100, "endpoints of steady, max, slow and backlog")
	fs.IntVar(&o.events, "events", 20000, "events of max and slow")
	fs.Float64Var(&o.rate, "rate", 1000, "events/s of steady")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long steady publishes")
	fs.IntVar(&o.fanoutEndpoints, "fanout-endpoints", 1000, "endpoints every fanout event goes to")
	fs.IntVar(&o.fanoutEvents, "fanout-events", 20, "events of fanout")
	fs.IntVar(&o.orderedEPs, "ordered-endpoints", 10, "endpoints of ordered, each asking for ordered delivery")
	fs.IntVar(&o.orderedKeys, "ordered-keys", 100, "ordering keys of ordered, spread over its endpoints")
	fs.IntVar(&o.ingestEvents, "ingest-events", 50000, "events of ingest, posted to POST /v1/events")
	fs.IntVar(&o.ingestClients, "ingest-clients", 32, "concurrent HTTP clients of ingest")
	fs.IntVar(&o.ingestRepeat, "ingest-repeat", 10, "ingest posts every n-th event twice with the same Idempotency-Key (0: none)")
	fs.IntVar(&o.backlog, "backlog", 50000, "events of backlog, published before the pipeline starts")
	fs.Float64Var(&o.slowFraction, "slow-fraction", 0.2, "fraction of slow endpoints in slow")
	fs.DurationVar(&o.slowTimeout, "slow-timeout", time.Second, "timeout of the slow endpoints (they answer after 2×)")
	fs.IntVar(&o.fairBacklog, "fair-backlog", 50000, "events of tenant a's backlog in fair")
	fs.IntVar(&o.fairEndpoints, "fair-endpoints", 50, "endpoints of tenant a's backlog in fair")
	fs.IntVar(&o.fairFanout, "fair-fanout", 1, "endpoints each of tenant a's events goes to in fair (of -fair-endpoints)")
	fs.Float64Var(&o.fairRate, "fair-rate", 100, "events/s of tenant b in fair")
	fs.DurationVar(&o.fairAside, "fair-aside", 0, "publish tenant a's backlog in fair to a topic hookstream does not read, and count b's events as during the backlog for this long: b's latency while the machine only takes the burst in (a floor, not a fairness figure)")
	fs.BoolVar(&o.fairOneProducer, "fair-one-producer", false, "publish both tenants' events in fair with one Kafka client (b's trickle then queues behind a's backlog in the client)")
	fs.StringVar(&o.fairTarget, "fair-target", "", "how late the fast lane may be before the bulk lanes yield, in fair (HOOKSTREAM_FAST_LANE_TARGET; default: hookstream's)")
	fs.StringVar(&o.fairLane, "fair-lane", "", "each tenant's share of the fast lane in fair, as rate/burst in tasks (default: hookstream's)")
	fs.DurationVar(&o.fairBaseline, "fair-baseline", 10*time.Second, "how long tenant b publishes alone in fair before a's backlog")
	fs.IntVar(&o.concurrency, "concurrency", 0, "HOOKSTREAM_DELIVER_CONCURRENCY (0: hookstream's default)")
	ceil := fs.String("ceiling-concurrency", "128,512", "concurrencies of the raw ceiling client; the best rate is the ceiling")
	fs.DurationVar(&o.ceilingDur, "ceiling-duration", 3*time.Second, "how long each raw ceiling measurement runs")
	fs.IntVar(&o.partitions, "partitions", 12, "HOOKSTREAM_TOPIC_PARTITIONS")
	fs.IntVar(&o.payload, "payload", 200, "padding bytes in each event's data")
	fs.DurationVar(&o.stall, "stall", 30*time.Second, "stop waiting after this long without a new delivery")
	fs.DurationVar(&o.settle, "settle", time.Second, "wait after the last delivery for late duplicates")
	fs.StringVar(&o.bin, "hookstream", "", "hookstream binary (default: built from this module)")
	fs.StringVar(&o.jsonPath, "json", "", "write the results as JSON to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the databases and logs of the run")
	fs.BoolVar(&o.unsafe, "unsafe", false, "run on a Postgres cluster with fsync, synchronous_commit and full_page_writes off: fast, unsafe figures, labelled so")
	fs.DurationVar(&o.profile, "profile", 0, "take a CPU profile this long of every hookstream process at the start of each scenario's measurement (kept in .dev/bench/profiles/)")
	fs.StringVar(&o.databaseURL, "database-url", "", "a Postgres server to run on instead of the bench's own cluster (its settings are reported as they are)")
	fs.Int64Var(&o.historyAttempts, "history-attempts", 5_000_000, "attempt rows history loads (with COPY; -full: 50 million)")
	fs.IntVar(&o.historyDays, "history-days", 30, "days the rows of history span")
	fs.IntVar(&o.historyQueries, "history-queries", 200, "samples of each query history times")
	fs.StringVar(&o.historyReuse, "history-reuse", "", "history times the queries again on the partitioned database a run kept with -keep (its name), after today's migrations: no load")
	fs.BoolVar(&o.historyFlat, "history-flat", true, "history also loads the tables as they were before partitioning, for comparison (-full: false, twice 50 million attempts do not fit the bench machine's disk)")
	var sets []string
	fs.Func("set", "a hookstream setting for every process of the run, as HOOKSTREAM_NAME=value (repeatable; over the bench's own, under a scenario's)", func(v string) error {
		name, _, ok := strings.Cut(v, "=")
		if !ok || !strings.HasPrefix(name, "HOOKSTREAM_") {
			return fmt.Errorf("%q is not HOOKSTREAM_NAME=value", v)
		}
		sets = append(sets, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, v := range sets {
		name, value, _ := strings.Cut(v, "=")
		if o.set == nil {
			o.set = map[string]string{}
		}
		o.set[name] = value
	}
	if *full {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("events", func() { o.events = 200_000 })
		def("duration", func() { o.duration = 60 * time.Second })
		def("fanout-events", func() { o.fanoutEvents = 200 })
		def("backlog", func() { o.backlog = 1_000_000 })
		def("ingest-events", func() { o.ingestEvents = 300_000 })
		def("fair-backlog", func() { o.fairBacklog = 200_000 })
		def("fair-baseline", func() { o.fairBaseline = 20 * time.Second })
		def("ceiling-duration", func() { o.ceilingDur = 5 * time.Second })
		def("stall", func() { o.stall = 60 * time.Second })
		def("history-attempts", func() { o.historyAttempts = 50_000_000 })
		def("history-flat", func() { o.historyFlat = false })
	}
	if *scen == "all" {
		o.scenarios = allScenarios
	} else {
		for s := range strings.SplitSeq(*scen, ",") {
			if !slices.Contains(known, s) {
				return fmt.Errorf("unknown scenario %q (scenarios: %s, all)", s, strings.Join(known, ","))
			}
			o.scenarios = append(o.scenarios, s)
		}
	}
	for s := range strings.SplitSeq(*ceil, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-ceiling-concurrency: %q is not a positive number", s)
		}
		o.ceilingConc = append(o.ceilingConc, n)
	}
	if o.fairBacklog < 1 || o.fairEndpoints < 1 || o.fairRate <= 0 {
		return fmt.Errorf("-fair-backlog, -fair-endpoints and -fair-rate must be positive")
	}
	if o.concurrency > 0 && !slices.Contains(o.ceilingConc, o.concurrency) {
		o.ceilingConc = append(o.ceilingConc, o.concurrency)
	}
	if b := os.Getenv("HOOKSTREAM_KAFKA_BROKERS"); b != "" {
		o.brokers = strings.Split(b, ",")
	}

	repo, err := moduleDir(ctx)
	if err != nil {
		return err
	}
	if slices.Equal(o.scenarios, []string{"history"}) {
		// Postgres alone: no hookstream, broker or receiver.
		admin, err := pgAdminURL(ctx, repo, o.databaseURL, o.unsafe)
		if err != nil {
			return err
		}
		return runHistory(ctx, o, admin)
	}
	if slices.Contains(o.scenarios, "history") {
		return fmt.Errorf("-scenario=history runs alone")
	}
	runTag := strconv.FormatInt(time.Now().Unix(), 10)
	logDir := filepath.Join(repo, ".dev", "bench", runTag)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(logDir)
	}
	e := &env{opts: o, logDir: logDir, runTag: runTag, profileDir: filepath.Join(repo, ".dev", "bench", "profiles", runTag)}
	if o.profile > 0 {
		if err := os.MkdirAll(e.profileDir, 0o755); err != nil {
			return err
		}
	}
	if e.bin = o.bin; e.bin == "" {
		fmt.Fprintln(os.Stderr, "building hookstream")
		if e.bin, err = buildHookstream(ctx, logDir); err != nil {
			return err
		}
	}
	if e.pgAdmin, err = pgAdminURL(ctx, repo, o.databaseURL, o.unsafe); err != nil {
		return err
	}
	pgSet, err := pgSettings(ctx, e.pgAdmin)
	if err != nil {
		return fmt.Errorf("read the Postgres settings: %w", err)
	}
	if o.databaseURL == "" && durable(pgSet) == o.unsafe {
		c := benchClusters[o.unsafe]
		return fmt.Errorf("the bench cluster in .dev/%s does not have the %s settings (fsync=%s synchronous_commit=%s); remove it with HOOKSTREAM_PG_DIR=.dev/%s scripts/pg-local destroy",
			c.dir, c.tuning, pgSet["fsync"], pgSet["synchronous_commit"], c.dir)
	}
	e.pgPID = postmasterPID(ctx, e.pgAdmin)
	if e.rcv, err = startReceiver(); err != nil {
		return err
	}
	defer e.rcv.close()

	report := Report{Date: time.Now().UTC().Format(time.RFC3339), Commit: gitDescribe(ctx, repo),
		Go: runtime.Version(), CPUs: runtime.NumCPU(), MemGiB: memTotalGiB(), LoadBefore: loadAvg(),
		Options: o.describe(), Ceiling: map[string]float64{}, Postgres: pgSet, Durable: durable(pgSet)}
	fmt.Fprintf(os.Stderr, "Postgres: %s\n", report.postgresLine())
	for _, c := range o.ceilingConc {
		r, us := measureCeiling(ctx, e.rcv, c, o.ceilingDur)
		report.Ceiling[strconv.Itoa(c)] = r
		fmt.Fprintf(os.Stderr, "raw ceiling: %d concurrent clients: %.0f requests/s, %.0f CPU µs per request\n", c, r, us)
		e.ceiling = max(e.ceiling, r)
		e.ceilingCPU = minPositive(e.ceilingCPU, us)
	}

	var maxRes, fanoutRes *Result
	for _, name := range o.scenarios {
		if ctx.Err() != nil {
			break
		}
		if name == "scale" {
			// The same backlog drained by one deliver,sink process, then
			// by two, on the same broker and Postgres.
			var one float64
			for _, n := range []int{1, 2} {
				if ctx.Err() != nil {
					break
				}
				p := o.plan(name)
				p.instances = n
				fmt.Fprintf(os.Stderr, "\n== %s with %d deliver,sink processes: %d endpoints, %d events\n", name, n, p.endpoints, p.events)
				res := e.run(ctx, p)
				res.Scenario = fmt.Sprintf("scale-%d", n)
				if n == 1 {
					one = res.PerSec
				} else if one > 0 {
					res.VsMax = res.PerSec / one
				}
				report.Results = append(report.Results, res)
			}
			continue
		}
		if name == "tracing" {
			report.Results = append(report.Results, e.tracingRuns(ctx, o.plan(name))...)
			continue
		}
		p := o.plan(name)
		fmt.Fprintf(os.Stderr, "\n== %s: %d endpoints, %d events, %d deliveries expected\n", name, p.endpoints, p.events, p.expected)
		res := e.run(ctx, p)
		if name == "max" && res.Error == "" {
			maxRes = &res
		}
		if maxRes != nil && (name == "fanout" || name == "fanout-filtered" || name == "slow") && maxRes.PerSec > 0 {
			res.VsMax = res.PerSec / maxRes.PerSec
		}
		if name == "fanout" && res.Error == "" {
			fanoutRes = &res
		}
		if name == "fanout-filtered" && fanoutRes != nil && fanoutRes.PerSec > 0 {
			res.VsUnfiltered = res.PerSec / fanoutRes.PerSec
		}
		report.Results = append(report.Results, res)
	}
	// The ceiling again, after the scenarios: other work on the box can
	// depress one measurement; the best of both is the ceiling.
	for _, c := range o.ceilingConc {
		if ctx.Err() != nil || len(report.Results) == 0 {
			break
		}
		r, us := measureCeiling(ctx, e.rcv, c, o.ceilingDur)
		report.Ceiling[strconv.Itoa(c)+" after"] = r
		fmt.Fprintf(os.Stderr, "raw ceiling after the scenarios: %d concurrent clients: %.0f requests/s, %.0f CPU µs per request\n", c, r, us)
		e.ceiling = max(e.ceiling, r)
		e.ceilingCPU = minPositive(e.ceilingCPU, us)
	}
	report.CeilingPerSec = e.ceiling
	report.CeilingCPU = e.ceilingCPU
	for i := range report.Results {
		r := &report.Results[i]
		if e.ceiling > 0 {
			r.CeilingRatio = r.PerSec / e.ceiling
		}
		if r.CPU.OursPerDelivery > 0 {
			r.CPURatio = e.ceilingCPU / r.CPU.OursPerDelivery
		}
	}
	report.Targets = targets(report.Results, e.ceiling)
	report.print(os.Stdout)
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(report, "", "  ")
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "results written to", o.jsonPath)
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "logs kept in", logDir)
	}
	return ctx.Err()
}

// plan returns scenario name's plan for these options.
func (o options) plan(name string) plan {
	noSlow := func(int) bool { return false }
	noTimeout := func(int) int { return 0 }
	switch name {
	case "steady":
		return singleTarget(plan{name: name, endpoints: o.endpoints, events: int(o.rate * o.duration.Seconds()),
			rate: o.rate, slow: noSlow, timeoutMS: noTimeout})
	case "max", "tracing":
		return singleTarget(plan{name: name, endpoints: o.endpoints, events: o.events, slow: noSlow, timeoutMS: noTimeout})
	case "scale":
		return singleTarget(plan{name: name, endpoints: o.endpoints, events: o.events, prepublish: true,
			slow: noSlow, timeoutMS: noTimeout})
	case "backlog":
		return singleTarget(plan{name: name, endpoints: o.endpoints, events: o.backlog, prepublish: true,
			slow: noSlow, timeoutMS: noTimeout})
	case "ingest":
		in := func(int) string { return ingestTenant }
		return singleTarget(plan{name: name, endpoints: o.endpoints, events: o.ingestEvents, prepublish: true, ingest: true,
			tenants: []string{ingestTenant}, endpointTenant: in, eventTenant: in, slow: noSlow, timeoutMS: noTimeout,
			// The API's own check of a tenant's fan-out, on as by default.
			// A tenant that publishes 10,000 events/s has its event rate
			// raised; the bench lifts it.
			env: map[string]string{"HOOKSTREAM_MAX_FANOUT": "1000", "HOOKSTREAM_TENANT_EVENT_RATE": "0"}})
	case "slow":
		every := max(1, int(1/o.slowFraction+0.5)) // 0.2: every 5th endpoint
		slow := func(k int) bool { return o.slowFraction > 0 && k%every == 0 }
		ms := int(o.slowTimeout.Milliseconds())
		return singleTarget(plan{name: name, endpoints: o.endpoints, events: o.events, slow: slow,
			timeoutMS: func(k int) int {
				if slow(k) {
					return ms
				}
				return 0
			},
			slowDelay: 2 * o.slowTimeout})
	case "ordered":
		// Every endpoint ordered; event seq goes to endpoint seq % m with
		// key seq % keys (keys a multiple of m: keys/m keys per endpoint,
		// keys (endpoint, key) sequences in all).
		keys := max(1, o.orderedKeys)
		p := singleTarget(plan{name: name, endpoints: max(1, min(o.orderedEPs, keys)), events: o.events, slow: noSlow, timeoutMS: noTimeout})
		p.orderKey = func(seq int) string { return "k" + strconv.Itoa(seq%keys) }
		return p
	case "fair", "fair-noyield", "fair-nolanes":
		return o.fairPlan(name)
	case "fanout", "fanout-filtered":
		m := o.fanoutEndpoints
		var filter func(int) string
		if name == "fanout-filtered" {
			// A filter on every endpoint that reads the event's data and
			// type and lets every event through: the same deliveries as
			// fanout, plus the filters' cost.
			filter = func(k int) string {
				return `type.startsWith("bench.") && data.seq >= 0 && data.pub > ` + strconv.Itoa(k%7-10)
			}
		}
		return plan{name: name, endpoints: m, events: o.fanoutEvents, filter: filter,
			types:     func(int) []string { return []string{"*"} },
			eventType: func(int) string { return "bench.fanout" },
			slow:      noSlow, timeoutMS: noTimeout,
			slots:    o.fanoutEvents * m,
			expect:   func(k, seq int) (int, bool) { return seq*m + k, true },
			expected: int64(o.fanoutEvents * m)}
	}
	panic("unknown scenario " + name)
}

func (o options) describe() map[string]any {
	return map[string]any{
		"scenarios": o.scenarios, "split": o.split, "endpoints": o.endpoints, "events": o.events,
		"rate": o.rate, "duration": o.duration.String(), "fanout_endpoints": o.fanoutEndpoints,
		"fanout_events": o.fanoutEvents, "backlog": o.backlog, "ordered_endpoints": o.orderedEPs, "ordered_keys": o.orderedKeys,
		"ingest_events": o.ingestEvents, "ingest_clients": o.ingestClients, "ingest_repeat": o.ingestRepeat, "slow_fraction": o.slowFraction,
		"slow_timeout": o.slowTimeout.String(), "deliver_concurrency": o.concurrency,
		"fair_backlog": o.fairBacklog, "fair_endpoints": o.fairEndpoints, "fair_fanout": o.fairFanout, "fair_rate": o.fairRate,
		"fair_baseline":       o.fairBaseline.String(),
		"ceiling_concurrency": o.ceilingConc, "partitions": o.partitions, "payload": o.payload,
		"external_brokers": len(o.brokers) > 0, "unsafe": o.unsafe, "external_postgres": o.databaseURL != "",
		"set": o.set,
	}
}

// minPositive is the smaller of a and b, ignoring values not above 0.
func minPositive(a, b float64) float64 {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// measureCeiling hits the receiver straight from a Go HTTP client with
// conc concurrent requests for d: the same signed requests hookstream
// sends, the same verification. It returns requests/s and the CPU
// microseconds the bench process (client and receiver) spent per request.
func measureCeiling(ctx context.Context, rcv *receiver, conc int, d time.Duration) (perSec, cpuMicros float64) {
	tr := &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + rcv.addr() + "/raw"
	pad := strings.Repeat("x", 200)
	var seq, errs atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := rcv.raw.Load()
	cpu0 := cpuSeconds(os.Getpid())
	t0 := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := int(seq.Add(1))
				body := eventBody(n, time.Now().UnixNano(), pad)
				id := "msg_raw" + strconv.Itoa(n)
				now := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(delivery.HeaderID, id)
				req.Header.Set(delivery.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
				req.Header.Set(delivery.HeaderSignature, delivery.Sign(id, now, body, delivery.HMACKey(rawKey)))
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_ = resp.Body.Close()
			}
		})
	}
	wg.Wait()
	n := rcv.raw.Load() - start
	if n > 0 {
		cpuMicros = (cpuSeconds(os.Getpid()) - cpu0) / float64(n) * 1e6
	}
	return Rate(n, time.Since(t0)), cpuMicros
}

func moduleDir(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/hookstream/hookstream").Output()
	if err != nil {
		return "", fmt.Errorf("find the hookstream module (run from inside it): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func gitDescribe(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func memTotalGiB() float64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			return float64(kib(v)) / (1 << 20)
		}
	}
	return 0
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type options struct {
	events    int
	endpoints int
	seed      uint64
	timeout   time.Duration
	brokers   string
	kafkaPort string
	pgPort    string
	work      string
	jsonOut   string
	verbose   bool
	logLevel  string
}

// scenario applies one kind of fault to a running system.
type scenario struct {
	name string
	what string
	run  func(ctx context.Context, r *runner) error
}

var scenarios = []scenario{
	{"kill9", "kill -9 of the all-roles process at random moments, 4 times, restarting it each time", killAll},
	{"kill9-roles", "roles as separate processes; kill -9 of a random role, 6 times", killRoles},
	{"broker-restart", "the Kafka broker stopped for ~10 s mid-run, then started", brokerRestart},
	{"postgres-outage", "Postgres stopped for ~30 s mid-run, then started", postgresOutage},
	{"rebalance", "a second instance joins mid-run and leaves with SIGTERM", rebalance},
	{"sigterm", "SIGTERM mid-run: exits within the grace period, then restarts", sigterm},
	{"ordered", "ordered endpoints failing a quarter of attempts at random; kill -9 twice, then a rebalance; checks each key's order", ordered},
	{"poison", "random bytes, bad JSON, wrong types, oversized records, forged types among good events", poison},
}

func main() {
	var o options
	names := flag.String("scenarios", "all", "comma-separated scenarios, or all: "+scenarioNames())
	flag.IntVar(&o.events, "events", 20000, "events per run (one delivery each)")
	flag.IntVar(&o.endpoints, "endpoints", 50, "endpoints the events are spread over")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the fault timing and the poison")
	flag.DurationVar(&o.timeout, "timeout", 6*time.Minute, "bound on one run")
	flag.StringVar(&o.kafkaPort, "kafka-port", "19092", "port of scripts/kafka-local's broker")
	flag.StringVar(&o.pgPort, "pg-port", "54349", "port of the harness's own Postgres cluster (apart from the dev cluster's 54329 and the bench's 54338 and 54339)")
	flag.StringVar(&o.work, "work", ".dev/faults", "work directory (binary, logs, Postgres data)")
	flag.StringVar(&o.jsonOut, "json", "", "write the results as JSON to this file")
	flag.BoolVar(&o.verbose, "v", false, "log progress")
	flag.StringVar(&o.logLevel, "log-level", "warn", "HOOKSTREAM_LOG_LEVEL of the processes (their logs are in -work/logs)")
	flag.Parse()
	o.brokers = "127.0.0.1:" + o.kafkaPort

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var todo []scenario
	for _, s := range scenarios {
		if *names == "all" || contains(strings.Split(*names, ","), s.name) {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		log.Fatalf("no scenario matches %q (have %s)", *names, scenarioNames())
	}
	env, err := prepare(ctx, o)
	if err != nil {
		log.Fatal(err)
	}
	defer env.close()

	var results []result
	failed := false
	for i, s := range todo {
		rng := rand.New(rand.NewPCG(o.seed, uint64(i)))
		fmt.Printf("== %s: %s\n", s.name, s.what)
		res := env.runScenario(ctx, s, rng)
		results = append(results, res)
		printResult(res)
		if !res.ok() {
			failed = true
		}
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tevents\tdeliveries\tdead\tlost\tduplicates\tinvalid\tquarantined\twall\tresult\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", r.Scenario, r.Events, r.Delivered, r.Dead, r.Lost,
			r.Duplicates, r.Invalid, r.Quarantined, r.Wall.Round(time.Second), r.verdict())
	}
	tw.Flush()
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			log.Print(err)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func scenarioNames() string {
	var n []string
	for _, s := range scenarios {
		n = append(n, s.name)
	}
	return strings.Join(n, ",")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if strings.TrimSpace(y) == x {
			return true
		}
	}
	return false
}

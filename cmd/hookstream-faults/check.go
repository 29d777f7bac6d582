package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

// result is what one run reports.
type result struct {
	Scenario   string `json:"scenario"`
	Events     int    `json:"events"`
	Delivered  int    `json:"delivered"`  // deliveries answered 2xx
	Dead       int    `json:"dead"`       // recorded dead (endpoints that always fail)
	Lost       int    `json:"lost"`       // neither: must be 0
	Duplicates int    `json:"duplicates"` // 2xx answers beyond the first per webhook-id
	Unrecorded int    `json:"unrecorded"` // delivered or dead, but not so in Postgres: must be 0
	Invalid    int    `json:"invalid"`    // records in the invalid topic
	WantInv    int    `json:"want_invalid"`
	// Quarantined counts records in the quarantine topic: must be 0, as
	// nothing a run publishes is poison and an outage never quarantines.
	Quarantined int `json:"quarantined"`
	Attempts    int `json:"attempts"` // requests the receiver answered
	// HangingClosed counts the hanging transactions hookstream found and
	// closed (see consumer/hanging.go), from its logs.
	HangingClosed int           `json:"hanging_closed"`
	Wall          time.Duration `json:"wall_ns"`
	Err           string        `json:"error,omitempty"`
}

func (r result) ok() bool {
	return r.Err == "" && r.Lost == 0 && r.Unrecorded == 0 && r.Invalid == r.WantInv && r.Quarantined == 0
}

func (r result) verdict() string {
	if r.ok() {
		return "ok"
	}
	return "FAIL"
}

func printResult(r result) {
	fmt.Printf("   events %d, delivered %d, dead %d, lost %d, duplicates %d, unrecorded %d, invalid %d/%d, quarantined %d, attempts %d, %v — %s\n",
		r.Events, r.Delivered, r.Dead, r.Lost, r.Duplicates, r.Unrecorded, r.Invalid, r.WantInv, r.Quarantined, r.Attempts,
		r.Wall.Round(time.Second), r.verdict())
	if r.HangingClosed > 0 {
		fmt.Printf("   hookstream closed %d hanging transaction(s) Kafka had left without markers\n", r.HangingClosed)
	}
	if r.Err != "" {
		fmt.Printf("   error: %s\n", r.Err)
	}
}

// runScenario runs one scenario from a fresh system to its verdict.
func (e *env) runScenario(ctx context.Context, s scenario, rng *rand.Rand) (res result) {
	res = result{Scenario: s.name, Events: e.o.events}
	start := time.Now()
	defer func() { res.Wall = time.Since(start) }()
	ctx, cancel := context.WithTimeout(ctx, e.o.timeout)
	defer cancel()
	r, err := e.newRunner(ctx, s.name, rng)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer r.close()
	if err := s.run(ctx, r); err != nil {
		res.Err = err.Error()
	}
	settled := r.settle(ctx, &res)
	if !settled && res.Err == "" {
		res.Err = "not settled within " + e.o.timeout.String()
	}
	res.WantInv = r.wantInvalid
	res.HangingClosed = r.countLogged("closed a hanging transaction")
	if n, err := r.countTopic(ctx, r.prefix+"events.invalid"); err == nil {
		res.Invalid = n
	} else if res.Err == "" {
		res.Err = "count invalid: " + err.Error()
	}
	if n, err := r.countTopic(ctx, r.prefix+"quarantine"); err == nil {
		res.Quarantined = n
	} else if res.Err == "" {
		res.Err = "count quarantined: " + err.Error()
	}
	return res
}

// settle waits until every delivery is answered 2xx or recorded dead and
// Postgres has caught up, then fills in the counts.
func (r *runner) settle(ctx context.Context, res *result) bool {
	n := r.e.o.events
	for {
		status, err := r.statuses(ctx)
		ok, attempts := r.rcv.snapshot()
		if err == nil {
			*res = r.count(*res, ok, status, attempts)
			if r.published.Load() == int64(n) && res.Lost == 0 && res.Unrecorded == 0 {
				return true
			}
		}
		r.logf("waiting: published %d/%d, delivered %d, dead %d, missing %d, unrecorded %d",
			r.published.Load(), n, res.Delivered, res.Dead, res.Lost, res.Unrecorded)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

// count compares the expected deliveries with the receiver and Postgres.
func (r *runner) count(res result, ok map[string]int, status map[string]string, attempts int) result {
	res.Delivered, res.Dead, res.Lost, res.Duplicates, res.Unrecorded, res.Attempts = 0, 0, 0, 0, 0, attempts
	for i := 0; i < r.e.o.events; i++ {
		id := r.deliveryID(i)
		st := status[id]
		switch {
		case ok[id] > 0:
			res.Delivered++
			res.Duplicates += ok[id] - 1
			if st != "succeeded" {
				res.Unrecorded++
			}
		case st == "dead":
			res.Dead++
		default:
			res.Lost++
		}
	}
	return res
}

// statuses reads every delivery's status from Postgres.
func (r *runner) statuses(ctx context.Context) (map[string]string, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(qctx, r.dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(qctx, "SELECT id, status FROM deliveries")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, rows.Err()
}

// countLogged counts the lines of the run's process logs that contain msg.
func (r *runner) countLogged(msg string) int {
	files, _ := filepath.Glob(filepath.Join(r.logs, "*.log"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			n += bytes.Count(b, []byte(msg))
		}
	}
	return n
}

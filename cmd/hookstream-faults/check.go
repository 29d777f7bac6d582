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
	HangingClosed int `json:"hanging_closed"`
	// OrderViolations counts, in the ordered scenario, deliveries the
	// receiver accepted while an earlier one of their endpoint and key had
	// neither been accepted before nor been given up: must be 0.
	OrderViolations int           `json:"order_violations"`
	Wall            time.Duration `json:"wall_ns"`
	Err             string        `json:"error,omitempty"`
}

func (r result) ok() bool {
	return r.Err == "" && r.Lost == 0 && r.Unrecorded == 0 && r.Invalid == r.WantInv && r.Quarantined == 0 &&
		r.OrderViolations == 0
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
	if r.Scenario == "ordered" {
		fmt.Printf("   order violations %d (deliveries accepted before an earlier one of their key was accepted or given up)\n", r.OrderViolations)
	}
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
	if r.ordered {
		if n, err := r.orderViolations(ctx); err == nil {
			res.OrderViolations = n
		} else if res.Err == "" {
			res.Err = "check order: " + err.Error()
		}
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

// orderViolations checks the order in which the receiver accepted each
// key's deliveries: accepting number t is a violation when some earlier
// number of the key had not been accepted before it and was never given
// up (no dead attempt in Postgres). A repeat of a number already accepted
// is a duplicate, counted apart. 2xx answers without the sequence headers
// count as violations.
func (r *runner) orderViolations(ctx context.Context) (int, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(qctx, r.dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(qctx, `SELECT DISTINCT d.endpoint_id, d.ordering_key, d.seq FROM deliveries d
		JOIN attempts a ON a.delivery_id = d.id WHERE a.outcome = 'dead' AND d.seq IS NOT NULL`)
	if err != nil {
		return 0, err
	}
	index := map[string]int{}
	for k, id := range r.endpoints {
		index[id] = k
	}
	type numbered struct {
		key orderKey
		seq int64
	}
	dead := map[numbered]bool{}
	for rows.Next() {
		var ep, key string
		var seq int64
		if err := rows.Scan(&ep, &key, &seq); err != nil {
			rows.Close()
			return 0, err
		}
		dead[numbered{orderKey{index[ep], key}, seq}] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	r.rcv.mu.Lock()
	defer r.rcv.mu.Unlock()
	violations := r.rcv.unnumbered
	for key, seqs := range r.rcv.accepted {
		seen := map[int64]bool{}
		for _, t := range seqs {
			if !seen[t] {
				for s := int64(1); s < t; s++ {
					if !seen[s] && !dead[numbered{key, s}] {
						violations++
						r.logf("order violation: endpoint %d key %s: %d accepted before %d", key.endpoint, key.key, t, s)
						break
					}
				}
			}
			seen[t] = true
		}
	}
	return violations, nil
}

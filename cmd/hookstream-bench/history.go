package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/schema"
	"github.com/hookstream/hookstream/seal"
)

// The history scenario (issue 17, partitioned history) loads the same
// generated history, -history-attempts attempt rows over -history-days
// days, with COPY into a database with the partitioned tables, one
// partition a day ("partitioned"), and (unless -history-flat=false) one
// with the unpartitioned tables of the migrations before 0011 ("flat").
// The partitioned database is loaded with the schema of migration 0013:
// it times the history queries of the API and the console there with the
// statements hookstream ran before the queries were fixed ("partitioned,
// before": beforeStore), applies migration 0014 (its indexes), and times
// them again with hookstream's own store methods, the SQL the handlers run
// today ("partitioned"). Then one retention pass on each (dropping the
// oldest day's partitions; the batched DELETE of the same rows on the flat
// tables), the migrations from 0011 on the flat database, and the queries
// again on the migrated one (everything in its legacy partition).
//
// Each event goes to 4 endpoints of its tenant; each delivery has 1 to 3
// attempts (2 on average): 8 attempts, 4 deliveries and 1 event per 8
// attempts. Rows are generated in time order, as they are written.

// historyResult is what the history scenario measured.
type historyResult struct {
	Attempts   int64   `json:"attempts"`
	Deliveries int64   `json:"deliveries"`
	Events     int64   `json:"events"`
	Days       int     `json:"days"`
	LoadLoad   float64 `json:"load_before"`
	// The Postgres server's settings that bound the figures.
	Postgres map[string]string `json:"postgres"`
	// Load seconds by layout (COPY of the three tables, indexes in place).
	LoadSecs map[string]float64 `json:"load_s"`
	// Bytes on disk of the three tables and their indexes, by layout.
	Bytes map[string]int64 `json:"bytes"`
	// Query summaries, by layout then query.
	Queries map[string]map[string]Summary `json:"queries"`
	// Retention of the oldest day: seconds by layout, and rows it removed.
	RetentionSecs map[string]float64 `json:"retention_s"`
	RetentionRows map[string]int64   `json:"retention_rows"`
	// MigrationSecs: the migrations from 0011 on the flat database;
	// IndexSecs: migration 0014 on the loaded partitioned one.
	MigrationSecs float64  `json:"migration_s"`
	IndexSecs     float64  `json:"index_s"`
	LoadAfter     float64  `json:"load_after"`
	Notes         []string `json:"notes,omitempty"`
}

const (
	histTenants   = 100
	histEndpoints = 10 // per tenant
	histFanout    = 4
)

type histGen struct {
	attempts int64
	days     int
	end      time.Time
}

func (g histGen) events() int64 { return g.attempts / 8 }

// eventAt is when event i was received (and created): spread evenly over
// the days before end.
func (g histGen) eventAt(i int64) time.Time {
	span := time.Duration(g.days) * 24 * time.Hour
	return g.end.Add(-span + time.Duration(float64(span)*float64(i)/float64(g.events())))
}

func histTenant(i int64) string { return fmt.Sprintf("tenant_%03d", i%histTenants) }
func histEndpoint(i int64, k int) string {
	return fmt.Sprintf("ep_%03d_%02d", i%histTenants, (int(i/histTenants)+k)%histEndpoints)
}
func histEventID(i int64) string { return fmt.Sprintf("evt_%010d", i) }

// deliveryOf is delivery k of event i: its id and attempt count (1-3).
func deliveryOf(i int64, k int) (string, int) {
	return schema.DeliveryID(histTenant(i), histEventID(i), histEndpoint(i, k)), 1 + int((i*histFanout+int64(k))%3)
}

// status is the status a delivery with n attempts ends in: most succeed,
// one in ten is dead.
func histStatus(i int64, k int, n int) (string, int) {
	if (i+int64(k))%10 == 0 {
		return "dead", 500
	}
	if n == 3 && (i+int64(k))%7 == 0 {
		return "retrying", 503
	}
	return "succeeded", 200
}

// load copies the generated history into the database at url; partitioned
// adds the dedupe keys of the events.
func (g histGen) load(ctx context.Context, url string, partitioned bool) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	n := g.events()
	data := `{"order":"ord_123456","amount":4200,"currency":"eur","customer":{"id":"cus_42","email":"a@example.com"}}`
	if partitioned {
		var i int64
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"event_keys"}, []string{"tenant", "id", "received_at", "src_partition", "src_offset"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i >= n {
					return nil, nil
				}
				at := g.eventAt(i)
				i++
				return []any{histTenant(i - 1), histEventID(i - 1), at, int32((i - 1) % 12), i - 1}, nil
			})); err != nil {
			return fmt.Errorf("copy event_keys: %w", err)
		}
	}
	var i int64
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"events"},
		[]string{"tenant", "id", "type", "data", "created_at", "received_at", "src_partition", "src_offset"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= n {
				return nil, nil
			}
			at := g.eventAt(i)
			i++
			return []any{histTenant(i - 1), histEventID(i - 1), fmt.Sprintf("order.t%d", (i-1)%5), data, at, at,
				int32((i - 1) % 12), i - 1}, nil
		})); err != nil {
		return fmt.Errorf("copy events: %w", err)
	}
	i = 0
	k := 0
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"deliveries"},
		[]string{"id", "tenant", "endpoint_id", "event_id", "event_type", "status", "attempts", "last_status_code",
			"next_attempt_at", "created_at", "updated_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if k == histFanout {
				i, k = i+1, 0
			}
			if i >= n {
				return nil, nil
			}
			at := g.eventAt(i)
			id, made := deliveryOf(i, k)
			status, code := histStatus(i, k, made)
			var next *time.Time
			if status == "retrying" {
				t := at.Add(time.Hour)
				next = &t
			}
			row := []any{id, histTenant(i), histEndpoint(i, k), histEventID(i), fmt.Sprintf("order.t%d", i%5), status,
				int32(made), int32(code), next, at, at.Add(time.Duration(made) * time.Minute)}
			k++
			return row, nil
		})); err != nil {
		return fmt.Errorf("copy deliveries: %w", err)
	}
	i, k = 0, 0
	a := 1
	cols := []string{"delivery_id", "attempt", "tenant", "endpoint_id", "outcome", "status_code", "latency_us", "response_body", "attempted_at"}
	if partitioned {
		cols = append(cols, "delivery_created_at") // migration 0015's column, added ahead (runHistory)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"attempts"}, cols,
		pgx.CopyFromFunc(func() ([]any, error) {
			for {
				if i >= n {
					return nil, nil
				}
				id, made := deliveryOf(i, k)
				if a > made {
					a, k = 1, k+1
					if k == histFanout {
						i, k = i+1, 0
					}
					continue
				}
				status, code := histStatus(i, k, made)
				outcome := "failed"
				if a == made {
					outcome = status
				} else {
					code = 503
				}
				at := g.eventAt(i).Add(time.Duration(a) * time.Minute)
				row := []any{id, int32(a), histTenant(i), histEndpoint(i, k), outcome, int32(code),
					int64(20000 + (i*7919+int64(a))%200000), "ok", at}
				if partitioned {
					row = append(row, g.eventAt(i))
				}
				a++
				return row, nil
			}
		})); err != nil {
		return fmt.Errorf("copy attempts: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE")
	return err
}

// schemaBefore applies the migrations before the one named before,
// recorded as applied, so that Migrate later applies the rest: the tables
// as an older hookstream left them.
func schemaBefore(ctx context.Context, url, before string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	names, err := fs.Glob(schema.Migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	for _, path := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "migrations/"), ".sql")
		if name >= before {
			break
		}
		sql, _ := fs.ReadFile(schema.Migrations, path)
		if _, err := conn.Exec(ctx, string(sql)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name); err != nil {
			return err
		}
	}
	return nil
}

func openStore(ctx context.Context, url string) (*postgres.DB, error) {
	box, err := seal.New(make([]byte, seal.KeySize))
	if err != nil {
		return nil, err
	}
	return postgres.Open(ctx, url, box)
}

// historyQueries times each history query of the API and the console
// samples times, with random tenants, endpoints and deliveries, and
// returns their summaries.
func (g histGen) historyQueries(ctx context.Context, db histStore, samples int) (map[string]Summary, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	out := map[string]Summary{}
	type query struct {
		name string
		run  func() error
	}
	var ev int64
	// Events of the first two days are left out: retention removes the
	// first before the queries run on the migrated database.
	skip := g.events() * 2 / int64(g.days)
	pick := func() { ev = skip + rng.Int64N(g.events()-skip) }
	ago := func(d time.Duration) *time.Time { t := g.end.Add(-d); return &t }
	day := 24 * time.Hour
	queries := []query{
		{"GET /v1/deliveries (newest 50)", func() error {
			_, err := db.Deliveries(ctx, schema.DeliveryFilter{Tenant: histTenant(ev), Limit: 51})
			return err
		}},
		{"GET /v1/deliveries?endpoint_id", func() error {
			_, err := db.Deliveries(ctx, schema.DeliveryFilter{Tenant: histTenant(ev), EndpointID: histEndpoint(ev, 0), Limit: 51})
			return err
		}},
		{"GET /v1/deliveries?event_id", func() error {
			_, err := db.Deliveries(ctx, schema.DeliveryFilter{Tenant: histTenant(ev), EventID: histEventID(ev), Limit: 51})
			return err
		}},
		{"GET /v1/deliveries?status=dead", func() error {
			_, err := db.Deliveries(ctx, schema.DeliveryFilter{Tenant: histTenant(ev), Status: "dead", Limit: 51})
			return err
		}},
		{"GET /v1/deliveries (page at a random time)", func() error {
			at := g.eventAt(ev)
			_, err := db.Deliveries(ctx, schema.DeliveryFilter{Tenant: histTenant(ev), Before: &schema.Cursor{CreatedAt: at, ID: "msg_~"}, Limit: 51})
			return err
		}},
		{"GET /v1/deliveries/{id} + attempts", func() error {
			id, _ := deliveryOf(ev, 0)
			ds, err := db.Deliveries(ctx, schema.DeliveryFilter{Tenant: histTenant(ev), ID: id, Limit: 1})
			if err == nil && len(ds) != 1 {
				err = fmt.Errorf("delivery %s not found", id)
			}
			if err != nil {
				return err
			}
			_, err = db.Attempts(ctx, histTenant(ev), id)
			return err
		}},
		{"GET /v1/attempts (last hour)", func() error {
			_, err := db.AttemptFeed(ctx, schema.FeedFilter{Tenant: histTenant(ev), Since: *ago(time.Hour), Limit: 101})
			return err
		}},
		{"GET /v1/attempts?endpoint_id (a day ago)", func() error {
			_, err := db.AttemptFeed(ctx, schema.FeedFilter{Tenant: histTenant(ev), EndpointID: histEndpoint(ev, 0),
				Since: *ago(day + time.Hour), Until: ago(day), Limit: 101})
			return err
		}},
		{"console search: type, status, one day", func() error {
			since := g.eventAt(ev).Truncate(day)
			until := since.Add(day)
			_, err := db.Deliveries(ctx, schema.DeliveryFilter{Tenant: histTenant(ev), EventType: fmt.Sprintf("order.t%d", ev%5),
				Status: "dead", Since: &since, Until: &until, Limit: 51})
			return err
		}},
		{"console endpoint health (1 h)", func() error {
			_, err := db.EndpointStats(ctx, histTenant(ev), []string{histEndpoint(ev, 0)}, *ago(time.Hour))
			return err
		}},
	}
	for _, q := range queries {
		// Warm-up: the first calls plan and fill the cache.
		for range 5 {
			pick()
			if err := q.run(); err != nil {
				return out, fmt.Errorf("%s: %w", q.name, err)
			}
		}
		ds := make([]time.Duration, 0, samples)
		for range samples {
			pick()
			t0 := time.Now()
			if err := q.run(); err != nil {
				return out, fmt.Errorf("%s: %w", q.name, err)
			}
			ds = append(ds, time.Since(t0))
		}
		out[q.name] = Summarize(ds)
		fmt.Fprintf(os.Stderr, "  %-45s p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", q.name, out[q.name].P50, out[q.name].P99, out[q.name].Max)
	}
	return out, nil
}

func tableBytes(ctx context.Context, url string) int64 {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0
	}
	defer conn.Close(ctx)
	var n int64
	_ = conn.QueryRow(ctx, `SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
		WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
			AND (c.relname ~ '^(events|deliveries|attempts)' OR c.relname = 'event_keys')`).Scan(&n)
	return n
}

// The migrations that bound the layouts: flat is the schema before the
// first, partitioned is loaded with the schema before the second and
// queried before and after it.
const (
	histPartitionMigration = "0011_partitioned_history"
	histIndexMigration     = "0014_history_indexes"
	histDeliveryTimeColumn = "ALTER TABLE attempts ADD COLUMN IF NOT EXISTS delivery_created_at timestamptz"
)

// reuseHistory times the queries again on the partitioned database of an
// earlier run kept with -keep (name), after applying the migrations
// hookstream has since: no load, no before, no retention. The history's
// end is its newest delivery; -history-attempts and -history-days must be
// those of the run that made it.
func reuseHistory(ctx context.Context, o options, admin, name string) error {
	url, err := withDatabase(admin, name)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	g := histGen{attempts: o.historyAttempts, days: o.historyDays}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var last time.Time
	if err := conn.QueryRow(ctx, `SELECT max(created_at) FROM deliveries`).Scan(&last); err != nil {
		return err
	}
	g.end = last.Add(time.Duration(float64(time.Duration(g.days)*24*time.Hour) / float64(g.events())))
	res := historyResult{Attempts: g.events() * 8, Deliveries: g.events() * histFanout, Events: g.events(), Days: g.days,
		LoadLoad: loadAvg(), Queries: map[string]map[string]Summary{}}
	if set, err := pgSettings(ctx, admin); err == nil {
		res.Postgres = set
	}
	t0 := time.Now()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	res.IndexSecs = time.Since(t0).Seconds()
	res.Notes = append(res.Notes, fmt.Sprintf("reused %s (history ending %s); migrations applied now: %v (%.1f s)",
		name, g.end.Format(time.RFC3339), applied, res.IndexSecs))
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "== history, reusing %s: %d attempts over %d days ending %s (load %.1f); migrations %v\nqueries on partitioned:\n",
		name, res.Attempts, g.days, g.end.Format(time.RFC3339), res.LoadLoad, applied)
	if res.Queries["partitioned"], err = g.historyQueries(ctx, db, o.historyQueries); err != nil {
		return err
	}
	res.LoadAfter = loadAvg()
	res.print(os.Stdout)
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		return os.WriteFile(o.jsonPath, append(b, '\n'), 0o644)
	}
	return nil
}

// runHistory runs the history scenario alone.
func runHistory(ctx context.Context, o options, admin string) error {
	if o.historyReuse != "" {
		return reuseHistory(ctx, o, admin, o.historyReuse)
	}
	g := histGen{attempts: o.historyAttempts, days: o.historyDays, end: time.Now().UTC()}
	res := historyResult{Attempts: g.events() * 8, Deliveries: g.events() * histFanout, Events: g.events(), Days: g.days,
		LoadLoad: loadAvg(), LoadSecs: map[string]float64{}, Bytes: map[string]int64{},
		Queries: map[string]map[string]Summary{}, RetentionSecs: map[string]float64{}, RetentionRows: map[string]int64{}}
	if set, err := pgSettings(ctx, admin); err == nil {
		res.Postgres = set
	}
	layouts := []string{"partitioned"}
	if o.historyFlat {
		layouts = []string{"flat", "partitioned"}
	}
	tag := fmt.Sprint(time.Now().Unix())
	urls := map[string]string{}
	for _, layout := range layouts {
		name := "bench_history_" + layout + "_" + tag
		if err := pgExec(ctx, admin, "CREATE DATABASE "+name); err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
		if !o.keep {
			defer func() { _ = pgExec(context.Background(), admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") }()
		}
		u, err := withDatabase(admin, name)
		if err != nil {
			return err
		}
		urls[layout] = u
	}
	fmt.Fprintf(os.Stderr, "== history: %d attempts, %d deliveries, %d events over %d days (load %.1f)\n",
		res.Attempts, res.Deliveries, res.Events, g.days, res.LoadLoad)

	// Flat: today's tables before partitioning.
	if o.historyFlat {
		if err := schemaBefore(ctx, urls["flat"], histPartitionMigration); err != nil {
			return err
		}
	}
	// Partitioned: the migrations before 0014, one partition a day over
	// the data.
	if err := schemaBefore(ctx, urls["partitioned"], histIndexMigration); err != nil {
		return err
	}
	// Migration 0015's column, added ahead so that the load fills it as
	// the sink writes it (no query of before 0014 reads it; 0015 then
	// finds it there).
	if err := pgExec(ctx, urls["partitioned"], histDeliveryTimeColumn); err != nil {
		return err
	}
	part, err := openStore(ctx, urls["partitioned"])
	if err != nil {
		return err
	}
	defer part.Close()
	if _, err := part.EnsurePartitions(ctx, g.end.Add(-time.Duration(g.days+1)*24*time.Hour), 24*time.Hour, g.days+4); err != nil {
		return err
	}

	for _, layout := range layouts {
		fmt.Fprintf(os.Stderr, "loading %s …\n", layout)
		t0 := time.Now()
		if err := g.load(ctx, urls[layout], layout == "partitioned"); err != nil {
			return fmt.Errorf("load %s: %w", layout, err)
		}
		res.LoadSecs[layout] = time.Since(t0).Seconds()
		res.Bytes[layout] = tableBytes(ctx, urls[layout])
		fmt.Fprintf(os.Stderr, "loaded %s in %.1f s, %.1f GiB (load %.1f)\n", layout, res.LoadSecs[layout],
			float64(res.Bytes[layout])/(1<<30), loadAvg())
	}

	var flat *postgres.DB
	if o.historyFlat {
		if flat, err = openStore(ctx, urls["flat"]); err != nil {
			return err
		}
		defer flat.Close()
		// The statements of before too: today's need the columns of
		// later migrations.
		fpool, err := pgxpool.New(ctx, urls["flat"])
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "queries on flat (the statements of 6df7edb):\n")
		res.Queries["flat"], err = g.historyQueries(ctx, beforeStore{DB: flat, pool: fpool}, o.historyQueries)
		fpool.Close()
		if err != nil {
			return fmt.Errorf("flat: %w", err)
		}
	}

	// The partitioned tables before and after migration 0014, on the
	// same rows.
	pool, err := pgxpool.New(ctx, urls["partitioned"])
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "queries on partitioned, before (migration 0013, the statements of 6df7edb):\n")
	q, err := g.historyQueries(ctx, beforeStore{DB: part, pool: pool}, o.historyQueries)
	pool.Close()
	if err != nil {
		return fmt.Errorf("partitioned before: %w", err)
	}
	res.Queries["partitioned-before"] = q
	t0 := time.Now()
	if _, err := part.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate partitioned: %w", err)
	}
	res.IndexSecs = time.Since(t0).Seconds()
	if err := pgExec(ctx, urls["partitioned"], "ANALYZE"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "migrations from %s: %.1f s (load %.1f)\nqueries on partitioned:\n", histIndexMigration, res.IndexSecs, loadAvg())
	if res.Queries["partitioned"], err = g.historyQueries(ctx, part, o.historyQueries); err != nil {
		return fmt.Errorf("partitioned: %w", err)
	}

	// Retention of the oldest day. Partitioned: one pass of RetainHistory
	// (the day's partitions dropped). Flat: what retention did before,
	// DELETE of 1000 rows per statement until none is older.
	cutoff := g.end.Add(-time.Duration(g.days-1) * 24 * time.Hour).Truncate(24 * time.Hour)
	t0 = time.Now()
	rr, err := part.RetainHistory(ctx, cutoff, 1000, 0)
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	res.RetentionSecs["partitioned"] = time.Since(t0).Seconds()
	res.RetentionRows["partitioned"] = rr.Deleted["event_keys"]
	res.Notes = append(res.Notes, fmt.Sprintf("partitioned retention dropped %d partitions and deleted %d event keys",
		len(rr.Dropped), rr.Deleted["event_keys"]))
	fmt.Fprintf(os.Stderr, "retention of one day: partitioned %.3f s (%d partitions dropped, %d event keys deleted)\n",
		res.RetentionSecs["partitioned"], len(rr.Dropped), rr.Deleted["event_keys"])
	if o.historyFlat {
		if err := g.flatRetention(ctx, urls["flat"], cutoff, &res); err != nil {
			return err
		}
		// The migrations from 0011 on the flat database, and the queries
		// again there.
		t0 = time.Now()
		if _, err := flat.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		res.MigrationSecs = time.Since(t0).Seconds()
		fmt.Fprintf(os.Stderr, "migrations from 0011 on the flat database: %.1f s\nqueries on migrated:\n", res.MigrationSecs)
		if err := pgExec(ctx, urls["flat"], "ANALYZE"); err != nil {
			return err
		}
		if res.Queries["migrated"], err = g.historyQueries(ctx, flat, o.historyQueries); err != nil {
			return fmt.Errorf("migrated: %w", err)
		}
	}
	res.LoadAfter = loadAvg()

	res.print(os.Stdout)
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// flatRetention deletes the rows of the flat tables dated before cutoff
// as retention did before partitioning, 1000 a statement, timed.
func (g histGen) flatRetention(ctx context.Context, url string, cutoff time.Time, res *historyResult) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	t0 := time.Now()
	for table, col := range map[string]string{"attempts": "attempted_at", "deliveries": "created_at", "events": "received_at"} {
		for {
			tag, err := conn.Exec(ctx, `DELETE FROM `+table+` WHERE ctid = ANY(ARRAY(
				SELECT ctid FROM `+table+` WHERE `+col+` < $1 LIMIT 1000))`, cutoff)
			if err != nil {
				return err
			}
			res.RetentionRows["flat"] += tag.RowsAffected()
			if tag.RowsAffected() < 1000 {
				break
			}
		}
	}
	res.RetentionSecs["flat"] = time.Since(t0).Seconds()
	fmt.Fprintf(os.Stderr, "retention of one day: flat %.1f s (%d rows deleted)\n", res.RetentionSecs["flat"], res.RetentionRows["flat"])
	return nil
}

func (r historyResult) print(w io.Writer) {
	fmt.Fprintf(w, "\nhistory: %d attempts, %d deliveries, %d events over %d days (load %.1f before, %.1f after)\n",
		r.Attempts, r.Deliveries, r.Events, r.Days, r.LoadLoad, r.LoadAfter)
	fmt.Fprintf(w, "postgres: %v\n", r.Postgres)
	titles := map[string]string{"flat": "flat", "partitioned-before": "partitioned, before (0013)",
		"partitioned": "partitioned", "migrated": "migrated (legacy partition)"}
	var layouts []string
	for _, l := range []string{"flat", "partitioned-before", "partitioned", "migrated"} {
		if r.Queries[l] != nil {
			layouts = append(layouts, l)
		}
	}
	for _, l := range []string{"flat", "partitioned"} {
		if secs, ok := r.LoadSecs[l]; ok {
			fmt.Fprintf(w, "%s: COPY load %.1f s, %.2f GiB (tables and indexes)\n", l, secs, float64(r.Bytes[l])/(1<<30))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "p50 / p99")
	for _, l := range layouts {
		fmt.Fprintf(tw, "\t%s", titles[l])
	}
	fmt.Fprintln(tw)
	var names []string
	for n := range r.Queries["partitioned"] {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(tw, "%s", n)
		for _, l := range layouts {
			if s, ok := r.Queries[l][n]; ok {
				fmt.Fprintf(tw, "\t%.2f / %.2f ms", s.P50, s.P99)
			} else {
				fmt.Fprintf(tw, "\t")
			}
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	if secs, ok := r.RetentionSecs["partitioned"]; ok {
		fmt.Fprintf(w, "retention of the oldest day, partitioned: %.3f s (detach and drop)\n", secs)
	}
	if secs, ok := r.RetentionSecs["flat"]; ok {
		fmt.Fprintf(w, "retention of the oldest day, flat: %.1f s (DELETE of %d rows)\n", secs, r.RetentionRows["flat"])
	}
	if r.LoadSecs != nil {
		fmt.Fprintf(w, "migrations from %s on the loaded partitioned database: %.1f s\n", histIndexMigration, r.IndexSecs)
	}
	if r.Queries["migrated"] != nil {
		fmt.Fprintf(w, "migrations from 0011 on the flat database: %.1f s\n", r.MigrationSecs)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

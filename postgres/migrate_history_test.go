package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// The writes of hookstream before migration 0011, as its ClaimEvents and
// WriteAttempts made them (one row per claim, attempt and delivery, with
// the same conflict handling), so that the migration is tried on rows as
// they are in a running database.
const (
	oldClaim = `INSERT INTO events (tenant, id, type, data, created_at, received_at, src_partition, src_offset)
		SELECT t, i, ty, d::json, c, r, p, o
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::int[], $8::bigint[])
			AS u(t, i, ty, d, c, r, p, o)
		ON CONFLICT (tenant, id) DO NOTHING`
	oldAttempt = `INSERT INTO attempts (delivery_id, attempt, tenant, endpoint_id, outcome, status_code,
			error, latency_us, response_body, response_truncated, attempted_at, response_body_base64)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, 0), NULLIF($7, ''), $8, NULLIF($9, ''), $10, $11, $12)
		ON CONFLICT (delivery_id, attempt) DO NOTHING`
	oldDelivery = `INSERT INTO deliveries AS d (id, tenant, endpoint_id, event_id, event_type, status, attempts,
			last_status_code, last_error, next_attempt_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, 0), NULLIF($9, ''), $10, $11, $12)
		ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, attempts = GREATEST(d.attempts, EXCLUDED.attempts),
			last_status_code = COALESCE(EXCLUDED.last_status_code, d.last_status_code), last_error = EXCLUDED.last_error,
			next_attempt_at = EXCLUDED.next_attempt_at, updated_at = EXCLUDED.updated_at
		WHERE d.updated_at <= EXCLUDED.updated_at`
)

// columns lists the columns of table, in order, for a SELECT.
func columns(t *testing.T, conn *pgx.Conn, table string) string {
	t.Helper()
	var cols string
	err := conn.QueryRow(context.Background(), `SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`, table).Scan(&cols)
	testenv.Must(t, err, "columns of "+table)
	return cols
}

// digest is a hash of every row of table, in a stable order, the columns
// cols as text: equal digests, equal rows (later migrations may add
// columns).
func digest(t *testing.T, conn *pgx.Conn, table, cols, order string) (int, string) {
	t.Helper()
	var n int
	var h string
	err := conn.QueryRow(context.Background(), `SELECT count(*), COALESCE(md5(string_agg(r::text, '|' ORDER BY `+order+`)), '')
		FROM (SELECT `+cols+` FROM `+table+`) r`).Scan(&n, &h)
	testenv.Must(t, err, "digest "+table)
	return n, h
}

// Migration 0011 takes a database written by the hookstream before it
// (unpartitioned tables, rows from long ago, from now, and from a
// publisher's far future) to partitioned tables without losing or changing
// a row; the migrated history then works like the new one: the dedupe gate
// knows the old events, new partitions are made after the legacy one,
// retention prunes it.
func TestMigrationPartitionsExistingHistory(t *testing.T) {
	ctx := context.Background()
	db, url := openDB(t)
	_, err := db.MigrateUpTo(ctx, "0010_event_cloudevent")
	testenv.Must(t, err, "migrate to 0010")
	raw, err := pgx.Connect(ctx, url)
	testenv.Must(t, err, "connect")
	defer raw.Close(ctx)

	now := time.Now().UTC()
	times := []time.Time{now.Add(-90 * day), now.Add(-3 * day), now, now.Add(-time.Minute), time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC)}
	var (
		tenants, ids, types, data []string
		created, received         []time.Time
		parts                     []int32
		offs                      []int64
	)
	const events = 300
	for i := range events {
		at := times[i%len(times)]
		tenants = append(tenants, []string{"acme", "globex"}[i%2])
		ids = append(ids, fmt.Sprintf("evt_%d", i))
		types = append(types, "invoice.paid")
		data = append(data, fmt.Sprintf(`{"n": %d, "s": "caf\u00e9"}`, i))
		created = append(created, at)
		r := at
		if r.After(now) {
			r = now
		}
		received = append(received, r)
		parts = append(parts, int32(i%3))
		offs = append(offs, int64(i))
	}
	_, err = raw.Exec(ctx, oldClaim, tenants, ids, types, data, created, received, parts, offs)
	testenv.Must(t, err, "old claims")
	for i := range events {
		for ep := range 2 {
			id := schema.DeliveryID(tenants[i], ids[i], fmt.Sprintf("ep_%d", ep))
			for n := 1; n <= 1+i%3; n++ {
				at := received[i].Add(time.Duration(n) * time.Second)
				outcome, code := "failed", 500
				if n == 1+i%3 {
					outcome, code = "succeeded", 200
				}
				_, err = raw.Exec(ctx, oldAttempt, id, n, tenants[i], fmt.Sprintf("ep_%d", ep), outcome, code,
					"", int64(1000*n), "body", false, at, false)
				testenv.Must(t, err, "old attempt")
				_, err = raw.Exec(ctx, oldDelivery, id, tenants[i], fmt.Sprintf("ep_%d", ep), ids[i], types[i], outcome, n,
					code, "", nil, created[i], at)
				testenv.Must(t, err, "old delivery")
			}
		}
	}
	orders := map[string]string{"events": "r.tenant, r.id", "deliveries": "r.id", "attempts": "r.delivery_id, r.attempt"}
	type sum struct {
		n int
		h string
	}
	before := map[string]sum{}
	cols := map[string]string{}
	for table, order := range orders {
		cols[table] = columns(t, raw, table)
		n, h := digest(t, raw, table, cols[table], order)
		before[table] = sum{n, h}
	}
	if before["attempts"].n != 2*(100+200+300) || before["deliveries"].n != 600 || before["events"].n != events {
		t.Fatalf("populated %v", before)
	}

	applied, err := db.Migrate(ctx)
	testenv.Must(t, err, "migrate")
	if !slices.Contains(applied, "0011_partitioned_history") {
		t.Fatalf("applied %v", applied)
	}
	for table, order := range orders {
		n, h := digest(t, raw, table, cols[table], order)
		if (sum{n, h}) != before[table] {
			t.Errorf("%s: %d rows (digest %s) after the migration, %d (%s) before", table, n, h, before[table].n, before[table].h)
		}
		var kind string
		testenv.Must(t, raw.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE relname = $1`, table).Scan(&kind), "relkind")
		if kind != "p" {
			t.Errorf("%s is of kind %q after the migration, want partitioned", table, kind)
		}
	}
	tdb := testDB{DB: db, raw: raw}
	if got := tdb.partitionOf(t, "deliveries", "created_at > '2100-01-01'"); !slices.Equal(got, []string{"deliveries_default"}) {
		t.Errorf("deliveries of the far future are in %v, want the default partition", got)
	}
	if got := tdb.partitionOf(t, "attempts", "attempted_at < now()"); !slices.Equal(got, []string{"attempts_legacy"}) {
		t.Errorf("past attempts are in %v, want the legacy partition", got)
	}

	// Migration 0014: the attempts of a tenant by time on every partition;
	// the partitions without an end keep an index of time alone, for
	// retention's DELETE.
	for _, part := range []string{"attempts_legacy", "attempts_default"} {
		if n := tdb.count(t, `SELECT count(*) FROM pg_index WHERE indrelid = $1::regclass
			AND pg_get_indexdef(indexrelid) LIKE '%(attempted_at)'`, part); n != 1 {
			t.Errorf("%s has %d indexes of attempted_at alone, want 1", part, n)
		}
		if n := tdb.count(t, `SELECT count(*) FROM pg_index WHERE indrelid = $1::regclass
			AND pg_get_indexdef(indexrelid) LIKE '%(tenant, attempted_at)'`, part); n != 1 {
			t.Errorf("%s has %d indexes of (tenant, attempted_at), want 1", part, n)
		}
	}

	// The dedupe gate knows every old event.
	if n := tdb.count(t, `SELECT count(*) FROM event_keys`); n != events {
		t.Errorf("%d event keys, want %d", n, events)
	}
	fresh, err := db.ClaimEvents(ctx, []schema.Claim{claim("acme", "evt_0", 9, 9), claim("globex", "evt_1", 1, 1), claim("acme", "evt_new", 0, 1)})
	testenv.Must(t, err, "ClaimEvents")
	if !slices.Equal(fresh, []bool{false, true, true}) {
		t.Errorf("claims after the migration %v, want [duplicate, the re-read first claim, new]", fresh)
	}

	// The sink goes on writing the migrated deliveries.
	late := attemptAt(schema.DeliveryID("acme", "evt_0", "ep_0"), created[0], now)
	late.Tenant, late.EventID, late.Attempt = "acme", "evt_0", 2
	testenv.Must(t, db.WriteAttempts(ctx, []schema.Attempt{late}, schema.DisableRule{}, nil), "WriteAttempts")
	if n := tdb.count(t, `SELECT count(*) FROM deliveries WHERE id = $1`, late.DeliveryID); n != 1 {
		t.Errorf("%d rows of a migrated delivery after a new attempt", n)
	}

	// New partitions start where the legacy one ends; retention prunes it
	// by rows until it lies wholly before the cutoff.
	made, err := db.EnsurePartitions(ctx, now, day, 2)
	testenv.Must(t, err, "EnsurePartitions")
	legacyEnd := now.Truncate(day).Add(day)
	if want := "attempts_p" + legacyEnd.Format("20060102") + "_0000"; len(made) == 0 || made[0] != want {
		t.Errorf("made %v, want the first at %s", made, want)
	}
	res, err := db.RetainHistory(ctx, now.Add(-30*day), 1000, 0)
	testenv.Must(t, err, "RetainHistory")
	if len(res.Dropped) != 0 || res.Deleted["attempts"] == 0 || res.Deleted["events"] != int64(events/len(times)) {
		t.Errorf("retention after the migration: %+v, want the 90-day-old rows deleted from the legacy partitions", res)
	}
	if n := tdb.count(t, `SELECT count(*) FROM events WHERE received_at < now() - interval '30 days'`); n != 0 {
		t.Errorf("%d old events outlived retention", n)
	}
}

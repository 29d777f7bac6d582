package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/schema"
)

// histDay0 is the first day of the history these tests write, one
// partition a day.
var histDay0 = time.Date(2031, 3, 4, 0, 0, 0, 0, time.UTC)

// historyOverDays writes deliveries of two tenants over days days, each
// in its day's partition, with every status, two endpoints and two event
// types, and returns them as stored.
func historyOverDays(t *testing.T, db testDB, days int) []schema.Delivery {
	t.Helper()
	ctx := context.Background()
	_, err := db.EnsurePartitions(ctx, histDay0, day, days)
	testenv.Must(t, err, "EnsurePartitions")
	statuses := []schema.Outcome{schema.OutcomeSucceeded, schema.OutcomeDead, schema.OutcomeRetrying,
		schema.OutcomeSucceeded, schema.OutcomeParked}
	var batch []schema.Attempt
	for d := range days {
		for j := range 10 {
			created := histDay0.Add(time.Duration(d)*day + time.Duration(j)*2*time.Hour)
			a := attemptAt(fmt.Sprintf("msg_%d_%d", d, j), created, created.Add(time.Minute))
			a.Tenant = []string{"acme", "acme", "globex"}[j%3]
			a.EndpointID = fmt.Sprintf("ep_%d", j%2)
			a.EventID = fmt.Sprintf("evt_%d_%d", d, j)
			a.EventType = []string{"a.b", "c.d"}[j%4/2]
			a.Outcome = statuses[j%len(statuses)]
			batch = append(batch, a)
		}
	}
	writeAttempts(t, db, batch...)
	all, err := db.Deliveries(ctx, schema.DeliveryFilter{AllTenants: true, Limit: 1000})
	testenv.Must(t, err, "Deliveries")
	if len(all) != len(batch) {
		t.Fatalf("%d deliveries stored, want %d", len(all), len(batch))
	}
	return all
}

// matches is the meaning of a filter, for the deliveries it should find.
func matches(f schema.DeliveryFilter, d schema.Delivery) bool {
	return (f.AllTenants || d.Tenant == f.Tenant) &&
		(f.ID == "" || d.ID == f.ID) &&
		(f.EndpointID == "" || d.EndpointID == f.EndpointID) &&
		(f.EventID == "" || d.EventID == f.EventID) &&
		(f.EventType == "" || d.EventType == f.EventType) &&
		(f.Status == "" || d.Status == f.Status) &&
		(f.Since == nil || !d.CreatedAt.Before(*f.Since)) &&
		(f.Until == nil || d.CreatedAt.Before(*f.Until)) &&
		(f.Before == nil || d.CreatedAt.Before(f.Before.CreatedAt) ||
			(d.CreatedAt.Equal(f.Before.CreatedAt) && d.ID < f.Before.ID))
}

func ids(ds []schema.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// Each filter of GET /v1/deliveries and the console's search is its own
// statement now: each finds what the filter means, newest first, and a
// listing paged three at a time with the cursors the API hands out finds
// the same deliveries in the same order, across partitions.
func TestDeliveriesFilters(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	all := historyOverDays(t, db, 4)
	since, until := histDay0.Add(day+3*time.Hour), histDay0.Add(3*day)
	for _, f := range []schema.DeliveryFilter{
		{Tenant: "acme"},
		{Tenant: "globex"},
		{Tenant: "nobody"},
		{},
		{AllTenants: true},
		{Tenant: "acme", ID: "msg_2_4"},
		{Tenant: "globex", ID: "msg_2_4"}, // another tenant's
		{Tenant: "acme", EndpointID: "ep_1"},
		{Tenant: "acme", EventID: "evt_3_1"},
		{Tenant: "acme", Status: "succeeded"},
		{Tenant: "acme", Status: "dead"},
		{Tenant: "globex", Status: "retrying"},
		{Tenant: "acme", Status: "parked", EndpointID: "ep_0"},
		{Tenant: "acme", Status: "blocked"},
		{Tenant: "acme", EventType: "c.d", Status: "dead"},
		{Tenant: "acme", Since: &since, Until: &until},
		{Tenant: "acme", Since: &since, Status: "dead"},
		{AllTenants: true, Until: &since, EndpointID: "ep_0"},
	} {
		var want []string
		for _, d := range all {
			if matches(f, d) {
				want = append(want, d.ID)
			}
		}
		f.Limit = 1000
		got, err := db.Deliveries(ctx, f)
		testenv.Must(t, err, "Deliveries")
		if !slices.Equal(ids(got), want) {
			t.Errorf("%+v found %v, want %v", f, ids(got), want)
		}
		// Three at a time, each page after the last of the one before.
		var paged []string
		f.Limit = 3
		for range len(all) {
			page, err := db.Deliveries(ctx, f)
			testenv.Must(t, err, "Deliveries")
			if len(page) > 3 {
				t.Fatalf("%+v: a page of %d", f, len(page))
			}
			paged = append(paged, ids(page)...)
			if len(page) < 3 {
				break
			}
			f.Before = &schema.Cursor{CreatedAt: page[2].CreatedAt, ID: page[2].ID}
		}
		if !slices.Equal(paged, want) {
			t.Errorf("%+v paged three at a time found %v, want %v", f, paged, want)
		}
	}
}

// explain returns the plan of sql with args, in text, as the pool's
// connections run it: a prepared statement, with the custom plan of its
// first executions or, with generic, the generic plan Postgres caches for
// it after five.
func (tdb testDB) explain(t *testing.T, generic bool, sql string, args ...any) string {
	t.Helper()
	return tdb.explainWith(t, "EXPLAIN", generic, sql, args...)
}

// explainWith is explain with EXPLAIN's options: "EXPLAIN (ANALYZE)".
func (tdb testDB) explainWith(t *testing.T, explain string, generic bool, sql string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	mode := "force_custom_plan"
	if generic {
		mode = "force_generic_plan"
	}
	_, err := tdb.raw.Exec(ctx, "SET plan_cache_mode = "+mode)
	testenv.Must(t, err, "plan_cache_mode")
	_, err = tdb.raw.Exec(ctx, "PREPARE q AS "+sql)
	testenv.Must(t, err, "PREPARE")
	defer func() { _, _ = tdb.raw.Exec(ctx, "DEALLOCATE q") }()
	// The arguments as literals: EXPLAIN EXECUTE takes no parameters of
	// its own.
	params := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			params[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case time.Time:
			params[i] = "'" + v.Format(time.RFC3339Nano) + "'::timestamptz"
		case int:
			params[i] = strconv.Itoa(v)
		default:
			t.Fatalf("explain: argument %d is a %T", i+1, a)
		}
	}
	rows, err := tdb.raw.Query(ctx, explain+" EXECUTE q("+strings.Join(params, ", ")+")")
	testenv.Must(t, err, "EXPLAIN")
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		testenv.Must(t, rows.Scan(&l), "scan")
		lines = append(lines, l)
	}
	testenv.Must(t, rows.Err(), "EXPLAIN")
	return strings.Join(lines, "\n")
}

// partitionsIn returns the partitions of parts the plan reads.
func partitionsIn(plan string, parts []postgres.Partition) []string {
	var out []string
	for _, p := range parts {
		if strings.Contains(plan, " "+p.Name+" ") {
			out = append(out, p.Name)
		}
	}
	return out
}

// A page after a cursor reads only the partitions up to the cursor's
// time, and the attempt feed only those from its since or its cursor on,
// in the custom plans of a statement's first executions and in the
// generic plan Postgres caches for it after (pruned when it starts); the
// listing of a status reads the index of the deliveries that did not
// succeed, in both plans too.
func TestHistoryQueriesPrunePartitions(t *testing.T) {
	db := newTestDB(t)
	historyOverDays(t, db, 4)
	ctx := context.Background()
	dparts, err := db.Partitions(ctx, "deliveries")
	testenv.Must(t, err, "Partitions")
	aparts, err := db.Partitions(ctx, "attempts")
	testenv.Must(t, err, "Partitions")
	name := func(table string, d int) string {
		return table + "_p" + histDay0.Add(time.Duration(d)*day).Format("20060102") + "_0000"
	}
	upTo := func(table string, last int) []string { // the day partitions up to day last, and the DEFAULT one
		var out []string
		for d := range last + 1 {
			out = append(out, name(table, d))
		}
		return append(out, table+"_default")
	}
	cursor := &schema.Cursor{CreatedAt: histDay0.Add(day + 4*time.Hour), ID: "msg_1_2"}
	since := histDay0.Add(2*day + time.Hour)
	for _, generic := range []bool{false, true} {
		sql, args := postgres.DeliveriesQuery(schema.DeliveryFilter{Tenant: "acme", Before: cursor, Limit: 51})
		got := partitionsIn(db.explain(t, generic, sql, args...), dparts)
		if want := upTo("deliveries", 1); !slices.Equal(got, want) {
			t.Errorf("generic %v: a page after a cursor of day 1 reads %v, want %v", generic, got, want)
		}

		sql, args = postgres.FeedQuery(schema.FeedFilter{Tenant: "acme", Since: since, Limit: 101})
		feedParts := partitionsIn(db.explain(t, generic, sql, args...), aparts)
		if slices.Contains(feedParts, name("attempts", 1)) || !slices.Contains(feedParts, name("attempts", 2)) {
			t.Errorf("generic %v: the feed since day 2 reads %v, want day 2 on", generic, feedParts)
		}
		sql, args = postgres.FeedQuery(schema.FeedFilter{Tenant: "acme", Since: histDay0.Add(-day), Limit: 101,
			After: &schema.FeedCursor{At: since, DeliveryID: "msg_2_0", Attempt: 1}})
		feedParts = partitionsIn(db.explain(t, generic, sql, args...), aparts)
		if slices.Contains(feedParts, name("attempts", 1)) || !slices.Contains(feedParts, name("attempts", 2)) {
			t.Errorf("generic %v: the feed after a cursor of day 2 reads %v, want day 2 on", generic, feedParts)
		}

		// On a few rows the planner reads whole tables: without that
		// choice, the index it can use is the one it takes.
		_, err := db.raw.Exec(ctx, "SET enable_seqscan = off")
		testenv.Must(t, err, "enable_seqscan")
		sql, args = postgres.DeliveriesQuery(schema.DeliveryFilter{Tenant: "acme", Status: "dead", Limit: 51})
		if plan := db.explain(t, generic, sql, args...); !strings.Contains(plan, "tenant_status_created_at_id_idx") {
			t.Errorf("generic %v: the listing of dead deliveries does not read the status index:\n%s", generic, plan)
		}
		sql, args = postgres.FeedQuery(schema.FeedFilter{Tenant: "acme", Since: since, Limit: 101})
		if plan := db.explain(t, generic, sql, args...); !strings.Contains(plan, "tenant_attempted_at_idx") {
			t.Errorf("generic %v: the feed does not read the tenant's index of attempts:\n%s", generic, plan)
		}
		_, err = db.raw.Exec(ctx, "RESET enable_seqscan")
		testenv.Must(t, err, "enable_seqscan")
	}
}

// The attempt feed finds each attempt's delivery (its event id and type)
// in the one partition of deliveries that the attempt's
// delivery_created_at names, and the deliveries of attempts written before
// migration 0015 (none) by id in every partition, in custom and generic
// plans.
func TestAttemptFeedJoinsOnePartition(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	all := historyOverDays(t, db, 4)
	// An attempt as hookstream wrote it before migration 0015, of a
	// delivery of day 3.
	_, err := db.raw.Exec(ctx, `INSERT INTO attempts (delivery_id, attempt, tenant, endpoint_id, outcome, latency_us, attempted_at)
		VALUES ('msg_3_0', 2, 'acme', 'ep_0', 'succeeded', 1000, $1)`, histDay0.Add(3*day+time.Hour))
	testenv.Must(t, err, "old attempt")
	events := map[string]schema.Delivery{}
	for _, d := range all {
		events[d.ID] = d
	}
	since := histDay0.Add(2*day + time.Hour)
	feed, err := db.AttemptFeed(ctx, schema.FeedFilter{Tenant: "acme", Since: since, Limit: 100})
	testenv.Must(t, err, "AttemptFeed")
	var old bool
	for _, a := range feed {
		d := events[a.DeliveryID]
		if a.EventID != d.EventID || a.EventType != d.EventType || a.EventID == "" {
			t.Errorf("attempt %d of %s: event %q of type %q, want %q of %q", a.Attempt, a.DeliveryID, a.EventID, a.EventType, d.EventID, d.EventType)
		}
		old = old || (a.DeliveryID == "msg_3_0" && a.Attempt == 2)
	}
	// acme's seven deliveries a day, days 2 (but the one of 00:00) and 3,
	// and the old attempt.
	if want := 6 + 7 + 1; len(feed) != want || !old {
		t.Errorf("the feed since day 2 has %d attempts (the old one: %v), want %d with it", len(feed), old, want)
	}

	// The deliveries of days 2 and 3 are all the feed's attempts need:
	// two partitions read, the others pruned as the join runs.
	sql, args := postgres.FeedQuery(schema.FeedFilter{Tenant: "acme", Since: since, Until: ptr(histDay0.Add(3*day + 30*time.Minute)), Limit: 100})
	for _, generic := range []bool{false, true} {
		plan := db.explainWith(t, "EXPLAIN (ANALYZE, COSTS OFF)", generic, sql, args...)
		var read []string
		for _, l := range strings.Split(plan, "\n") {
			if strings.Contains(l, " on deliveries_") && !strings.Contains(l, "never executed") {
				read = append(read, strings.Fields(l[strings.Index(l, " on deliveries_"):])[1])
			}
		}
		slices.Sort(read)
		if want := []string{"deliveries_p20310306_0000", "deliveries_p20310307_0000"}; !slices.Equal(slices.Compact(read), want) {
			t.Errorf("generic %v: the feed of days 2 and 3 read the deliveries of %v, want %v:\n%s", generic, read, want, plan)
		}
	}
}

func ptr[T any](v T) *T { return &v }

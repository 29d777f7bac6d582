package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/schema"
)

const day = 24 * time.Hour

// attemptAt is a first, successful attempt of delivery id, made at at, of
// an event created at created.
func attemptAt(id string, created, at time.Time) schema.Attempt {
	return schema.Attempt{V: schema.Version, DeliveryID: id, EndpointID: "ep_1", Tenant: "acme",
		EventID: "evt_" + id, EventType: "a.b", EventCreatedAt: created, Attempt: 1, Outcome: schema.OutcomeSucceeded,
		StatusCode: 200, Sent: true, At: at}
}

// partitionOf names the partition holding the rows of table that match
// where.
func (tdb testDB) partitionOf(t *testing.T, table, where string, args ...any) []string {
	t.Helper()
	rows, err := tdb.raw.Query(context.Background(), `SELECT DISTINCT tableoid::regclass::text FROM `+table+` WHERE `+where, args...)
	testenv.Must(t, err, "partition of")
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		testenv.Must(t, rows.Scan(&s), "scan")
		out = append(out, s)
	}
	return out
}

func names(parts []postgres.Partition) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p.Name)
	}
	return out
}

func TestEnsurePartitionsMakesThemAhead(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	now := time.Date(2031, 3, 4, 15, 30, 0, 0, time.UTC)
	made, err := db.EnsurePartitions(ctx, now, day, 2)
	testenv.Must(t, err, "EnsurePartitions")
	if len(made) != 9 {
		t.Errorf("made %v, want today's and two days ahead for each of 3 tables", made)
	}
	for _, table := range postgres.HistoryTables {
		parts, err := db.Partitions(ctx, table)
		testenv.Must(t, err, "Partitions")
		want := []string{table + "_p20310304_0000", table + "_p20310305_0000", table + "_p20310306_0000", table + "_default"}
		if !slices.Equal(names(parts), want) {
			t.Errorf("%s partitions %v, want %v", table, names(parts), want)
		}
		if p := parts[0]; !p.From.Equal(time.Date(2031, 3, 4, 0, 0, 0, 0, time.UTC)) || !p.To.Equal(p.From.Add(day)) {
			t.Errorf("%s first partition [%v, %v), want the UTC day of now", table, p.From, p.To)
		}
		if !parts[3].Default {
			t.Errorf("%s: last partition is not the default", table)
		}
	}
	// Each partition of deliveries and attempts tells the planner that an
	// endpoint belongs to one tenant.
	if n := db.count(t, `SELECT count(*) FROM pg_statistic_ext s JOIN pg_inherits i ON i.inhrelid = s.stxrelid
		WHERE i.inhparent IN ('deliveries'::regclass, 'attempts'::regclass) AND 'f' = ANY(s.stxkind)`); n != 8 {
		t.Errorf("%d partitions of deliveries and attempts have dependency statistics, want 8 (3 new and the default each)", n)
	}
	if made, err := db.EnsurePartitions(ctx, now.Add(time.Hour), day, 2); err != nil || len(made) != 0 {
		t.Errorf("second pass the same day made %v (%v), want nothing", made, err)
	}
	made, err = db.EnsurePartitions(ctx, now.Add(day), day, 2)
	testenv.Must(t, err, "next day")
	if !slices.Equal(made, []string{"attempts_p20310307_0000", "deliveries_p20310307_0000", "events_p20310307_0000"}) {
		t.Errorf("next day made %v, want one more day of each table", made)
	}

	// A shorter interval starts where the daily partitions end.
	made, err = db.EnsurePartitions(ctx, now.Add(3*day), 6*time.Hour, 8)
	testenv.Must(t, err, "six-hour interval")
	if len(made) == 0 || made[0] != "attempts_p20310308_0000" {
		t.Errorf("six-hour partitions %v, want them to start at the end of the daily ones", made)
	}

	// Rows land in the partition of their time.
	testenv.Must(t, db.WriteAttempts(ctx, []schema.Attempt{attemptAt("msg_a", now, now.Add(day))}, schema.DisableRule{}, nil), "WriteAttempts")
	if got := db.partitionOf(t, "attempts", "delivery_id = 'msg_a'"); !slices.Equal(got, []string{"attempts_p20310305_0000"}) {
		t.Errorf("attempt made on the 5th is in %v", got)
	}
	if got := db.partitionOf(t, "deliveries", "id = 'msg_a'"); !slices.Equal(got, []string{"deliveries_p20310304_0000"}) {
		t.Errorf("delivery of an event created on the 4th is in %v", got)
	}
}

// A row no partition covers (a publisher's created_at years away, or a
// time past the partitions made) goes to the DEFAULT partition, is read
// like any other, and moves to its own partition when one is made for it.
func TestRowsOutsideThePartitionsGoToTheDefaultAndMoveLater(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	now := time.Now().UTC()
	_, err := db.EnsurePartitions(ctx, now, day, 1)
	testenv.Must(t, err, "EnsurePartitions")
	far := now.Add(40 * day)
	batch := []schema.Attempt{attemptAt("msg_far", far, now), attemptAt("msg_now", now, now)}
	testenv.Must(t, db.WriteAttempts(ctx, batch, schema.DisableRule{}, nil), "WriteAttempts")
	if got := db.partitionOf(t, "deliveries", "id = 'msg_far'"); !slices.Equal(got, []string{"deliveries_default"}) {
		t.Errorf("delivery created 40 days ahead is in %v, want the default partition", got)
	}
	ds, err := db.Deliveries(ctx, schema.DeliveryFilter{Tenant: "acme", Limit: 10})
	testenv.Must(t, err, "Deliveries")
	if len(ds) != 2 || ds[0].ID != "msg_far" {
		t.Errorf("deliveries %v, want both, the one of the far future first", ds)
	}
	// Its attempts are written again (a batch replayed after a crash): the
	// upsert finds it in the default partition.
	later := attemptAt("msg_far", far, now.Add(time.Minute))
	later.Attempt, later.Outcome = 2, schema.OutcomeDead
	testenv.Must(t, db.WriteAttempts(ctx, []schema.Attempt{batch[0], later}, schema.DisableRule{}, nil), "WriteAttempts again")
	if n := db.count(t, `SELECT count(*) FROM deliveries WHERE id = 'msg_far'`); n != 1 {
		t.Fatalf("%d rows of one delivery", n)
	}

	made, err := db.EnsurePartitions(ctx, far, day, 0)
	testenv.Must(t, err, "EnsurePartitions 40 days on")
	if len(made) != 3 {
		t.Errorf("made %v", made)
	}
	want := "deliveries_p" + far.Truncate(day).Format("20060102") + "_0000"
	if got := db.partitionOf(t, "deliveries", "id = 'msg_far'"); !slices.Equal(got, []string{want}) {
		t.Errorf("after its partition was made, the delivery is in %v, want %s", got, want)
	}
	d, err := db.Deliveries(ctx, schema.DeliveryFilter{Tenant: "acme", ID: "msg_far", Limit: 1})
	testenv.Must(t, err, "Deliveries by id")
	if len(d) != 1 || d[0].Status != string(schema.OutcomeDead) || d[0].Attempts != 2 {
		t.Errorf("moved delivery %+v, want it dead after 2 attempts", d)
	}
	if n := db.count(t, `SELECT count(*) FROM deliveries_default`); n != 0 {
		t.Errorf("default partition keeps %d rows after the move", n)
	}
}

// oldEvent records an event as ClaimEvents would have, received at at.
func (tdb testDB) oldEvent(t *testing.T, id string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	_, err := tdb.raw.Exec(ctx, `INSERT INTO event_keys (tenant, id, received_at, src_partition, src_offset) VALUES ('acme', $1, $2, 0, 1)`, id, at)
	testenv.Must(t, err, "insert key")
	_, err = tdb.raw.Exec(ctx, `INSERT INTO events (tenant, id, type, data, created_at, received_at, src_partition, src_offset)
		VALUES ('acme', $1, 'a.b', '{}', $2, $2, 0, 1)`, id, at)
	testenv.Must(t, err, "insert event")
}

func TestRetentionDropsWholePartitions(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	now := time.Now().UTC()
	_, err := db.EnsurePartitions(ctx, now.Add(-5*day), day, 6)
	testenv.Must(t, err, "EnsurePartitions")
	old, ancient := now.Add(-4*day), now.Add(-400*day)
	batch := []schema.Attempt{attemptAt("msg_old", old, old), attemptAt("msg_new", now, now),
		attemptAt("msg_ancient", ancient, ancient)} // before every partition: the default one
	testenv.Must(t, db.WriteAttempts(ctx, batch, schema.DisableRule{}, nil), "WriteAttempts")
	db.oldEvent(t, "evt_old", old)
	db.oldEvent(t, "evt_ancient", ancient)
	fresh, err := db.ClaimEvents(ctx, []schema.Claim{claim("acme", "evt_new", 0, 5)})
	testenv.Must(t, err, "ClaimEvents")
	if !fresh[0] {
		t.Fatal("new event not fresh")
	}

	cutoff := now.Add(-2 * day)
	res, err := db.RetainHistory(ctx, cutoff, 1000, 0)
	testenv.Must(t, err, "RetainHistory")
	// [now-5d, now-4d), [now-4d, now-3d) and [now-3d, now-2d) are wholly
	// before the cutoff; the day holding it stays whole.
	if len(res.Dropped) != 9 {
		t.Errorf("dropped %v, want three partitions of each table", res.Dropped)
	}
	for _, table := range postgres.HistoryTables {
		parts, _ := db.Partitions(ctx, table)
		for _, p := range parts {
			if !p.Default && !p.To.After(cutoff) {
				t.Errorf("%s outlived retention", p.Name)
			}
		}
		if res.Deleted[table] != 1 {
			t.Errorf("%s: %d rows deleted from the default partition, want the ancient one", table, res.Deleted[table])
		}
	}

	ds, err := db.Deliveries(ctx, schema.DeliveryFilter{Tenant: "acme", Limit: 10})
	testenv.Must(t, err, "Deliveries")
	if len(ds) != 1 || ds[0].ID != "msg_new" {
		t.Errorf("deliveries after retention %v, want msg_new alone", ds)
	}
	for id, want := range map[string]int{"msg_old": 0, "msg_ancient": 0, "msg_new": 1} {
		as, err := db.Attempts(ctx, "acme", id)
		testenv.Must(t, err, "Attempts")
		if len(as) != want {
			t.Errorf("%s has %d attempts after retention, want %d", id, len(as), want)
		}
	}
	feed, err := db.AttemptFeed(ctx, schema.FeedFilter{Tenant: "acme", Since: ancient.Add(-day), Limit: 10})
	testenv.Must(t, err, "AttemptFeed")
	if len(feed) != 1 || feed[0].DeliveryID != "msg_new" {
		t.Errorf("feed after retention %v, want msg_new alone", feed)
	}
	for id, gone := range map[string]bool{"evt_old": true, "evt_ancient": true, "evt_new": false} {
		_, err := db.StoredEvent(ctx, "acme", id)
		if gone != errors.Is(err, schema.ErrNotFound) {
			t.Errorf("StoredEvent(%s) = %v, want gone %v", id, err, gone)
		}
	}
	if n := db.count(t, `SELECT count(*) FROM event_keys`); n != 1 {
		t.Errorf("%d event keys left, want the new event's", n)
	}
}

// The dedupe gate holds across partitions: an id claimed in one partition
// of events is a duplicate when published again a partition later, and
// the same record read again after a crash is still the first claim.
func TestDedupeHoldsAcrossPartitions(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	now := time.Now().UTC()
	_, err := db.EnsurePartitions(ctx, now.Add(-3*day), day, 4)
	testenv.Must(t, err, "EnsurePartitions")
	fresh, err := db.ClaimEvents(ctx, []schema.Claim{claim("acme", "e1", 0, 10)})
	testenv.Must(t, err, "first claim")
	if !fresh[0] {
		t.Fatal("first claim not fresh")
	}
	// The first claim happened two days ago, on the other side of two
	// partition boundaries.
	_, err = db.raw.Exec(ctx, `UPDATE events SET received_at = received_at - interval '2 days' WHERE id = 'e1'`)
	testenv.Must(t, err, "age the event")
	_, err = db.raw.Exec(ctx, `UPDATE event_keys SET received_at = received_at - interval '2 days' WHERE id = 'e1'`)
	testenv.Must(t, err, "age the key")
	before := db.partitionOf(t, "events", "id = 'e1'")

	fresh, err = db.ClaimEvents(ctx, []schema.Claim{claim("acme", "e1", 0, 99), claim("acme", "e1", 0, 10)})
	testenv.Must(t, err, "second claim")
	if fresh[0] || !fresh[1] {
		t.Errorf("claims %v: want the second publish a duplicate and the re-read record still its first claim", fresh)
	}
	if n := db.count(t, `SELECT count(*) FROM events WHERE tenant = 'acme' AND id = 'e1'`); n != 1 {
		t.Errorf("%d rows of event e1 across the partitions, want 1", n)
	}
	if after := db.partitionOf(t, "events", "id = 'e1'"); !slices.Equal(before, after) {
		t.Errorf("event moved from %v to %v", before, after)
	}
	e, err := db.StoredEvent(ctx, "acme", "e1")
	testenv.Must(t, err, "StoredEvent")
	if e.ID != "e1" || string(e.Data) != `{"n": 1}` {
		t.Errorf("stored event %+v", e)
	}
}

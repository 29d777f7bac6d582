package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

func TestPruneDeletesOldRowsInBatches(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	old, fresh := time.Now().Add(-48*time.Hour), time.Now()
	var batch []schema.Attempt
	for i, at := range []time.Time{old, old, old, fresh} {
		id := "msg_" + string(rune('a'+i))
		batch = append(batch, schema.Attempt{V: schema.Version, DeliveryID: id, EndpointID: "ep_1", Tenant: "default",
			EventID: "evt_" + id, EventType: "a.b", EventCreatedAt: at, Attempt: 1, Outcome: schema.OutcomeSucceeded,
			StatusCode: 200, Sent: true, At: at})
	}
	testenv.Must(t, db.WriteAttempts(ctx, batch, schema.DisableRule{}, nil), "WriteAttempts")
	_, err := db.raw.Exec(ctx, `INSERT INTO events (tenant, id, type, data, created_at, received_at, src_partition, src_offset)
		VALUES ('default', 'old', 'a.b', '{}', $1, $1, 0, 1), ('default', 'new', 'a.b', '{}', $2, $2, 0, 2)`, old, fresh)
	testenv.Must(t, err, "insert events")
	_, err = db.raw.Exec(ctx, `INSERT INTO quarantine (part, "offset", stage, reason, topic, src_partition, src_offset, quarantined_at)
		VALUES (0, 1, 's', 'r', 't', 0, 1, $1), (0, 2, 's', 'r', 't', 0, 2, $2)`, old, fresh)
	testenv.Must(t, err, "insert quarantined records")

	cutoff := time.Now().Add(-24 * time.Hour)
	n, err := db.Prune(ctx, "attempts", cutoff, 2)
	testenv.Must(t, err, "Prune")
	if n != 2 {
		t.Errorf("first batch deleted %d attempts, want 2 (the limit)", n)
	}
	n, _ = db.Prune(ctx, "attempts", cutoff, 2)
	if n != 1 {
		t.Errorf("second batch deleted %d attempts, want the last old one", n)
	}
	for table, want := range map[string]int64{"deliveries": 3, "events": 1, "quarantine": 1} {
		if n, err := db.Prune(ctx, table, cutoff, 1000); err != nil || n != want {
			t.Errorf("prune %s deleted %d (%v), want %d", table, n, err, want)
		}
	}
	for _, table := range []string{"attempts", "deliveries", "events", "quarantine"} {
		var left int
		testenv.Must(t, db.raw.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&left), "count")
		if left != 1 {
			t.Errorf("%s keeps %d rows, want the fresh one", table, left)
		}
	}
	if _, err := db.Prune(ctx, "endpoints", cutoff, 1); err == nil {
		t.Error("Prune accepted a table outside retention")
	}
}

func TestWithLockIsExclusive(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	ran, err := db.WithLock(ctx, 42, func(ctx context.Context) error {
		inner, err := db.WithLock(ctx, 42, func(context.Context) error { return nil })
		if err != nil || inner {
			t.Errorf("second holder got the lock (%v, %v)", inner, err)
		}
		return nil
	})
	if !ran || err != nil {
		t.Errorf("WithLock = %v, %v; want it to run", ran, err)
	}
	if ran, _ := db.WithLock(ctx, 42, func(context.Context) error { return nil }); !ran {
		t.Error("the lock was not released")
	}
}

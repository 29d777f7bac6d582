package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
)

func TestPruneDeletesOldRowsInBatches(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	old, fresh := time.Now().Add(-48*time.Hour), time.Now()
	_, err := db.raw.Exec(ctx, `INSERT INTO quarantine (part, "offset", stage, reason, topic, src_partition, src_offset, quarantined_at)
		VALUES (0, 1, 's', 'r', 't', 0, 1, $1), (0, 2, 's', 'r', 't', 0, 2, $1), (0, 3, 's', 'r', 't', 0, 3, $2)`, old, fresh)
	testenv.Must(t, err, "insert quarantined records")

	cutoff := time.Now().Add(-24 * time.Hour)
	n, err := db.Prune(ctx, "quarantine", cutoff, 1)
	testenv.Must(t, err, "Prune")
	if n != 1 {
		t.Errorf("first batch deleted %d records, want 1 (the limit)", n)
	}
	if n, _ = db.Prune(ctx, "quarantine", cutoff, 1000); n != 1 {
		t.Errorf("second batch deleted %d records, want the last old one", n)
	}
	if left := db.count(t, "SELECT count(*) FROM quarantine"); left != 1 {
		t.Errorf("quarantine keeps %d rows, want the fresh one", left)
	}
	for _, table := range []string{"endpoints", "attempts"} { // attempts: RetainHistory's
		if _, err := db.Prune(ctx, table, cutoff, 1); err == nil {
			t.Errorf("Prune accepted %s", table)
		}
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

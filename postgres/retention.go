package postgres

import (
	"context"
	"fmt"
	"time"
)

// Tables Prune deletes from by batches of rows, and the column that dates
// their rows: the quarantine's index by when its record was quarantined (a
// flood of poison must not grow it for ever). The history tables are
// partitioned and pruned by RetainHistory.
var retained = map[string]string{
	"quarantine": "quarantined_at",
}

// RetainedTables are the tables Prune accepts.
var RetainedTables = []string{"quarantine"}

// Prune deletes at most limit rows of table dated before cutoff, and says
// how many it deleted. Each call is one short statement, so that pruning a
// large backlog in a loop never holds locks the sink waits for.
func (db *DB) Prune(ctx context.Context, table string, cutoff time.Time, limit int) (int64, error) {
	col, ok := retained[table]
	if !ok {
		return 0, fmt.Errorf("postgres: prune: unknown table %q", table)
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM `+table+` WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM `+table+` WHERE `+col+` < $1 LIMIT $2))`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune %s: %w", table, err)
	}
	return tag.RowsAffected(), nil
}

// WithLock runs fn while this process holds the session advisory lock key,
// and reports whether it got the lock: when another session holds it, fn
// does not run. It is how one instance among many does periodic work.
func (db *DB) WithLock(ctx context.Context, key int64, fn func(context.Context) error) (bool, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: lock: %w", err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return false, fmt.Errorf("postgres: lock: %w", err)
	}
	if !got {
		return false, nil
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key) //nolint:errcheck // the lock ends with the session anyway
	return true, fn(ctx)
}

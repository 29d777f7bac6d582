package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The history tables are partitioned by range of one time column each
// (migration 0011): events by when hookstream received them, deliveries
// by their event's creation, attempts by when they were made. Each has a
// DEFAULT partition (<table>_default) for rows no partition covers, and
// may have a legacy one (<table>_legacy, from MINVALUE: the table as it
// was before partitioning).
var historyKeys = map[string]string{
	"events":     "received_at",
	"deliveries": "created_at",
	"attempts":   "attempted_at",
}

// HistoryTables are the partitioned tables, in the order retention drops
// their partitions: attempts first (the biggest), events last (their keys
// go after them).
var HistoryTables = []string{"attempts", "deliveries", "events"}

// ddlLockTimeout bounds how long partition DDL waits for its lock. DETACH
// and DROP take an ACCESS EXCLUSIVE lock on the partitioned table, and
// every query on the table queues behind a waiting one: a DDL statement
// that cannot have its lock at once gives up soon and is tried again at
// the next pass, rather than stalling the sink and the API behind a long
// query.
const ddlLockTimeout = "2s"

// Partition is one partition of a history table.
type Partition struct {
	Table, Name string
	// From and To bound the partition's range [From, To); From is zero
	// for a partition from MINVALUE (the legacy one). Both are zero for
	// the DEFAULT partition.
	From, To time.Time
	Default  bool
}

// Partitions lists the partitions of a history table, the bounded ones
// ordered by their range, the DEFAULT one last.
func (db *DB) Partitions(ctx context.Context, table string) ([]Partition, error) {
	if _, ok := historyKeys[table]; !ok {
		return nil, fmt.Errorf("postgres: partitions: unknown table %q", table)
	}
	// A bound reads back as text in the session's time zone and casts back
	// in the same session: no parsing of Postgres's date formats here.
	rows, err := db.pool.Query(ctx, `
		SELECT c.relname, b = 'DEFAULT',
			(regexp_match(b, 'FROM \(''([^'']*)''\)'))[1]::timestamptz,
			(regexp_match(b, 'TO \(''([^'']*)''\)'))[1]::timestamptz
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
			LATERAL pg_get_expr(c.relpartbound, c.oid) AS b
		WHERE i.inhparent = $1::regclass
		ORDER BY b = 'DEFAULT', 3 NULLS FIRST, 4`, table)
	if err != nil {
		return nil, fmt.Errorf("postgres: partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var out []Partition
	for rows.Next() {
		p := Partition{Table: table}
		var from, to *time.Time
		if err := rows.Scan(&p.Name, &p.Default, &from, &to); err != nil {
			return nil, fmt.Errorf("postgres: partitions of %s: %w", table, err)
		}
		if from != nil {
			p.From = from.UTC()
		}
		if to != nil {
			p.To = to.UTC()
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: partitions of %s: %w", table, err)
	}
	return out, nil
}

// PartitionStart is the start of the partition interval holding t: a
// multiple of interval since 0001-01-01 UTC (midnight UTC for 24h, a
// Monday for 168h).
func PartitionStart(t time.Time, interval time.Duration) time.Time {
	return t.UTC().Truncate(interval)
}

// partitionName names the partition of table starting at from.
func partitionName(table string, from time.Time) string {
	return table + "_p" + from.UTC().Format("20060102_1504")
}

// EnsurePartitions makes the partitions of every history table that cover
// now and the ahead intervals after it, each one interval long and aligned
// on PartitionStart, and returns the names of those it made. Ranges that
// existing partitions cover are left alone: after a change of interval, the
// first new partition starts where the last old one ends. Rows of the new
// ranges that went to the DEFAULT partition meanwhile move into them.
// Concurrent calls are safe (a partition made by another is skipped), but
// one instance at a time is the intent (WithLock).
func (db *DB) EnsurePartitions(ctx context.Context, now time.Time, interval time.Duration, ahead int) ([]string, error) {
	if interval < time.Minute || interval%time.Minute != 0 {
		return nil, fmt.Errorf("postgres: ensure partitions: interval %s is not a whole number of minutes", interval)
	}
	var made []string
	for _, table := range HistoryTables {
		parts, err := db.Partitions(ctx, table)
		if err != nil {
			return made, err
		}
		var end time.Time // where the bounded partitions end
		for _, p := range parts {
			if !p.Default && p.To.After(end) {
				end = p.To
			}
		}
		start := PartitionStart(now, interval)
		last := start.Add(time.Duration(ahead+1) * interval)
		for from := start; from.Before(last); from = from.Add(interval) {
			to := from.Add(interval)
			if !to.After(end) {
				continue
			}
			lo := from
			if end.After(lo) {
				lo = end // realign after partitions of another interval
			}
			name := partitionName(table, lo)
			created, err := db.createPartition(ctx, table, name, lo, to)
			if err != nil {
				return made, err
			}
			if created {
				made = append(made, name)
			}
			end = to
		}
	}
	return made, nil
}

// createPartition makes the partition name of table for [from, to), moving
// into it the rows of that range that are in the DEFAULT partition, in one
// transaction. The partition is made as a table of its own and attached:
// ATTACH PARTITION takes a SHARE UPDATE EXCLUSIVE lock on the partitioned
// table, which the sink's inserts and the API's reads do not wait for
// (CREATE TABLE … PARTITION OF would take an ACCESS EXCLUSIVE one), and the
// CHECK constraint of its bounds spares the scan of the new table.
// Attaching scans the DEFAULT partition under an ACCESS EXCLUSIVE lock on
// it: it is taken first, so that no row of the range can go there between
// the move and the attach; the DEFAULT partition only holds outliers.
func (db *DB) createPartition(ctx context.Context, table, name string, from, to time.Time) (created bool, err error) {
	col := historyKeys[table]
	def := pgx.Identifier{table + "_default"}.Sanitize()
	part := pgx.Identifier{name}.Sanitize()
	lo, hi := quoteTime(from), quoteTime(to)
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+ddlLockTimeout+`'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE `+def+` IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil || exists {
			return err
		}
		stmts := []string{
			`CREATE TABLE ` + part + ` (LIKE ` + table + ` INCLUDING DEFAULTS)`,
			`ALTER TABLE ` + part + ` ADD CONSTRAINT ` + pgx.Identifier{name + "_bound"}.Sanitize() +
				` CHECK (` + col + ` >= ` + lo + ` AND ` + col + ` < ` + hi + `)`,
			`WITH d AS (DELETE FROM ` + def + ` WHERE ` + col + ` >= ` + lo + ` AND ` + col + ` < ` + hi + ` RETURNING *)
				INSERT INTO ` + part + ` SELECT * FROM d`,
			`ALTER TABLE ` + table + ` ATTACH PARTITION ` + part + ` FOR VALUES FROM (` + lo + `) TO (` + hi + `)`,
		}
		if table != "events" {
			// An endpoint belongs to one tenant: without this the planner
			// takes tenant and endpoint_id for independent, expects a few
			// rows of an endpoint where there are thousands, and sorts
			// them all rather than read the endpoint's index in order.
			// Statistics are per partition: the parent's are not used
			// for its partitions.
			stmts = append(stmts, `CREATE STATISTICS `+pgx.Identifier{name + "_tenant_endpoint"}.Sanitize()+
				` (dependencies) ON tenant, endpoint_id FROM `+part)
		}
		for _, sql := range stmts {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return err
			}
		}
		created = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("postgres: create partition %s: %w", name, err)
	}
	return created, nil
}

// quoteTime is a timestamptz literal for DDL, which takes no parameters.
func quoteTime(t time.Time) string {
	return "'" + t.UTC().Format("2006-01-02 15:04:05.999999Z07:00") + "'"
}

// RetentionResult says what a retention pass did.
type RetentionResult struct {
	// Dropped are the partitions detached and dropped.
	Dropped []Partition
	// Deleted counts the rows deleted, by table: those of the DEFAULT and
	// legacy partitions, and event_keys.
	Deleted map[string]int64
}

// RetainHistory removes the history dated before cutoff. Each partition
// that ends at or before cutoff is detached and dropped (a constant-time
// catalog change, no dead rows); a partition that straddles cutoff stays
// whole until it lies wholly before it (rows are kept up to one partition
// interval longer than asked). The DEFAULT and legacy partitions, which
// have no end that retention can wait for, lose their rows dated before
// cutoff by DELETE, batch rows per statement, pausing pause between
// statements. The dedupe keys of events (event_keys) are deleted once the
// events themselves are gone.
//
// Detaching takes an ACCESS EXCLUSIVE lock on the partitioned table
// (DETACH CONCURRENTLY is refused while a DEFAULT partition exists); it
// waits for it at most ddlLockTimeout, and a partition it could not detach
// is left for the next pass: the error says so, and the rest of the pass
// goes on.
func (db *DB) RetainHistory(ctx context.Context, cutoff time.Time, batch int, pause time.Duration) (RetentionResult, error) {
	res := RetentionResult{Deleted: map[string]int64{}}
	var errs []error
	for _, table := range HistoryTables {
		col := historyKeys[table]
		parts, err := db.Partitions(ctx, table)
		if err != nil {
			return res, err
		}
		keep := cutoff // events older than this are gone after the pass
		for _, p := range parts {
			switch {
			case !p.Default && !p.To.After(cutoff):
				if err := db.dropPartition(ctx, p); err != nil {
					errs = append(errs, err)
					if p.From.Before(keep) {
						keep = p.From
					}
					continue
				}
				res.Dropped = append(res.Dropped, p)
			case p.Default || p.From.IsZero():
				n, err := db.deleteBefore(ctx, p.Name, col, cutoff, batch, pause)
				res.Deleted[table] += n
				if err != nil {
					return res, err
				}
			case p.From.Before(keep):
				keep = p.From // straddles cutoff: kept whole
			}
		}
		if table == "events" {
			n, err := db.deleteBefore(ctx, "event_keys", "received_at", keep, batch, pause)
			res.Deleted["event_keys"] += n
			if err != nil {
				return res, err
			}
		}
	}
	return res, errors.Join(errs...)
}

// dropPartition detaches and drops one partition in one short transaction.
func (db *DB) dropPartition(ctx context.Context, p Partition) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+ddlLockTimeout+`'`); err != nil {
			return err
		}
		name := pgx.Identifier{p.Name}.Sanitize()
		if _, err := tx.Exec(ctx, `ALTER TABLE `+p.Table+` DETACH PARTITION `+name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DROP TABLE `+name)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: drop partition %s: %w", p.Name, err)
	}
	return nil
}

// deleteBefore deletes the rows of table dated (by col) before cutoff,
// batch rows per statement, and returns how many.
func (db *DB) deleteBefore(ctx context.Context, table, col string, cutoff time.Time, batch int, pause time.Duration) (int64, error) {
	var total int64
	name := pgx.Identifier{table}.Sanitize()
	for {
		tag, err := db.pool.Exec(ctx, `DELETE FROM `+name+` WHERE ctid = ANY(ARRAY(
			SELECT ctid FROM `+name+` WHERE `+col+` < $1 LIMIT $2))`, cutoff, batch)
		if err != nil {
			return total, fmt.Errorf("postgres: prune %s: %w", table, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(pause):
		}
	}
}

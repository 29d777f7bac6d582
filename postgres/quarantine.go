package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// IndexQuarantined records quarantined records for the API, once each
// (idempotent on their position in the quarantine topic). Stage, reason and
// topic must be clean text (schema.CleanText); bytes go as they are.
func (db *DB) IndexQuarantined(ctx context.Context, recs []schema.Quarantined) error {
	if len(recs) == 0 {
		return nil
	}
	n := len(recs)
	parts, srcParts := make([]int32, n), make([]int32, n)
	offs, srcOffs := make([]int64, n), make([]int64, n)
	stages, reasons, topics := make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	keys, values := make([][]byte, n), make([][]byte, n)
	headers := make([]string, n)
	for i, q := range recs {
		parts[i], offs[i], srcParts[i], srcOffs[i] = q.Partition, q.Offset, q.SourcePartition, q.SourceOffset
		stages[i], reasons[i], topics[i], ats[i] = q.Stage, q.Reason, q.Topic, q.At
		keys[i], values[i] = q.Key, q.Value
		h := q.Headers
		if h == nil {
			h = []schema.Header{}
		}
		b, err := json.Marshal(h) // header values are base64: always valid JSON text
		if err != nil {
			return fmt.Errorf("postgres: index quarantined: %w", err)
		}
		headers[i] = string(b)
	}
	_, err := db.pool.Exec(ctx, `
		INSERT INTO quarantine (part, "offset", stage, reason, topic, src_partition, src_offset, quarantined_at, key, value, headers)
		SELECT p, o, s, r, t, sp, so, a, k, v, h::jsonb
		FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[], $7::bigint[],
			$8::timestamptz[], $9::bytea[], $10::bytea[], $11::text[]) AS u(p, o, s, r, t, sp, so, a, k, v, h)
		ON CONFLICT (part, "offset") DO NOTHING`,
		parts, offs, stages, reasons, topics, srcParts, srcOffs, ats, keys, values, headers)
	if err != nil {
		return fmt.Errorf("postgres: index quarantined: %w", dataError(err))
	}
	return nil
}

const quarantineColumns = `part, "offset", stage, reason, topic, src_partition, src_offset, quarantined_at,
	key, value, headers::text, redriven_at`

func scanQuarantined(r pgx.Row) (schema.Quarantined, error) {
	var (
		q       schema.Quarantined
		headers string
	)
	err := r.Scan(&q.Partition, &q.Offset, &q.Stage, &q.Reason, &q.Topic, &q.SourcePartition, &q.SourceOffset,
		&q.At, &q.Key, &q.Value, &headers, &q.RedrivenAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return q, schema.ErrNotFound
	}
	if err != nil {
		return q, err
	}
	return q, json.Unmarshal([]byte(headers), &q.Headers)
}

// Quarantined lists quarantined records.
func (db *DB) Quarantined(ctx context.Context, f schema.QuarantineFilter) ([]schema.Quarantined, error) {
	var (
		at   *time.Time
		part int32
		off  int64
	)
	if f.Before != nil {
		at, part, off = &f.Before.At, f.Before.Partition, f.Before.Offset
	}
	rows, err := db.pool.Query(ctx, `SELECT `+quarantineColumns+` FROM quarantine
		WHERE ($1 = '' OR stage = $1)
			AND ($2::timestamptz IS NULL OR (quarantined_at, part, "offset") < ($2, $3, $4))
		ORDER BY quarantined_at DESC, part DESC, "offset" DESC
		LIMIT $5`, f.Stage, at, part, off, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: quarantined: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (schema.Quarantined, error) { return scanQuarantined(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: quarantined: %w", err)
	}
	return out, nil
}

// QuarantinedRecord returns one quarantined record.
func (db *DB) QuarantinedRecord(ctx context.Context, part int32, offset int64) (schema.Quarantined, error) {
	q, err := scanQuarantined(db.pool.QueryRow(ctx, `SELECT `+quarantineColumns+` FROM quarantine
		WHERE part = $1 AND "offset" = $2`, part, offset))
	return q, wrapErr("quarantined record", err)
}

// Redrive marks a quarantined record re-driven and calls put with it, in
// one transaction: when put fails, the mark is undone, and a record is
// marked once, so that it is not put back twice.
func (db *DB) Redrive(ctx context.Context, part int32, offset int64, put func(context.Context, schema.Quarantined) error) (schema.Quarantined, error) {
	var q schema.Quarantined
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		q, err = scanQuarantined(tx.QueryRow(ctx, `SELECT `+quarantineColumns+` FROM quarantine
			WHERE part = $1 AND "offset" = $2 FOR UPDATE`, part, offset))
		if err != nil {
			return err
		}
		if q.RedrivenAt != nil {
			return schema.ErrRedriven
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		if _, err := tx.Exec(ctx, `UPDATE quarantine SET redriven_at = $3 WHERE part = $1 AND "offset" = $2`, part, offset, now); err != nil {
			return err
		}
		q.RedrivenAt = &now
		return put(ctx, q)
	})
	if errors.Is(err, schema.ErrRedriven) {
		return q, err
	}
	return q, wrapErr("redrive", err)
}

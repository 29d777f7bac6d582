package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// ClaimEvents is the dedupe gate. It records each event under its tenant and
// id unless the id is already recorded, and reports for each claim whether
// its fan-out is due: true for the record that first claimed the id (also
// when that same record is read again after a crash, before its fan-out
// committed), false for any other record carrying an id already claimed.
func (db *DB) ClaimEvents(ctx context.Context, claims []schema.Claim) ([]bool, error) {
	n := len(claims)
	tenants, ids, types, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created, parts, offs := make([]time.Time, n), make([]int32, n), make([]int64, n)
	for i, c := range claims {
		tenants[i], ids[i], types[i], data[i] = c.Event.Tenant, c.Event.ID, c.Event.Type, string(c.Event.Data)
		created[i], parts[i], offs[i] = c.Event.CreatedAt, c.Partition, c.Offset
	}
	if _, err := db.pool.Exec(ctx, `
		INSERT INTO events (tenant, id, type, data, created_at, src_partition, src_offset)
		SELECT t, i, ty, d::json, c, p, o
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::int[], $7::bigint[])
			AS u(t, i, ty, d, c, p, o)
		ON CONFLICT (tenant, id) DO NOTHING`,
		tenants, ids, types, data, created, parts, offs); err != nil {
		return nil, fmt.Errorf("postgres: claim events: %w", dataError(err))
	}
	rows, err := db.pool.Query(ctx, `
		SELECT e.tenant, e.id, e.src_partition, e.src_offset
		FROM events e JOIN unnest($1::text[], $2::text[]) AS u(t, i) ON e.tenant = u.t AND e.id = u.i`,
		tenants, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim events: %w", err)
	}
	defer rows.Close()
	type key struct{ tenant, id string }
	type pos struct {
		p int32
		o int64
	}
	owner := make(map[key]pos, n)
	for rows.Next() {
		var k key
		var p pos
		if err := rows.Scan(&k.tenant, &k.id, &p.p, &p.o); err != nil {
			return nil, fmt.Errorf("postgres: claim events: %w", err)
		}
		owner[k] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: claim events: %w", err)
	}
	fresh := make([]bool, n)
	for i, c := range claims {
		p, ok := owner[key{c.Event.Tenant, c.Event.ID}]
		if !ok {
			return nil, fmt.Errorf("postgres: claim events: event %s vanished after insert", c.Event.ID)
		}
		fresh[i] = p.p == c.Partition && p.o == c.Offset
	}
	return fresh, nil
}

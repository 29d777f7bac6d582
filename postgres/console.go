package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// HealthSample bounds the attempts EndpointHealth reads per endpoint: a busy
// endpoint's rates and latencies are those of its latest attempts.
const HealthSample = 1000

// ParkedCount bounds the parked deliveries EndpointStats counts per
// endpoint: beyond, it says there are more.
const ParkedCount = 1000

// EndpointStats returns how a tenant's endpoints (ids) fared in the
// attempts made since since (at most the latest HealthSample of each),
// keyed by endpoint id. Endpoints of another tenant are left out.
func (db *DB) EndpointStats(ctx context.Context, tenant string, ids []string, since time.Time) (map[string]schema.EndpointStats, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT e.id, s.n, s.ok, COALESCE(s.p50, 0), COALESCE(s.p99, 0),
			f.attempted_at, COALESCE(f.status_code, 0), COALESCE(f.error, ''),
			(SELECT count(*) FROM (SELECT FROM deliveries d WHERE d.endpoint_id = e.id AND d.status = 'parked' LIMIT $5) p)
		FROM endpoints e
		CROSS JOIN LATERAL (
			SELECT count(*) AS n, count(*) FILTER (WHERE a.outcome = 'succeeded') AS ok,
				percentile_disc(0.5) WITHIN GROUP (ORDER BY a.latency_us) AS p50,
				percentile_disc(0.99) WITHIN GROUP (ORDER BY a.latency_us) AS p99
			FROM (SELECT outcome, latency_us FROM attempts
				WHERE endpoint_id = e.id AND attempted_at >= $3
				ORDER BY attempted_at DESC LIMIT $4) a
		) s
		LEFT JOIN LATERAL (
			SELECT attempted_at, status_code, error FROM attempts
			WHERE endpoint_id = e.id AND outcome <> 'succeeded'
			ORDER BY attempted_at DESC LIMIT 1
		) f ON true
		WHERE e.tenant = $1 AND e.id = ANY($2)`, tenant, ids, since, HealthSample, ParkedCount+1)
	if err != nil {
		return nil, fmt.Errorf("postgres: endpoint stats: %w", err)
	}
	defer rows.Close()
	out := make(map[string]schema.EndpointStats, len(ids))
	for rows.Next() {
		var (
			id       string
			h        schema.EndpointStats
			p50, p99 int64
		)
		if err := rows.Scan(&id, &h.Attempts, &h.Succeeded, &p50, &p99, &h.LastFailureAt,
			&h.LastFailureStatus, &h.LastFailureError, &h.Parked); err != nil {
			return nil, fmt.Errorf("postgres: endpoint stats: %w", err)
		}
		h.Sampled = h.Attempts >= HealthSample
		if h.Parked > ParkedCount {
			h.Parked, h.MoreParked = ParkedCount, true
		}
		h.P50, h.P99 = time.Duration(p50)*time.Microsecond, time.Duration(p99)*time.Microsecond
		out[id] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: endpoint stats: %w", err)
	}
	return out, nil
}

const portalColumns = `id, tenant, hash, created_at, expires_at, revoked_at`

func scanPortalSession(r pgx.Row) (schema.PortalSession, error) {
	var s schema.PortalSession
	err := r.Scan(&s.ID, &s.Tenant, &s.Hash, &s.CreatedAt, &s.ExpiresAt, &s.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, schema.ErrNotFound
	}
	return s, err
}

// CreatePortalSession stores a portal session of a tenant by the hash of
// its token's secret; ErrNotFound when the tenant does not exist. It
// forgets the tenant's sessions that expired more than a day ago.
func (db *DB) CreatePortalSession(ctx context.Context, id, tenant string, hash []byte, expires time.Time) (schema.PortalSession, error) {
	var s schema.PortalSession
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM portal_sessions WHERE tenant = $1 AND expires_at < now() - interval '1 day'`,
			tenant); err != nil {
			return err
		}
		var err error
		s, err = scanPortalSession(tx.QueryRow(ctx, `INSERT INTO portal_sessions (id, tenant, hash, expires_at)
			SELECT $1, id, $3, $4 FROM tenants WHERE id = $2 RETURNING `+portalColumns, id, tenant, hash, expires))
		return err
	})
	return s, wrapErr("create portal session", err)
}

// PortalSession returns a portal session, expired and revoked ones too:
// the caller checks.
func (db *DB) PortalSession(ctx context.Context, id string) (schema.PortalSession, error) {
	s, err := scanPortalSession(db.pool.QueryRow(ctx, `SELECT `+portalColumns+` FROM portal_sessions WHERE id = $1`, id))
	return s, wrapErr("portal session", err)
}

// RevokePortalSession revokes a tenant's portal session (again: a no-op)
// and returns it; ErrNotFound when the tenant has no such session.
func (db *DB) RevokePortalSession(ctx context.Context, tenant, id string) (schema.PortalSession, error) {
	s, err := scanPortalSession(db.pool.QueryRow(ctx, `UPDATE portal_sessions SET revoked_at = COALESCE(revoked_at, now())
		WHERE tenant = $1 AND id = $2 RETURNING `+portalColumns, tenant, id))
	return s, wrapErr("revoke portal session", err)
}

// PortalFrameAncestors returns the origins that may embed a tenant's
// portal in a frame.
func (db *DB) PortalFrameAncestors(ctx context.Context, tenant string) ([]string, error) {
	var out []string
	err := db.pool.QueryRow(ctx, `SELECT portal_frame_ancestors FROM tenants WHERE id = $1`, tenant).Scan(&out)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, schema.ErrNotFound
	}
	return out, wrapErr("portal frame ancestors", err)
}

// SetPortalFrameAncestors replaces the origins that may embed a tenant's
// portal in a frame.
func (db *DB) SetPortalFrameAncestors(ctx context.Context, tenant string, origins []string) error {
	if origins == nil {
		origins = []string{}
	}
	tag, err := db.pool.Exec(ctx, `UPDATE tenants SET portal_frame_ancestors = $2 WHERE id = $1`, tenant, origins)
	if err != nil {
		return fmt.Errorf("postgres: set portal frame ancestors: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return schema.ErrNotFound
	}
	return nil
}

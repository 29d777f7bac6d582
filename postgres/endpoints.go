package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
	"github.com/hookstream/hookstream/seal"
)

// CreateEndpoint stores a new endpoint. With e.MaxPerTenant set, it counts
// the tenant's endpoints under a lock on the tenant's row, in the insert's
// transaction, so that concurrent creations cannot pass the limit
// together; schema.ErrNotFound when the tenant does not exist.
func (db *DB) CreateEndpoint(ctx context.Context, e schema.NewEndpoint) (schema.Endpoint, error) {
	var headers []byte
	if len(e.Headers) > 0 {
		h, err := json.Marshal(e.Headers)
		if err != nil {
			return schema.Endpoint{}, fmt.Errorf("postgres: create endpoint: %w", err)
		}
		headers = db.box.Seal(h, e.ID+"/headers")
	}
	var ep schema.Endpoint
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if e.MaxPerTenant > 0 {
			// FOR NO KEY UPDATE queues creations of the same tenant and
			// leaves the foreign-key checks of other inserts alone. The
			// count is a statement of its own: it sees what the creation
			// we waited for committed.
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE`, e.Tenant).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return schema.ErrNotFound
			}
			if err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM endpoints WHERE tenant = $1`, e.Tenant).Scan(&n); err != nil {
				return err
			}
			if n >= e.MaxPerTenant {
				return schema.ErrLimitReached
			}
		}
		row := tx.QueryRow(ctx, `
			INSERT INTO endpoints (id, tenant, url_enc, url_display, description, event_types,
				headers_enc, secret_enc, timeout_ms, relay_url, listener_seen_at,
				public_key, payload_format, filter, ordering, dead_head, auto_recover)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10, ''), CASE WHEN $10 = '' THEN NULL ELSE now() END,
				NULLIF($11, ''), $12, $13, COALESCE(NULLIF($14, ''), 'none'), COALESCE(NULLIF($15, ''), 'skip'), $16)
			RETURNING `+endpointColumns,
			e.ID, e.Tenant, db.box.Seal([]byte(e.URL), e.ID+"/url"), e.DisplayURL, e.Description,
			e.EventTypes, headers, db.box.Seal([]byte(e.Secret), e.ID+"/secret"), e.Timeout.Milliseconds(), e.RelayURL,
			e.PublicKey, payloadFormat(e.PayloadFormat), e.Filter, e.Ordering, e.DeadHead, e.AutoRecover)
		var err error
		ep, err = db.scanEndpoint(row, false)
		return err
	})
	if errors.Is(err, schema.ErrNotFound) || errors.Is(err, schema.ErrLimitReached) {
		return ep, err
	}
	if err != nil {
		return ep, fmt.Errorf("postgres: create endpoint: %w", err)
	}
	return ep, nil
}

// CountEndpoints returns how many endpoints the tenant has.
func (db *DB) CountEndpoints(ctx context.Context, tenant string) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM endpoints WHERE tenant = $1`, tenant).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count endpoints: %w", err)
	}
	return n, nil
}

// CountMatchingEndpoints returns how many of the tenant's endpoints are
// subscribed to the event type (schema.MatchAny), enabled or not, counting
// no further than atMost. It reads the filters row by row and keeps none.
func (db *DB) CountMatchingEndpoints(ctx context.Context, tenant, eventType string, atMost int) (int, error) {
	rows, err := db.pool.Query(ctx, `SELECT event_types FROM endpoints WHERE tenant = $1`, tenant)
	if err != nil {
		return 0, fmt.Errorf("postgres: count matching endpoints: %w", err)
	}
	defer rows.Close()
	n := 0
	var patterns []string
	for n < atMost && rows.Next() {
		if err := rows.Scan(&patterns); err != nil {
			return 0, fmt.Errorf("postgres: count matching endpoints: %w", err)
		}
		if schema.MatchAny(patterns, eventType) {
			n++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("postgres: count matching endpoints: %w", err)
	}
	return n, nil
}

// Endpoint returns one endpoint of a tenant, without its secrets.
func (db *DB) Endpoint(ctx context.Context, tenant, id string) (schema.Endpoint, error) {
	row := db.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE tenant = $1 AND id = $2`, tenant, id)
	ep, err := db.scanEndpoint(row, false)
	if err != nil {
		return ep, fmt.Errorf("postgres: endpoint: %w", err)
	}
	return ep, nil
}

// Endpoints lists a tenant's endpoints ordered by id, after the cursor id,
// without their secrets.
func (db *DB) Endpoints(ctx context.Context, tenant, after string, limit int) ([]schema.Endpoint, error) {
	return db.queryEndpoints(ctx, false, `SELECT `+endpointColumns+` FROM endpoints
		WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, after, limit)
}

// SendableEndpoint returns one endpoint with its URL, headers and signing
// keys opened, for the stages that send. schema.ErrNotFound when it is
// gone.
func (db *DB) SendableEndpoint(ctx context.Context, id string) (schema.Endpoint, error) {
	row := db.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE id = $1`, id)
	ep, err := db.scanEndpoint(row, true)
	if err != nil {
		return ep, fmt.Errorf("postgres: endpoint: %w", err)
	}
	return ep, nil
}

// SendableEndpoints returns every endpoint with its secrets opened. Endpoints
// whose secrets do not open with the key are left out, and reported in the
// error returned along with the others.
func (db *DB) SendableEndpoints(ctx context.Context) ([]schema.Endpoint, error) {
	return db.queryEndpoints(ctx, true, `SELECT `+endpointColumns+` FROM endpoints`)
}

func (db *DB) queryEndpoints(ctx context.Context, open bool, sql string, args ...any) ([]schema.Endpoint, error) {
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: endpoints: %w", err)
	}
	defer rows.Close()
	var (
		out        []schema.Endpoint
		unreadable []error
	)
	for rows.Next() {
		ep, err := db.scanEndpoint(rows, open)
		if errors.Is(err, seal.ErrOpen) {
			// Sealed with another key: skip the endpoint, not the table.
			unreadable = append(unreadable, err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("postgres: endpoints: %w", err)
		}
		out = append(out, ep)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: endpoints: %w", err)
	}
	if len(unreadable) > 0 {
		return out, fmt.Errorf("postgres: %d endpoints skipped (was HOOKSTREAM_SECRET_KEY changed?): %w",
			len(unreadable), errors.Join(unreadable...))
	}
	return out, nil
}

const endpointColumns = `id, tenant, url_enc, url_display, description, event_types, headers_enc,
	secret_enc, prev_secret_enc, prev_secret_until, timeout_ms, state,
	COALESCE(disabled_reason, ''), disabled_at, created_at, updated_at, COALESCE(relay_url, ''),
	COALESCE(public_key, ''), COALESCE(prev_public_key, ''), payload_format, filter,
	ordering, dead_head,
	COALESCE(disabled_cause, ''), paused_at, paused_until, auto_recover, probe_at, probes`

// payloadFormat stores "" as the default format.
func payloadFormat(f string) string {
	if f == "" {
		return schema.PayloadFormatData
	}
	return f
}

func (db *DB) scanEndpoint(row pgx.Row, open bool) (schema.Endpoint, error) {
	var (
		ep                       schema.Endpoint
		urlEnc, headersEnc       []byte
		secretEnc, prevSecretEnc []byte
		prevUntil, disabledAt    *time.Time
		pausedAt, pausedUntil    *time.Time
		probeAt                  *time.Time
		timeoutMS                int64
	)
	err := row.Scan(&ep.ID, &ep.Tenant, &urlEnc, &ep.DisplayURL, &ep.Description, &ep.EventTypes,
		&headersEnc, &secretEnc, &prevSecretEnc, &prevUntil, &timeoutMS, &ep.State,
		&ep.DisabledReason, &disabledAt, &ep.CreatedAt, &ep.UpdatedAt, &ep.RelayURL,
		&ep.PublicKey, &ep.PreviousPublicKey, &ep.PayloadFormat, &ep.Filter, &ep.Ordering, &ep.DeadHead,
		&ep.DisabledCause, &pausedAt, &pausedUntil, &ep.AutoRecover, &probeAt, &ep.Probes)
	if errors.Is(err, pgx.ErrNoRows) {
		return ep, schema.ErrNotFound
	}
	if err != nil {
		return ep, err
	}
	ep.Timeout = time.Duration(timeoutMS) * time.Millisecond
	for _, t := range []struct {
		from *time.Time
		to   *time.Time
	}{{disabledAt, &ep.DisabledAt}, {pausedAt, &ep.PausedAt}, {pausedUntil, &ep.PausedUntil}, {probeAt, &ep.NextProbeAt}} {
		if t.from != nil {
			*t.to = *t.from
		}
	}
	if prevSecretEnc != nil && prevUntil != nil && time.Now().Before(*prevUntil) {
		ep.SecretsUntil = *prevUntil
	} else {
		ep.PreviousPublicKey = ""
	}
	if !open {
		// The API shows header names, never values: keep only the names.
		if headersEnc != nil {
			h, err := db.box.Open(headersEnc, ep.ID+"/headers")
			if err != nil {
				return ep, fmt.Errorf("endpoint %s headers: %w", ep.ID, err)
			}
			var full map[string]string
			if err := json.Unmarshal(h, &full); err != nil {
				return ep, fmt.Errorf("endpoint %s headers: %w", ep.ID, err)
			}
			for k := range full {
				ep.HeaderNames = append(ep.HeaderNames, k)
			}
			slices.Sort(ep.HeaderNames)
		}
		return ep, nil
	}
	u, err := db.box.Open(urlEnc, ep.ID+"/url")
	if err != nil {
		return ep, fmt.Errorf("endpoint %s url: %w", ep.ID, err)
	}
	ep.URL = string(u)
	if headersEnc != nil {
		h, err := db.box.Open(headersEnc, ep.ID+"/headers")
		if err != nil {
			return ep, fmt.Errorf("endpoint %s headers: %w", ep.ID, err)
		}
		if err := json.Unmarshal(h, &ep.Headers); err != nil {
			return ep, fmt.Errorf("endpoint %s headers: %w", ep.ID, err)
		}
	}
	s, err := db.box.Open(secretEnc, ep.ID+"/secret")
	if err != nil {
		return ep, fmt.Errorf("endpoint %s secret: %w", ep.ID, err)
	}
	ep.Secrets = []string{string(s)}
	if prevSecretEnc != nil && prevUntil != nil && time.Now().Before(*prevUntil) {
		p, err := db.box.Open(prevSecretEnc, ep.ID+"/prev_secret")
		if err != nil {
			return ep, fmt.Errorf("endpoint %s previous secret: %w", ep.ID, err)
		}
		ep.Secrets = append(ep.Secrets, string(p))
	}
	return ep, nil
}

// UpdateEndpoint applies an update to a tenant's endpoint and bumps
// updated_at, which tells every instance.
func (db *DB) UpdateEndpoint(ctx context.Context, tenant, id string, u schema.EndpointUpdate) (schema.Endpoint, error) {
	var urlEnc, headersEnc []byte
	if u.URL != nil {
		urlEnc = db.box.Seal([]byte(*u.URL), id+"/url")
	}
	if u.Headers != nil && len(*u.Headers) > 0 {
		h, err := json.Marshal(*u.Headers)
		if err != nil {
			return schema.Endpoint{}, fmt.Errorf("postgres: update endpoint: %w", err)
		}
		headersEnc = db.box.Seal(h, id+"/headers")
	}
	var timeoutMS *int64
	if u.Timeout != nil {
		ms := u.Timeout.Milliseconds()
		timeoutMS = &ms
	}
	var ep schema.Endpoint
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if u.Ordering != nil && *u.Ordering == schema.OrderingKey {
			// Made unordered, an endpoint keeps its keys until the api
			// role's sweep has sent what was blocked behind them and
			// forgotten them (ReleaseUnordered): ordered again before
			// that, its old heads would hold the new numbers. (No key is
			// deleted here: a dispatcher may be numbering under one.)
			// NO KEY UPDATE serialises two changes of the endpoint without
			// blocking a dispatcher's new key (its foreign key check).
			var was string
			var keys bool
			err := tx.QueryRow(ctx, `SELECT ep.ordering, EXISTS (SELECT 1 FROM ordering_keys k WHERE k.endpoint_id = ep.id)
				FROM endpoints ep WHERE ep.tenant = $1 AND ep.id = $2 FOR NO KEY UPDATE`, tenant, id).Scan(&was, &keys)
			if errors.Is(err, pgx.ErrNoRows) {
				return schema.ErrNotFound
			}
			if err != nil {
				return err
			}
			if was == schema.OrderingNone && keys {
				return schema.ErrOrderingReleasing
			}
		}
		row := tx.QueryRow(ctx, `UPDATE endpoints SET
			url_enc = COALESCE($3, url_enc),
			url_display = CASE WHEN $3::bytea IS NULL THEN url_display ELSE $4 END,
			description = COALESCE($5, description),
			event_types = COALESCE($6, event_types),
			headers_enc = CASE WHEN $7 THEN $8 ELSE headers_enc END,
			timeout_ms = COALESCE($9, timeout_ms),
			payload_format = COALESCE($10, payload_format),
			filter = COALESCE($11, filter),
			ordering = COALESCE($12, ordering),
			dead_head = COALESCE($13, dead_head),
			auto_recover = COALESCE($14, auto_recover),
			updated_at = clock_timestamp()
		WHERE tenant = $1 AND id = $2 RETURNING `+endpointColumns,
			tenant, id, urlEnc, u.DisplayURL, u.Description, u.EventTypes, u.Headers != nil, headersEnc, timeoutMS,
			u.PayloadFormat, u.Filter, u.Ordering, u.DeadHead, u.AutoRecover)
		var err error
		ep, err = db.scanEndpoint(row, false)
		return err
	})
	if errors.Is(err, schema.ErrOrderingReleasing) {
		return ep, err
	}
	err = wrapErr("update endpoint", err)
	return ep, err
}

// DeleteEndpoint deletes a tenant's endpoint. Its deliveries and attempts
// stay in the history.
func (db *DB) DeleteEndpoint(ctx context.Context, tenant, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM endpoints WHERE tenant = $1 AND id = $2`, tenant, id)
	if err != nil {
		return fmt.Errorf("postgres: delete endpoint: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return schema.ErrNotFound
	}
	return nil
}

// RotateSecret makes secret the endpoint's signing secret (publicKey: its
// whpk_ key when it is an Ed25519 key, else ""). The current one becomes
// the previous secret, valid (requests carry both signatures) for overlap;
// a previous secret from an earlier rotation is dropped. With no overlap,
// the current secret is dropped at once.
func (db *DB) RotateSecret(ctx context.Context, tenant, id, secret, publicKey string, overlap time.Duration) (schema.Endpoint, error) {
	var ep schema.Endpoint
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var cur []byte
		err := tx.QueryRow(ctx, `SELECT secret_enc FROM endpoints WHERE tenant = $1 AND id = $2 FOR UPDATE`, tenant, id).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return schema.ErrNotFound
		}
		if err != nil {
			return err
		}
		var prev []byte
		var until *time.Time
		if overlap > 0 {
			old, err := db.box.Open(cur, id+"/secret")
			if err != nil {
				return fmt.Errorf("endpoint %s secret: %w", id, err)
			}
			prev = db.box.Seal(old, id+"/prev_secret")
			u := time.Now().Add(overlap)
			until = &u
		}
		ep, err = db.scanEndpoint(tx.QueryRow(ctx, `UPDATE endpoints SET secret_enc = $3, prev_secret_enc = $4,
				prev_secret_until = $5, prev_public_key = CASE WHEN $4::bytea IS NULL THEN NULL ELSE public_key END,
				public_key = NULLIF($6, ''), updated_at = clock_timestamp()
			WHERE tenant = $1 AND id = $2 RETURNING `+endpointColumns,
			tenant, id, db.box.Seal([]byte(secret), id+"/secret"), prev, until, publicKey), false)
		return err
	})
	err = wrapErr("rotate secret", err)
	return ep, err
}

// SetEndpointState enables or disables a tenant's endpoint by hand. Enabling
// clears the failure count, the disabled reason and the probes; disabling
// records the reason, with "manual" as its cause, which no probe undoes. It
// bumps updated_at, which tells every instance.
func (db *DB) SetEndpointState(ctx context.Context, tenant, id string, enabled bool, reason string) (schema.Endpoint, error) {
	var row pgx.Row
	if enabled {
		row = db.pool.QueryRow(ctx, `UPDATE endpoints SET state = 'enabled', consecutive_failures = 0,
			failing_since = NULL, disabled_reason = NULL, disabled_at = NULL, disabled_cause = NULL,
			probe_at = NULL, probes = 0, updated_at = clock_timestamp()
			WHERE tenant = $1 AND id = $2 RETURNING `+endpointColumns, tenant, id)
	} else {
		row = db.pool.QueryRow(ctx, `UPDATE endpoints SET state = 'disabled', disabled_reason = $3,
			disabled_at = clock_timestamp(), disabled_cause = 'manual', probe_at = NULL, updated_at = clock_timestamp()
			WHERE tenant = $1 AND id = $2 RETURNING `+endpointColumns, tenant, id, reason)
	}
	ep, err := db.scanEndpoint(row, false)
	if err != nil {
		return ep, fmt.Errorf("postgres: set endpoint state: %w", err)
	}
	return ep, nil
}

// PauseEndpoint pauses a tenant's endpoint until until (zero: until it is
// resumed). Pausing a paused endpoint moves the end of its pause and keeps
// its start. It bumps updated_at, which tells every instance.
func (db *DB) PauseEndpoint(ctx context.Context, tenant, id string, until time.Time) (schema.Endpoint, error) {
	var end *time.Time
	if !until.IsZero() {
		end = &until
	}
	row := db.pool.QueryRow(ctx, `UPDATE endpoints SET
			paused_at = CASE WHEN paused_at IS NOT NULL AND (paused_until IS NULL OR paused_until > clock_timestamp())
				THEN paused_at ELSE clock_timestamp() END,
			paused_until = $3, updated_at = clock_timestamp()
		WHERE tenant = $1 AND id = $2 RETURNING `+endpointColumns, tenant, id, end)
	ep, err := db.scanEndpoint(row, false)
	err = wrapErr("pause endpoint", err)
	return ep, err
}

// ResumeEndpoint ends a tenant's endpoint's pause, if it has one, and
// bumps updated_at, which tells every instance.
func (db *DB) ResumeEndpoint(ctx context.Context, tenant, id string) (schema.Endpoint, error) {
	row := db.pool.QueryRow(ctx, `UPDATE endpoints SET paused_at = NULL, paused_until = NULL,
			updated_at = CASE WHEN paused_at IS NULL THEN updated_at ELSE clock_timestamp() END
		WHERE tenant = $1 AND id = $2 RETURNING `+endpointColumns, tenant, id)
	ep, err := db.scanEndpoint(row, false)
	err = wrapErr("resume endpoint", err)
	return ep, err
}

// EndPauses ends the pauses whose time is up (paused_until passed) and
// returns their endpoints. Deliverers stop parking at paused_until by
// themselves; this tidies the rows and tells every instance.
func (db *DB) EndPauses(ctx context.Context) ([]schema.Endpoint, error) {
	return db.queryEndpoints(ctx, false, `UPDATE endpoints SET paused_at = NULL, paused_until = NULL,
			updated_at = clock_timestamp()
		WHERE paused_at IS NOT NULL AND paused_until <= now() RETURNING `+endpointColumns)
}

// CountPaused returns how many endpoints are paused now.
func (db *DB) CountPaused(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM endpoints
		WHERE paused_at IS NOT NULL AND (paused_until IS NULL OR paused_until > now())`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: count paused: %w", err)
	}
	return n, nil
}

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
	row := db.pool.QueryRow(ctx, `UPDATE endpoints SET
			url_enc = COALESCE($3, url_enc),
			url_display = CASE WHEN $3::bytea IS NULL THEN url_display ELSE $4 END,
			description = COALESCE($5, description),
			event_types = COALESCE($6, event_types),
			headers_enc = CASE WHEN $7 THEN $8 ELSE headers_enc END,
			timeout_ms = COALESCE($9, timeout_ms),
			updated_at = clock_timestamp()
		WHERE tenant = $1 AND id = $2 RETURNING `+endpointColumns,
		tenant, id, urlEnc, u.DisplayURL, u.Description, u.EventTypes, u.Headers != nil, headersEnc, timeoutMS)
	ep, err := db.scanEndpoint(row, false)
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

// RotateSecret makes secret the endpoint's signing secret. The current one
// becomes the previous secret, valid (requests carry both signatures) for
// overlap; a previous secret from an earlier rotation is dropped. With no
// overlap, the current secret is dropped at once.
func (db *DB) RotateSecret(ctx context.Context, tenant, id, secret string, overlap time.Duration) (schema.Endpoint, error) {
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
				prev_secret_until = $5, updated_at = clock_timestamp()
			WHERE tenant = $1 AND id = $2 RETURNING `+endpointColumns,
			tenant, id, db.box.Seal([]byte(secret), id+"/secret"), prev, until), false)
		return err
	})
	err = wrapErr("rotate secret", err)
	return ep, err
}

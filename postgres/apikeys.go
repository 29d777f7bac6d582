package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

const apiKeyColumns = `id, tenant, name, created_at, last_used_at, revoked_at`

func scanAPIKey(r pgx.Row) (schema.APIKey, error) {
	var k schema.APIKey
	err := r.Scan(&k.ID, &k.Tenant, &k.Name, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, schema.ErrNotFound
	}
	return k, err
}

// CreateAPIKey stores a key of a tenant by the hash of its secret part.
// schema.ErrNotFound when the tenant does not exist.
func (db *DB) CreateAPIKey(ctx context.Context, id, tenant, name string, hash []byte) (schema.APIKey, error) {
	k, err := scanAPIKey(db.pool.QueryRow(ctx, `INSERT INTO api_keys (id, tenant, name, hash)
		SELECT $1, id, $3, $4 FROM tenants WHERE id = $2 RETURNING `+apiKeyColumns, id, tenant, name, hash))
	err = wrapErr("create api key", err)
	return k, err
}

// APIKeys lists a tenant's keys ordered by id, after the cursor id.
func (db *DB) APIKeys(ctx context.Context, tenant, after string, limit int) ([]schema.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: api keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (schema.APIKey, error) { return scanAPIKey(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: api keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey revokes a tenant's key (again: a no-op) and returns it.
func (db *DB) RevokeAPIKey(ctx context.Context, tenant, id string) (schema.APIKey, error) {
	k, err := scanAPIKey(db.pool.QueryRow(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())
		WHERE tenant = $1 AND id = $2 RETURNING `+apiKeyColumns, tenant, id))
	err = wrapErr("revoke api key", err)
	return k, err
}

// ActiveAPIKey returns the tenant and secret hash of a key that is not
// revoked (schema.ErrNotFound otherwise). The caller compares the hash.
func (db *DB) ActiveAPIKey(ctx context.Context, id string) (tenant string, hash []byte, err error) {
	err = db.pool.QueryRow(ctx, `SELECT tenant, hash FROM api_keys WHERE id = $1 AND revoked_at IS NULL`, id).
		Scan(&tenant, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, schema.ErrNotFound
	}
	if err != nil {
		return "", nil, fmt.Errorf("postgres: api key: %w", err)
	}
	return tenant, hash, nil
}

// TouchAPIKey records that a key was used now, at most once a minute.
func (db *DB) TouchAPIKey(ctx context.Context, id string) error {
	_, err := db.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = now()
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, id)
	if err != nil {
		return fmt.Errorf("postgres: touch api key: %w", err)
	}
	return nil
}

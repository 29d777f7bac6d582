package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// CreateTenant stores a new tenant; schema.ErrConflict when the id is taken.
func (db *DB) CreateTenant(ctx context.Context, id, name string) (schema.Tenant, error) {
	t := schema.Tenant{ID: id, Name: name}
	err := db.pool.QueryRow(ctx, `INSERT INTO tenants (id, name) VALUES ($1, $2) RETURNING created_at`,
		id, name).Scan(&t.CreatedAt)
	if isUniqueViolation(err) {
		return t, schema.ErrConflict
	}
	if err != nil {
		return t, fmt.Errorf("postgres: create tenant: %w", err)
	}
	return t, nil
}

// Tenant returns one tenant.
func (db *DB) Tenant(ctx context.Context, id string) (schema.Tenant, error) {
	t := schema.Tenant{ID: id}
	err := db.pool.QueryRow(ctx, `SELECT name, created_at FROM tenants WHERE id = $1`, id).Scan(&t.Name, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, schema.ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("postgres: tenant: %w", err)
	}
	return t, nil
}

// Tenants lists tenants ordered by id, after the cursor id.
func (db *DB) Tenants(ctx context.Context, after string, limit int) ([]schema.Tenant, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, name, created_at FROM tenants WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: tenants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (schema.Tenant, error) {
		var t schema.Tenant
		return t, r.Scan(&t.ID, &t.Name, &t.CreatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: tenants: %w", err)
	}
	return out, nil
}

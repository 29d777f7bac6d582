// Package postgres is hookstream's Postgres adapter: migrations, endpoints
// (with their secrets sealed at rest), the event dedupe gate, the batch
// writes of the sink, delivery history queries, and change notifications.
//
// It speaks the domain of package schema (its types and sentinel errors) and
// implements the small interfaces its users declare (api's stores,
// routing.Loader, pipeline's gates and writers); it holds no business rules
// beyond what the SQL needs: callers decide what to store and when.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/schema"
	"github.com/hookstream/hookstream/seal"
)

// DB is a connection pool with the box that seals secrets.
type DB struct {
	pool *pgxpool.Pool
	box  *seal.Box
}

// Open connects to Postgres. The URL is never part of an error: it may carry
// a password.
func Open(ctx context.Context, url string, box *seal.Box) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("postgres: cannot parse the database URL")
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "hookstream"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return &DB{pool: pool, box: box}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// migrationLock is the advisory lock key that serialises migrations of
// concurrent instances.
const migrationLock = 0x686f6f6b // "hook"

// Migrate applies the migrations of package schema that have not been
// applied yet, each in its own transaction, under an advisory lock so that
// instances starting together do not race.
func (db *DB) Migrate(ctx context.Context) (applied []string, err error) {
	return db.migrate(ctx, "")
}

// migrate applies the migrations up to and including last (all when
// last is empty).
func (db *DB) migrate(ctx context.Context, last string) (applied []string, err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return nil, fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock) //nolint:errcheck // the lock ends with the session anyway

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	names, err := fs.Glob(schema.Migrations, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	sort.Strings(names)
	for _, path := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "migrations/"), ".sql")
		if last != "" && name > last {
			break
		}
		sql, err := fs.ReadFile(schema.Migrations, path)
		if err != nil {
			return applied, fmt.Errorf("postgres: migrate %s: %w", name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, "INSERT INTO schema_migrations (name) VALUES ($1) ON CONFLICT DO NOTHING", name)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			applied = append(applied, name)
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("postgres: migrate %s: %w", name, err)
		}
	}
	return applied, nil
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// CreateSource stores a new source; schema.ErrConflict when its id is
// taken, schema.ErrLimitReached when max sources exist already (0: no bound).
func (db *DB) CreateSource(ctx context.Context, s schema.Source, max int) (schema.Source, error) {
	def, err := json.Marshal(s)
	if err != nil {
		return s, fmt.Errorf("postgres: create source: %w", err)
	}
	err = db.pool.QueryRow(ctx, `
		INSERT INTO sources (id, topic, topic_pattern, definition)
		SELECT $1, $2, $3, $4
		WHERE $5 <= 0 OR (SELECT count(*) FROM sources) < $5
		RETURNING created_at`,
		s.ID, s.Topic, s.TopicPattern, def, max).Scan(&s.CreatedAt)
	switch {
	case isUniqueViolation(err):
		return s, schema.ErrConflict
	case errors.Is(err, pgx.ErrNoRows):
		return s, schema.ErrLimitReached
	case err != nil:
		return s, fmt.Errorf("postgres: create source: %w", err)
	}
	return s, nil
}

func scanSource(r pgx.Row) (schema.Source, error) {
	var (
		s  schema.Source
		at = &s.CreatedAt
	)
	var def []byte
	if err := r.Scan(&def, at); err != nil {
		return s, err
	}
	created := s.CreatedAt
	if err := json.Unmarshal(def, &s); err != nil {
		return s, fmt.Errorf("source definition: %w", err)
	}
	s.CreatedAt = created
	return s, nil
}

// Source returns one source.
func (db *DB) Source(ctx context.Context, id string) (schema.Source, error) {
	s, err := scanSource(db.pool.QueryRow(ctx, `SELECT definition, created_at FROM sources WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, schema.ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("postgres: source: %w", err)
	}
	return s, nil
}

// Sources lists every source, by id.
func (db *DB) Sources(ctx context.Context) ([]schema.Source, error) {
	rows, err := db.pool.Query(ctx, `SELECT definition, created_at FROM sources ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: sources: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (schema.Source, error) { return scanSource(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: sources: %w", err)
	}
	return out, nil
}

// DeleteSource deletes a source; schema.ErrNotFound when there is none.
func (db *DB) DeleteSource(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM sources WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("postgres: delete source: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return schema.ErrNotFound
	}
	return nil
}

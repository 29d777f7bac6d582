package postgres

import (
	"context"
	"fmt"
	"time"
)

// TouchListener records that a listener's stream is alive (see
// listener.Store); false when the listener no longer exists. It leaves
// updated_at alone: no NOTIFY, no reload.
func (db *DB) TouchListener(ctx context.Context, id string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE endpoints SET listener_seen_at = now() WHERE id = $1 AND relay_url IS NOT NULL`, id)
	if err != nil {
		return false, fmt.Errorf("postgres: touch listener: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteListener deletes a listener, if it still exists; its deliveries and
// attempts stay in the history.
func (db *DB) DeleteListener(ctx context.Context, id string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM endpoints WHERE id = $1 AND relay_url IS NOT NULL`, id); err != nil {
		return fmt.Errorf("postgres: delete listener: %w", err)
	}
	return nil
}

// ReapListeners deletes the listeners untouched since before and returns
// how many.
func (db *DB) ReapListeners(ctx context.Context, before time.Time) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM endpoints WHERE relay_url IS NOT NULL AND listener_seen_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("postgres: reap listeners: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

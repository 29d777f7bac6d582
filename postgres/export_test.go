package postgres

import "context"

// MigrateUpTo applies the migrations up to and including last: a database
// as an older hookstream left it.
func (db *DB) MigrateUpTo(ctx context.Context, last string) ([]string, error) {
	return db.migrate(ctx, last)
}

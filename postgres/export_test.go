package postgres

import (
	"context"

	"github.com/hookstream/hookstream/schema"
)

// MigrateUpTo applies the migrations up to and including last: a database
// as an older hookstream left it.
func (db *DB) MigrateUpTo(ctx context.Context, last string) ([]string, error) {
	return db.migrate(ctx, last)
}

// DeliveriesQuery and FeedQuery are the statements Deliveries and
// AttemptFeed run for a filter, with their arguments.
func DeliveriesQuery(f schema.DeliveryFilter) (string, []any) { return deliveriesQuery(f) }
func FeedQuery(f schema.FeedFilter) (string, []any)           { return feedQuery(f) }

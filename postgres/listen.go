package postgres

import (
	"context"
	"fmt"
	"time"
)

// endpointChannel is the NOTIFY channel the endpoints trigger signals on.
const endpointChannel = "hookstream_endpoints"

// ListenEndpoints calls changed with the id of every endpoint inserted,
// updated or deleted by any instance, until ctx ends. Whenever the listening
// connection is (re)established it calls changed with "" first: changes may
// have been missed, so the caller reloads everything. Connection failures are
// retried with backoff and reported to onErr (which may be nil).
func (db *DB) ListenEndpoints(ctx context.Context, changed func(id string), onErr func(error)) {
	db.listenChannel(ctx, endpointChannel, changed, onErr)
}

// listenChannel calls changed with the payload of every notification on
// channel, and with "" whenever the connection is (re)established, until
// ctx ends.
func (db *DB) listenChannel(ctx context.Context, channel string, changed func(id string), onErr func(error)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listen(ctx, channel, changed)
		if ctx.Err() != nil {
			return
		}
		if onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (db *DB) listen(ctx context.Context, channel string, changed func(id string)) error {
	pooled, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	// A connection that has listened is not returned to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // closing a dead connection
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	changed("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("postgres: listen: %w", err)
		}
		changed(n.Payload)
	}
}

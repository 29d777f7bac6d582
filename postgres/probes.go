package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// probeDue is the SQL condition on endpoints ep that a probe is due: the
// failure rule disabled it, automatic recovery is on, its probe time has
// come, it is not paused, and it has a parked delivery to probe with.
const probeDue = `ep.state = 'disabled' AND ep.disabled_cause = 'failures' AND ep.auto_recover
	AND ep.probe_at <= now() AND (ep.paused_at IS NULL OR ep.paused_until <= now())
	AND EXISTS (SELECT 1 FROM deliveries d JOIN events e ON e.tenant = d.tenant AND e.id = d.event_id
		WHERE d.endpoint_id = ep.id AND d.status = 'parked')`

// ClaimProbe sends the probe of one endpoint whose probe is due, if there
// is one, in one transaction: it locks the endpoint (skipping one another
// instance is probing), and the oldest parked delivery of it; hands send
// the task of that delivery's next attempt, marked as a probe; shows the
// delivery as retrying; and moves the endpoint's probe time on by
// schedule.Wait(probes sent), counting this one. Only one instance probes
// an endpoint at a time: the next probe is not due until that time,
// whatever becomes of this one. It returns the endpoint as it was claimed,
// and false when no probe is due. If send fails, nothing changed. send
// runs inside the transaction, so it must not use this DB.
func (db *DB) ClaimProbe(ctx context.Context, schedule schema.ProbeSchedule,
	send func(context.Context, schema.Task) error) (schema.Endpoint, bool, error) {
	var (
		ep    schema.Endpoint
		found bool
	)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		ep, err = db.scanEndpoint(tx.QueryRow(ctx, `SELECT `+endpointColumns+` FROM endpoints ep WHERE `+probeDue+`
			ORDER BY ep.probe_at LIMIT 1 FOR UPDATE SKIP LOCKED`), false)
		if errors.Is(err, schema.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		t := schema.Task{V: schema.Version, EndpointID: ep.ID, EndpointVersion: ep.UpdatedAt, Probe: true}
		var (
			made int
			data string
			key  string
			seq  int64
			ce   *string
		)
		err = tx.QueryRow(ctx, `
			SELECT d.id, d.attempts, e.tenant, e.id, e.type, e.data::text, e.created_at,
				COALESCE(d.ordering_key, ''), COALESCE(d.seq, 0), e.cloudevent::text
			FROM deliveries d JOIN events e ON e.tenant = d.tenant AND e.id = d.event_id
			WHERE d.endpoint_id = $1 AND d.status = 'parked'
			ORDER BY d.created_at, d.id
			LIMIT 1
			FOR UPDATE OF d SKIP LOCKED`, ep.ID).Scan(&t.DeliveryID, &made, &t.Event.Tenant, &t.Event.ID, &t.Event.Type,
			&data, &t.Event.CreatedAt, &key, &seq, &ce)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // a replay holds them all: nothing to probe with now
		}
		if err != nil {
			return err
		}
		if err := setCloudEvent(&t.Event, ce); err != nil {
			return err
		}
		t.Attempt, t.Event.Data = made+1, []byte(data)
		if key != "" && seq > 0 {
			t.Order = &schema.TaskOrder{Key: key, Seq: seq}
		}
		if err := send(ctx, t); err != nil {
			return err
		}
		// updated_at stays, as in ReplayParked.
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'retrying', next_attempt_at = now() WHERE id = $1`,
			t.DeliveryID); err != nil {
			return err
		}
		// Neither does the endpoint's: a probe changes nothing the
		// deliverers read.
		wait := schedule.Wait(ep.Probes + 1)
		if _, err := tx.Exec(ctx, `UPDATE endpoints SET probes = probes + 1, probe_at = now() + $2::interval WHERE id = $1`,
			ep.ID, wait); err != nil {
			return err
		}
		found = true
		return nil
	})
	if err != nil {
		return ep, false, fmt.Errorf("postgres: claim probe: %w", dataError(err))
	}
	return ep, found, nil
}

// probeStart is when an endpoint just disabled by the failure rule is
// first probed.
func probeStart(disabledAt time.Time, schedule schema.ProbeSchedule) time.Time {
	return disabledAt.Add(schedule.Wait(0))
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/schema"
)

// AssignOrder gives each delivery its sequence number in its endpoint and
// key (docs/ordering.md), in the order of reqs, and says which are held:
// a delivery later than the head of its key is recorded blocked at once
// (blocked at birth), so that no task is made of it: the resolution of
// the delivery before it rebuilds its task. It is idempotent: a delivery
// that has a number keeps it, so a dispatcher batch read again after a
// crash gets the same numbers, and its deliveries released or resolved
// since are held. Keys are locked in a fixed order, so two dispatchers
// never deadlock.
func (db *DB) AssignOrder(ctx context.Context, reqs []schema.OrderRequest) ([]schema.OrderPlace, error) {
	out := make([]schema.OrderPlace, len(reqs))
	if len(reqs) == 0 {
		return out, nil
	}
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = r.DeliveryID
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		have := map[string]schema.OrderPlace{}
		rows, err := tx.Query(ctx, `
			SELECT o.delivery_id, o.seq, o.blocked_attempt IS NOT NULL OR o.resolved_at IS NOT NULL,
				o.blocked_attempt IS NOT NULL AND NOT o.released, COALESCE(h.delivery_id, '')
			FROM ordered_deliveries o
				JOIN ordering_keys k ON k.endpoint_id = o.endpoint_id AND k.key = o.key
				LEFT JOIN ordered_deliveries h ON h.endpoint_id = o.endpoint_id AND h.key = o.key AND h.seq = k.head_seq
			WHERE o.delivery_id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var p schema.OrderPlace
			if err := rows.Scan(&id, &p.Seq, &p.Held, &p.Blocked, &p.WaitingFor); err != nil {
				rows.Close()
				return err
			}
			if !p.Blocked {
				p.WaitingFor = ""
			}
			have[id] = p
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		type ek struct{ ep, key string }
		count := map[ek]int64{}
		var order []ek
		seen := map[string]bool{}
		for _, r := range reqs {
			if _, ok := have[r.DeliveryID]; ok || seen[r.DeliveryID] {
				continue
			}
			seen[r.DeliveryID] = true
			k := ek{r.EndpointID, r.Key}
			if count[k] == 0 {
				order = append(order, k)
			}
			count[k]++
		}
		if len(order) == 0 {
			for i, r := range reqs {
				out[i] = have[r.DeliveryID]
			}
			return nil
		}
		eps, keys, ns := make([]string, len(order)), make([]string, len(order)), make([]int64, len(order))
		for i, k := range order {
			eps[i], keys[i], ns[i] = k.ep, k.key, count[k]
		}
		rows, err = tx.Query(ctx, `
			INSERT INTO ordering_keys AS k (endpoint_id, key, next_seq)
			SELECT e, k, n FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(e, k, n) ORDER BY e, k
			ON CONFLICT (endpoint_id, key) DO UPDATE SET next_seq = k.next_seq + EXCLUDED.next_seq, updated_at = now(),
				-- A key with nothing pending: its new head is head from now.
				head_since = CASE WHEN k.head_seq > k.next_seq THEN now() ELSE k.head_since END
			RETURNING endpoint_id, key, next_seq, head_seq,
				COALESCE((SELECT o.delivery_id FROM ordered_deliveries o
					WHERE o.endpoint_id = k.endpoint_id AND o.key = k.key AND o.seq = k.head_seq), '')`, eps, keys, ns)
		if err != nil {
			return err
		}
		type keyState struct {
			next, head int64  // the next number to give; the head's
			headID     string // the head's delivery id, if it has one yet
		}
		state := map[ek]*keyState{}
		for rows.Next() {
			var k ek
			var st keyState
			var last int64
			if err := rows.Scan(&k.ep, &k.key, &last, &st.head, &st.headID); err != nil {
				rows.Close()
				return err
			}
			st.next = last - count[k] + 1
			state[k] = &st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var dIDs, dEps, dKeys, dTenants, dEvents, dTypes []string
		var dSeqs []int64
		var dBlocked []bool
		for _, r := range reqs {
			if _, ok := have[r.DeliveryID]; ok {
				continue
			}
			k := ek{r.EndpointID, r.Key}
			st := state[k]
			p := schema.OrderPlace{Seq: st.next}
			st.next++
			if p.Seq == st.head {
				st.headID = r.DeliveryID
			} else if p.Seq > st.head {
				p.Held, p.Blocked, p.WaitingFor = true, true, st.headID
			}
			have[r.DeliveryID] = p
			dIDs, dEps, dKeys = append(dIDs, r.DeliveryID), append(dEps, r.EndpointID), append(dKeys, r.Key)
			dTenants, dEvents, dTypes = append(dTenants, r.Tenant), append(dEvents, r.EventID), append(dTypes, r.EventType)
			dSeqs, dBlocked = append(dSeqs, p.Seq), append(dBlocked, p.Blocked)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO ordered_deliveries (delivery_id, endpoint_id, key, seq, tenant, event_id, event_type, blocked_attempt, blocked_tier)
			SELECT d, e, k, s, t, ev, ty, CASE WHEN b THEN 1 END, CASE WHEN b THEN 0 END
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bool[])
				AS u(d, e, k, s, t, ev, ty, b)`,
			dIDs, dEps, dKeys, dSeqs, dTenants, dEvents, dTypes, dBlocked); err != nil {
			return err
		}
		for i, r := range reqs {
			out[i] = have[r.DeliveryID]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: assign order: %w", dataError(err))
	}
	return out, nil
}

// AcquireOrdered is the ordering gate (docs/ordering.md): under the lock
// of its key, it tells whether the delivery is the head of its key (send
// it), later (block it: recorded with the attempt and tier it resumes
// with, until ResolveOrdered releases it), earlier (resolved already), or
// has no place in an order. order is the task's place when it carries one;
// without it the delivery's is read.
func (db *DB) AcquireOrdered(ctx context.Context, endpointID, deliveryID string, order *schema.TaskOrder, attempt, tier int) (schema.Gate, error) {
	if order != nil {
		g, ok, err := db.acquireFast(ctx, endpointID, deliveryID, order, attempt, tier)
		if err != nil {
			return schema.Gate{}, fmt.Errorf("postgres: acquire ordered: %w", dataError(err))
		}
		if ok {
			return g, nil
		}
	}
	var g schema.Gate
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		g = schema.Gate{}
		if order != nil {
			g.Key, g.Seq = order.Key, order.Seq
		} else {
			err := tx.QueryRow(ctx, `SELECT key, seq FROM ordered_deliveries WHERE delivery_id = $1 AND endpoint_id = $2`,
				deliveryID, endpointID).Scan(&g.Key, &g.Seq)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // Unordered
			}
			if err != nil {
				return err
			}
		}
		var head int64
		err := tx.QueryRow(ctx, `SELECT head_seq FROM ordering_keys WHERE endpoint_id = $1 AND key = $2 FOR UPDATE`,
			endpointID, g.Key).Scan(&head)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // Unordered: the endpoint's order was dropped
		}
		if err != nil {
			return err
		}
		if g.Seq == head {
			// The number must be this delivery's, not another's under a
			// key numbered again since (see acquireFast).
			var owner string
			err := tx.QueryRow(ctx, `SELECT delivery_id FROM ordered_deliveries WHERE endpoint_id = $1 AND key = $2 AND seq = $3`,
				endpointID, g.Key, head).Scan(&owner)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if owner != deliveryID {
				g = schema.Gate{} // Unordered
				return nil
			}
		}
		switch {
		case g.Seq == head:
			// A released head keeps its row marked released until it is
			// resolved: a crash that loses its task (it may be handled in
			// memory, in the chain of the delivery before it) is repaired
			// by the next task of the key that finds itself resolved.
			g.Verdict = schema.Head
			_, err = tx.Exec(ctx, `UPDATE ordering_keys SET halted_at = NULL
				WHERE endpoint_id = $1 AND key = $2 AND halted_at IS NOT NULL`, endpointID, g.Key)
			return err
		case g.Seq > head:
			g.Verdict = schema.Blocked
			tag, err := tx.Exec(ctx, `UPDATE ordered_deliveries SET blocked_attempt = $2, blocked_tier = $3, released = false
				WHERE delivery_id = $1`, deliveryID, attempt, tier)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				// A task with a place but no row: its number was never
				// given here. Nothing can release it; send it unordered.
				g.Verdict = schema.Unordered
				return nil
			}
			err = tx.QueryRow(ctx, `SELECT delivery_id FROM ordered_deliveries WHERE endpoint_id = $1 AND key = $2 AND seq = $3`,
				endpointID, g.Key, head).Scan(&g.WaitingFor)
			if errors.Is(err, pgx.ErrNoRows) {
				err = nil
			}
			return err
		default:
			g.Verdict = schema.Resolved
			// The release of the head may have been lost (a crash after
			// the resolution committed, before its task was produced).
			res, err := release(ctx, tx, endpointID, g.Key, head, true, schema.ReleaseTag(deliveryID, attempt))
			g.Release = res.Release
			return err
		}
	})
	if err != nil {
		return schema.Gate{}, fmt.Errorf("postgres: acquire ordered: %w", dataError(err))
	}
	return g, nil
}

// acquireFast is AcquireOrdered of a task that knows its place, in one
// round trip: a batch is one implicit transaction, and its second statement
// takes its snapshot after the first took the key's lock, so it sees what
// the key's last holder committed. Not ok (nothing done) when the task is
// earlier than the head: the slow path handles that.
func (db *DB) acquireFast(ctx context.Context, endpointID, deliveryID string, order *schema.TaskOrder, attempt, tier int) (schema.Gate, bool, error) {
	g := schema.Gate{Key: order.Key, Seq: order.Seq}
	b := &pgx.Batch{}
	b.Queue(`SELECT 1 FROM ordering_keys WHERE endpoint_id = $1 AND key = $2 FOR UPDATE`, endpointID, order.Key)
	b.Queue(`
		WITH k AS (SELECT head_seq FROM ordering_keys WHERE endpoint_id = $1 AND key = $2),
		-- A data-modifying CTE runs whether or not the query reads it.
		h AS (UPDATE ordering_keys SET halted_at = NULL
			WHERE endpoint_id = $1 AND key = $2 AND head_seq = $4 AND halted_at IS NOT NULL
				AND EXISTS (SELECT 1 FROM ordered_deliveries w
					WHERE w.endpoint_id = $1 AND w.key = $2 AND w.seq = $4 AND w.delivery_id = $3) RETURNING 1),
		b AS (UPDATE ordered_deliveries o SET blocked_attempt = $5, blocked_tier = $6, released = false
			FROM k WHERE o.delivery_id = $3 AND o.endpoint_id = $1 AND $4 > k.head_seq RETURNING 1)
		SELECT k.head_seq, (SELECT count(*) FROM b),
			COALESCE((SELECT w.delivery_id FROM ordered_deliveries w
				WHERE w.endpoint_id = $1 AND w.key = $2 AND w.seq = k.head_seq), '')
		FROM k`, endpointID, order.Key, deliveryID, order.Seq, attempt, tier)
	br := db.pool.SendBatch(ctx, b)
	var (
		head, blocked int64
		found         = true
	)
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&head, &blocked, &g.WaitingFor)
		if errors.Is(err, pgx.ErrNoRows) {
			found, err = false, nil
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return g, false, err
	case !found:
		return schema.Gate{}, true, nil // Unordered: the endpoint's order was dropped
	case order.Seq == head && g.WaitingFor != deliveryID:
		// The number is another delivery's: the task's place belongs to
		// a key forgotten since (its endpoint made unordered, or pruned)
		// and numbered again. It is sent unordered and resolves nothing.
		return schema.Gate{}, true, nil
	case order.Seq == head:
		g.Verdict, g.WaitingFor = schema.Head, ""
		return g, true, nil
	case order.Seq > head && blocked == 1:
		g.Verdict = schema.Blocked
		return g, true, nil
	case order.Seq > head:
		// A place but no row: its number was never given here. Nothing
		// can release it; it is sent unordered.
		return schema.Gate{}, true, nil
	}
	return g, false, nil
}

// ResolveOrdered records that the delivery numbered seq of a key reached
// its end: succeeded, or given up. Given up with halt, the key stops at it
// (halted); otherwise the head moves past it, and the next delivery, if
// blocked, is released: its task is returned to be produced. by is the
// release tag (schema.ReleaseTag) of the task read from Kafka that
// resolves it (the first of its chain). Resolving a delivery the head has
// passed releases the head again if it was released by the same task (a
// crash may have lost the released task).
func (db *DB) ResolveOrdered(ctx context.Context, endpointID, key string, seq int64, halt bool, by string) (schema.Resolution, error) {
	if !halt {
		res, ok, err := db.resolveFast(ctx, endpointID, key, seq, by)
		if err != nil {
			return schema.Resolution{}, fmt.Errorf("postgres: resolve ordered: %w", dataError(err))
		}
		if ok {
			return res, nil
		}
	}
	var res schema.Resolution
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		res = schema.Resolution{}
		var head int64
		err := tx.QueryRow(ctx, `SELECT head_seq FROM ordering_keys WHERE endpoint_id = $1 AND key = $2 FOR UPDATE`,
			endpointID, key).Scan(&head)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case seq > head:
			return nil // not the head: nothing to resolve
		case seq == head && halt:
			res.Halted = true
			_, err := tx.Exec(ctx, `UPDATE ordering_keys SET halted_at = COALESCE(halted_at, now())
				WHERE endpoint_id = $1 AND key = $2`, endpointID, key)
			return err
		case seq == head:
			head, err = advance(ctx, tx, endpointID, key, head)
			if err != nil {
				return err
			}
			res, err = release(ctx, tx, endpointID, key, head, false, by)
			return err
		default:
			res, err = release(ctx, tx, endpointID, key, head, true, by)
			return err
		}
	})
	if err != nil {
		return schema.Resolution{}, fmt.Errorf("postgres: resolve ordered: %w", dataError(err))
	}
	return res, nil
}

// resolveFast is ResolveOrdered of the head, in one round trip (see
// acquireFast): the head moves on, the resolved delivery is marked so and
// the next one, if blocked, released. Not ok (nothing done) when seq is not
// the head, or when the next delivery's event is gone: the slow path
// handles those.
func (db *DB) resolveFast(ctx context.Context, endpointID, key string, seq int64, by string) (schema.Resolution, bool, error) {
	var res schema.Resolution
	b := &pgx.Batch{}
	b.Queue(`SELECT 1 FROM ordering_keys WHERE endpoint_id = $1 AND key = $2 FOR UPDATE`, endpointID, key)
	b.Queue(`
		WITH n AS (SELECT o.delivery_id, o.blocked_attempt, COALESCE(o.blocked_tier, 0) AS tier, o.tenant, o.event_id,
				o.event_type, e.data::text AS data, e.created_at, e.cloudevent::text AS cloudevent
			FROM ordered_deliveries o LEFT JOIN events e ON e.tenant = o.tenant AND e.id = o.event_id
			WHERE o.endpoint_id = $1 AND o.key = $2 AND o.seq = $3 + 1 AND o.blocked_attempt IS NOT NULL),
		k AS (UPDATE ordering_keys SET head_seq = head_seq + 1, halted_at = NULL, updated_at = now(), head_since = now()
			WHERE endpoint_id = $1 AND key = $2 AND head_seq = $3
				AND NOT EXISTS (SELECT 1 FROM n WHERE n.data IS NULL)
			RETURNING head_seq),
		d AS (UPDATE ordered_deliveries SET resolved_at = now(), blocked_attempt = NULL, blocked_tier = NULL, released = false
			WHERE endpoint_id = $1 AND key = $2 AND seq = $3 AND EXISTS (SELECT 1 FROM k)),
		r AS (UPDATE ordered_deliveries o SET released = true, released_by = $4 FROM n
			WHERE o.delivery_id = n.delivery_id AND EXISTS (SELECT 1 FROM k) RETURNING 1)
		SELECT (SELECT count(*) FROM k), (SELECT count(*) FROM r), n.delivery_id, n.blocked_attempt, n.tier,
			n.tenant, n.event_id, n.event_type, n.data, n.created_at, n.cloudevent
		FROM (SELECT 1) x LEFT JOIN n ON true`, endpointID, key, seq, by)
	br := db.pool.SendBatch(ctx, b)
	var (
		moved, released int64
		id, tenant      *string
		evID, evType    *string
		attempt, tier   *int
		data, ce        *string
		created         *time.Time
	)
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&moved, &released, &id, &attempt, &tier, &tenant, &evID, &evType, &data, &created, &ce)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil || moved == 0 {
		return res, false, err
	}
	if released == 1 && id != nil && data != nil {
		res.Release = &schema.Task{V: schema.Version, DeliveryID: *id, EndpointID: endpointID, Attempt: *attempt, Tier: *tier,
			Order: &schema.TaskOrder{Key: key, Seq: seq + 1},
			Event: schema.Event{ID: *evID, Tenant: *tenant, Type: *evType, Data: []byte(*data), CreatedAt: *created}}
		if err := setCloudEvent(&res.Release.Event, ce); err != nil {
			return res, false, err
		}
	}
	return res, true, nil
}

// advance moves a key's head past head and marks the delivery resolved.
func advance(ctx context.Context, tx pgx.Tx, endpointID, key string, head int64) (int64, error) {
	if _, err := tx.Exec(ctx, `UPDATE ordered_deliveries SET resolved_at = now(), blocked_attempt = NULL, blocked_tier = NULL,
			released = false WHERE endpoint_id = $1 AND key = $2 AND seq = $3`,
		endpointID, key, head); err != nil {
		return 0, err
	}
	_, err := tx.Exec(ctx, `UPDATE ordering_keys SET head_seq = $3, halted_at = NULL, updated_at = now(), head_since = now() WHERE endpoint_id = $1 AND key = $2`,
		endpointID, key, head+1)
	return head + 1, err
}

// release returns the task of a key's head when it is blocked and marks it
// released by by (a release tag). With again, only a head released before
// by the same tag is released again: the task that released it, read
// again after a crash that may have lost the released task. A blocked
// head whose event was removed meanwhile is passed over (in Gone) and the
// next one looked at.
func release(ctx context.Context, tx pgx.Tx, endpointID, key string, head int64, again bool, by string) (schema.Resolution, error) {
	var res schema.Resolution
	for {
		var (
			t        = schema.Task{V: schema.Version, EndpointID: endpointID}
			attempt  int
			tier     int
			released bool
			mine     bool
			data     *string
			created  *time.Time
			ce       *string
		)
		err := tx.QueryRow(ctx, `
			SELECT o.delivery_id, o.blocked_attempt, COALESCE(o.blocked_tier, 0), o.released,
				o.released_by IS NULL OR o.released_by = $4,
				o.tenant, o.event_id, o.event_type, e.data::text, e.created_at, e.cloudevent::text
			FROM ordered_deliveries o LEFT JOIN events e ON e.tenant = o.tenant AND e.id = o.event_id
			WHERE o.endpoint_id = $1 AND o.key = $2 AND o.seq = $3 AND o.blocked_attempt IS NOT NULL
			-- Locked: a row the sweep of an endpoint made unordered holds
			-- is released by one of the two only (ReleaseUnordered).
			FOR UPDATE OF o`,
			endpointID, key, head, by).Scan(&t.DeliveryID, &attempt, &tier, &released, &mine,
			&t.Event.Tenant, &t.Event.ID, &t.Event.Type, &data, &created, &ce)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && again && (!released || !mine)) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		t.Attempt, t.Tier, t.Order = attempt, tier, &schema.TaskOrder{Key: key, Seq: head}
		if data == nil {
			res.Gone = append(res.Gone, t)
			if head, err = advance(ctx, tx, endpointID, key, head); err != nil {
				return res, err
			}
			again = false
			continue
		}
		t.Event.Data, t.Event.CreatedAt = []byte(*data), *created
		if err := setCloudEvent(&t.Event, ce); err != nil {
			return res, err
		}
		if _, err := tx.Exec(ctx, `UPDATE ordered_deliveries SET released = true, released_by = $2 WHERE delivery_id = $1`,
			t.DeliveryID, by); err != nil {
			return res, err
		}
		res.Release = &t
		return res, nil
	}
}

// SkipOrdered resolves, by hand, the head of an ordering key without
// sending it: a halted head, or one that is dead, parked or never arrived.
// It returns the next delivery's task when that one was blocked, to be
// produced. Skipping a delivery the head already passed releases the head
// again if its task may not have been produced (skip is safe to repeat).
// schema.ErrNotFound when the tenant has no such delivery in an order;
// schema.ErrNotHead when it is later than the head or being retried.
func (db *DB) SkipOrdered(ctx context.Context, tenant, deliveryID string) (*schema.Task, error) {
	var out *schema.Task
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var (
			endpointID, key string
			seq, head       int64
			halted          *time.Time
			status          *string
		)
		err := tx.QueryRow(ctx, `SELECT o.endpoint_id, o.key, o.seq FROM ordered_deliveries o
			WHERE o.delivery_id = $1 AND o.tenant = $2`, deliveryID, tenant).Scan(&endpointID, &key, &seq)
		if errors.Is(err, pgx.ErrNoRows) {
			// Resolved already (or never ordered): its key, from history.
			err = tx.QueryRow(ctx, `SELECT endpoint_id, ordering_key, seq FROM deliveries
				WHERE id = $1 AND tenant = $2 AND seq IS NOT NULL`, deliveryID, tenant).Scan(&endpointID, &key, &seq)
			if errors.Is(err, pgx.ErrNoRows) {
				return schema.ErrNotFound
			}
		}
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `SELECT head_seq, halted_at FROM ordering_keys WHERE endpoint_id = $1 AND key = $2 FOR UPDATE`,
			endpointID, key).Scan(&head, &halted)
		if errors.Is(err, pgx.ErrNoRows) {
			return schema.ErrNotFound
		}
		if err != nil {
			return err
		}
		by := schema.ReleaseTag(deliveryID, 0) // a skip's tag: tasks count attempts from 1
		if seq < head {
			res, err := release(ctx, tx, endpointID, key, head, true, by)
			out = res.Release
			return err
		}
		if seq > head {
			return schema.ErrNotHead
		}
		err = tx.QueryRow(ctx, `SELECT status FROM deliveries WHERE id = $1`, deliveryID).Scan(&status)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if halted == nil && status != nil && *status != string(schema.OutcomeDead) && *status != string(schema.OutcomeParked) {
			return schema.ErrNotHead
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET last_error = 'skipped by hand: the next delivery of its ordering key goes on'
			WHERE id = $1`, deliveryID); err != nil {
			return err
		}
		if head, err = advance(ctx, tx, endpointID, key, head); err != nil {
			return err
		}
		res, err := release(ctx, tx, endpointID, key, head, false, by)
		out = res.Release
		// A blocked head whose event is gone stays shown as blocked; the
		// deliverer's path records those dead. Here they are only passed.
		return err
	})
	if err == nil || errors.Is(err, schema.ErrNotFound) || errors.Is(err, schema.ErrNotHead) {
		return out, err
	}
	return nil, fmt.Errorf("postgres: skip ordered: %w", dataError(err))
}

// HaltedKeys lists the keys of a tenant's endpoint stopped at a dead head,
// longest halted first.
func (db *DB) HaltedKeys(ctx context.Context, tenant, endpointID string, limit int) ([]schema.HaltedKey, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT k.endpoint_id, k.key, COALESCE(h.delivery_id, ''), k.head_seq, k.halted_at,
			(SELECT count(*) FROM ordered_deliveries b WHERE b.endpoint_id = k.endpoint_id AND b.key = k.key
				AND b.blocked_attempt IS NOT NULL AND NOT b.released)
		FROM ordering_keys k
			JOIN endpoints ep ON ep.id = k.endpoint_id AND ep.tenant = $1
			LEFT JOIN ordered_deliveries h ON h.endpoint_id = k.endpoint_id AND h.key = k.key AND h.seq = k.head_seq
		WHERE k.endpoint_id = $2 AND k.halted_at IS NOT NULL
		ORDER BY k.halted_at, k.key
		LIMIT $3`, tenant, endpointID, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: halted keys: %w", err)
	}
	defer rows.Close()
	var out []schema.HaltedKey
	for rows.Next() {
		var h schema.HaltedKey
		if err := rows.Scan(&h.EndpointID, &h.Key, &h.Head, &h.Seq, &h.HaltedAt, &h.Blocked); err != nil {
			return nil, fmt.Errorf("postgres: halted keys: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: halted keys: %w", err)
	}
	return out, nil
}

// OrderingStats counts blocked deliveries and halted keys, and says how
// long the longest-halted and the longest-stalled key have waited (see
// schema.OrderingStats). Stalls are looked for among the keys of ordered,
// sendable endpoints that have numbers past their head, oldest head
// first, through the index of those (ordering_keys_pending_idx): at most
// stallCandidates keys whose head is older than schema.StallGrace, each
// with its head's delivery read. A stall counts from the latest of the
// moment the head became head, its retry's due time, and the end of a
// pause. (A parked head is replayed due now when its endpoint can be sent
// to again, within a sweep; the alert waits 5 minutes.)
func (db *DB) OrderingStats(ctx context.Context) (schema.OrderingStats, error) {
	var s schema.OrderingStats
	var halt float64
	var stall *float64
	var stalledEP, stalledHead *string
	var stalledSeq *int64
	err := db.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM ordered_deliveries WHERE blocked_attempt IS NOT NULL AND NOT released),
			(SELECT count(*) FROM ordering_keys WHERE halted_at IS NOT NULL),
			COALESCE((SELECT extract(epoch FROM now() - min(halted_at)) FROM ordering_keys WHERE halted_at IS NOT NULL), 0),
			s.stall, s.endpoint_id, s.head, s.head_seq
		FROM (SELECT 1) x LEFT JOIN (
			SELECT extract(epoch FROM now() - GREATEST(k.head_since, r.due, k.paused_until)) AS stall,
				k.endpoint_id, h.delivery_id AS head, k.head_seq
			FROM (SELECT k.endpoint_id, k.key, k.head_seq, k.head_since, ep.paused_until
				FROM ordering_keys k
					JOIN endpoints ep ON ep.id = k.endpoint_id AND ep.ordering = 'key' AND ep.state = 'enabled'
						AND (ep.paused_at IS NULL OR ep.paused_until <= now())
				WHERE k.halted_at IS NULL AND k.next_seq > k.head_seq AND k.head_since < now() - $1::interval
				ORDER BY k.head_since LIMIT $2) k
			LEFT JOIN ordered_deliveries h ON h.endpoint_id = k.endpoint_id AND h.key = k.key AND h.seq = k.head_seq
			-- A head waiting in a retry tier is stalled only once its
			-- retry is overdue.
			LEFT JOIN LATERAL (SELECT max(d.next_attempt_at) AS due FROM deliveries d
				WHERE d.id = h.delivery_id AND d.status = 'retrying') r ON true
			ORDER BY 1 DESC LIMIT 1) s ON true`,
		schema.StallGrace, stallCandidates).
		Scan(&s.Blocked, &s.HaltedKeys, &halt, &stall, &stalledEP, &stalledHead, &stalledSeq)
	if err != nil {
		return s, fmt.Errorf("postgres: ordering stats: %w", err)
	}
	s.OldestHalt = time.Duration(halt * float64(time.Second))
	if stall != nil && *stall > 0 {
		s.OldestStall = time.Duration(*stall * float64(time.Second))
		s.StalledEndpoint, s.StalledSeq = *stalledEP, *stalledSeq
		if stalledHead != nil {
			s.StalledHead = *stalledHead
		}
	}
	return s, nil
}

// stallCandidates bounds the keys OrderingStats reads the head of.
const stallCandidates = 100

// PruneOrdering forgets what ordered delivery no longer needs, at most
// limit rows of each kind per call (one short statement each): the rows of
// deliveries resolved before resolvedBefore (kept until then so that a
// dispatcher batch read again after a crash finds its numbers), and the
// keys whose every delivery is resolved, not halted, and unchanged since
// before idleBefore (zero: keys are kept). A forgotten key that comes back
// is numbered from 1 again (docs/ordering.md).
func (db *DB) PruneOrdering(ctx context.Context, resolvedBefore, idleBefore time.Time, limit int) (deliveries, keys int64, err error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM ordered_deliveries WHERE delivery_id = ANY(ARRAY(
		SELECT delivery_id FROM ordered_deliveries WHERE resolved_at < $1 LIMIT $2))`, resolvedBefore, limit)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: prune ordering: %w", err)
	}
	deliveries = tag.RowsAffected()
	if idleBefore.IsZero() {
		return deliveries, 0, nil
	}
	// The conditions are checked again on the row as it stands once
	// locked: a key given a number meanwhile stays.
	tag, err = db.pool.Exec(ctx, `DELETE FROM ordering_keys k
		WHERE (k.endpoint_id, k.key) IN (SELECT endpoint_id, key FROM ordering_keys
				WHERE halted_at IS NULL AND updated_at < $1 AND head_seq > next_seq LIMIT $2)
			AND k.halted_at IS NULL AND k.updated_at < $1 AND k.head_seq > k.next_seq`, idleBefore, limit)
	if err != nil {
		return deliveries, 0, fmt.Errorf("postgres: prune ordering keys: %w", err)
	}
	return deliveries, tag.RowsAffected(), nil
}

// UnorderedWithKeys lists up to limit endpoints, picked at random, whose
// ordering was switched off ("none") and that still have keys: they are
// kept until ReleaseUnordered has sent every blocked delivery.
func (db *DB) UnorderedWithKeys(ctx context.Context, limit int) ([]schema.Endpoint, error) {
	return db.queryEndpoints(ctx, false, `SELECT `+endpointColumns+` FROM endpoints ep
		WHERE ep.ordering = 'none' AND EXISTS (SELECT 1 FROM ordering_keys k WHERE k.endpoint_id = ep.id)
		-- In no fixed order: endpoints whose keys are kept a while (a
		-- released delivery) do not hold the others back.
		ORDER BY random() LIMIT $1`, limit)
}

// ReleaseUnordered sends the deliveries of an endpoint that were blocked
// when its ordering was switched off: up to maxUnorderBatches batches a
// call (a sweep goes on to other endpoints; the next call takes the rest).
// Each batch's tasks, unordered and tagged with version (the endpoint's),
// are handed to send, and once send returns nil their rows are removed and
// their history shows them retrying, due now. A crash after send and
// before the commit sends them again (a duplicate, by the same
// webhook-id). A row released by its key's resolution is left to the
// task that released it. Once nothing is left to send, the keys with no
// blocked or released delivery are forgotten, under their locks, in the
// order AssignOrder locks them: a dispatcher that still numbered
// deliveries for the endpoint (its table not yet told of the change)
// keeps its key until a later call sends those too, and a released
// delivery keeps its key until it is resolved, so that the task that
// released it, read again after a crash, releases it again. send runs
// inside the transaction, so it must not use this DB. It returns how many
// deliveries were sent or given up.
func (db *DB) ReleaseUnordered(ctx context.Context, endpointID string, version time.Time,
	send func(context.Context, []schema.Task) error) (int, error) {
	total := 0
	for range maxUnorderBatches {
		n, err := db.releaseUnorderedBatch(ctx, endpointID, version, send)
		total += n
		if err != nil {
			return total, fmt.Errorf("postgres: release unordered: %w", dataError(err))
		}
		if n < replayBatch {
			return total, db.forgetUnorderedKeys(ctx, endpointID)
		}
	}
	return total, nil
}

// maxUnorderBatches bounds the batches of one ReleaseUnordered call.
const maxUnorderBatches = 20

// forgetUnorderedKeys deletes the keys of an unordered endpoint with
// nothing blocked left, and nothing released either unless the endpoint
// has not changed for releaseGrace: a released delivery's task lost in a
// crash is released again by the task that released it, read again within
// minutes; after that the key is not kept for a released head that waits
// in a retry tier, parked, or dead at a halt.
func (db *DB) forgetUnorderedKeys(ctx context.Context, endpointID string) error {
	const forgettable = `NOT EXISTS (SELECT 1 FROM ordered_deliveries o WHERE o.endpoint_id = k.endpoint_id AND o.key = k.key
			AND o.blocked_attempt IS NOT NULL
			AND (NOT o.released OR (SELECT ep.updated_at > now() - $2::interval FROM endpoints ep WHERE ep.id = k.endpoint_id)))`
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT k.key FROM ordering_keys k WHERE k.endpoint_id = $1 AND `+forgettable+`
			ORDER BY k.key FOR UPDATE`, endpointID, releaseGrace)
		if err != nil {
			return err
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(keys) == 0 {
			return err
		}
		// A statement of its own: its snapshot, taken once the keys are
		// locked (in the order AssignOrder locks them), sees every
		// delivery numbered under them.
		_, err = tx.Exec(ctx, `DELETE FROM ordering_keys k WHERE k.endpoint_id = $1 AND k.key = ANY($3) AND `+forgettable,
			endpointID, releaseGrace, keys)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: forget unordered keys: %w", dataError(err))
	}
	return nil
}

// releaseGrace is how long after its endpoint was made unordered a key is
// kept for a delivery released under it.
const releaseGrace = 10 * time.Minute

func (db *DB) releaseUnorderedBatch(ctx context.Context, endpointID string, version time.Time,
	send func(context.Context, []schema.Task) error) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT o.delivery_id, o.blocked_attempt, COALESCE(o.blocked_tier, 0), o.tenant, o.event_id, o.event_type,
				e.data::text, e.created_at, e.cloudevent::text
			FROM ordered_deliveries o LEFT JOIN events e ON e.tenant = o.tenant AND e.id = o.event_id
			WHERE o.endpoint_id = $1 AND o.blocked_attempt IS NOT NULL AND NOT o.released
			LIMIT $2
			FOR UPDATE OF o SKIP LOCKED`, endpointID, replayBatch)
		if err != nil {
			return err
		}
		var (
			tasks     []schema.Task
			ids, gone []string
		)
		for rows.Next() {
			var (
				t       = schema.Task{V: schema.Version, EndpointID: endpointID, EndpointVersion: version}
				data    *string
				created *time.Time
				ce      *string
			)
			if err := rows.Scan(&t.DeliveryID, &t.Attempt, &t.Tier, &t.Event.Tenant, &t.Event.ID, &t.Event.Type,
				&data, &created, &ce); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, t.DeliveryID)
			if data == nil {
				// Its event was removed by retention: nothing to send.
				gone = append(gone, t.DeliveryID)
				continue
			}
			if err := setCloudEvent(&t.Event, ce); err != nil {
				rows.Close()
				return err
			}
			t.Event.Data, t.Event.CreatedAt = []byte(*data), *created
			tasks = append(tasks, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		if len(tasks) > 0 {
			if err := send(ctx, tasks); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM ordered_deliveries WHERE delivery_id = ANY($1)`, ids); err != nil {
			return err
		}
		// As in replayBatch, updated_at stays.
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET waiting_for = NULL,
				status = CASE WHEN id = ANY($3) THEN 'dead' ELSE 'retrying' END,
				next_attempt_at = CASE WHEN id = ANY($3) THEN NULL ELSE now() END,
				last_error = CASE WHEN id = ANY($3) THEN 'event removed by retention while blocked' ELSE last_error END
			WHERE endpoint_id = $1 AND id = ANY($2) AND status = 'blocked'`, endpointID, ids, gone); err != nil {
			return err
		}
		n = len(ids)
		return nil
	})
	return n, err
}

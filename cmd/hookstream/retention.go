package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/postgres"
)

// Retention deletes in batches of retentionBatch rows (the quarantine's
// index, the DEFAULT and legacy partitions, the events' dedupe keys),
// pausing retentionPause between statements so that the sink's writes
// interleave; whole partitions are dropped.
const (
	retentionBatch = 1000
	retentionPause = 50 * time.Millisecond
	// retentionLock is the advisory lock that lets one api instance at a
	// time prune.
	retentionLock = 0x686f6f6b + 1
	// partitionLock is the advisory lock that lets one instance at a time
	// make partitions.
	partitionLock = 0x686f6f6b + 2
	// partitionCheck is how often partitions are made ahead (at most: a
	// quarter of the partition interval when that is shorter).
	partitionCheck = time.Hour
	// orderingLock lets one instance at a time prune ordered delivery's
	// rows; orderingResolvedKeep is how long a resolved delivery keeps its
	// row (docs/ordering.md: a dispatcher batch read again after a crash
	// within it gets the same numbers).
	orderingLock         = 0x686f6f6b + 3
	orderingResolvedKeep = time.Hour
)

// startOrderingPrune runs the api role's pruning of ordered delivery
// (postgres.DB.PruneOrdering), every RetentionInterval, whether or not
// retention is on: resolved deliveries' rows after orderingResolvedKeep,
// and keys idle, resolved and not halted for Retention (never when
// retention is off).
func (p *process) startOrderingPrune() {
	pruned := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookstream_ordering_pruned_total",
		Help: "Rows of ordered delivery pruned: resolved deliveries' rows, and idle ordering keys forgotten.",
	}, []string{"kind"})
	pruned.WithLabelValues("deliveries")
	pruned.WithLabelValues("keys")
	p.reg.MustRegister(pruned)
	log := p.log.With("component", "ordering-prune")
	p.start("ordering-prune", func(ctx context.Context) error {
		t := time.NewTicker(p.cfg.RetentionInterval)
		defer t.Stop()
		for {
			if _, err := p.db.WithLock(ctx, orderingLock, func(ctx context.Context) error {
				var idle time.Time
				if p.cfg.Retention > 0 {
					idle = time.Now().Add(-p.cfg.Retention)
				}
				return pruneOrdering(ctx, p.db, time.Now().Add(-orderingResolvedKeep), idle, pruned)
			}); err != nil && ctx.Err() == nil {
				log.Warn("ordering prune failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
}

// pruneOrdering prunes in batches of retentionBatch until a batch comes
// back short, pausing between them.
func pruneOrdering(ctx context.Context, db *postgres.DB, resolvedBefore, idleBefore time.Time, pruned *prometheus.CounterVec) error {
	for {
		d, k, err := db.PruneOrdering(ctx, resolvedBefore, idleBefore, retentionBatch)
		pruned.WithLabelValues("deliveries").Add(float64(d))
		pruned.WithLabelValues("keys").Add(float64(k))
		if err != nil || (d < retentionBatch && k < retentionBatch) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retentionPause):
		}
	}
}

// startRetention runs the pruning loop of the api role, unless retention is
// off: every RetentionInterval, the instance that gets the lock drops the
// history partitions older than Retention and deletes the other rows older
// than it.
func (p *process) startRetention() {
	if p.cfg.Retention == 0 {
		return
	}
	deleted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookstream_retention_deleted_total",
		Help: "Rows deleted by retention, by table (rows of dropped partitions are not counted).",
	}, []string{"table"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookstream_retention_partitions_dropped_total",
		Help: "History partitions detached and dropped by retention, by table.",
	}, []string{"table"})
	for _, t := range append(postgres.RetainedTables, "attempts", "deliveries", "events", "event_keys") {
		deleted.WithLabelValues(t)
	}
	for _, t := range postgres.HistoryTables {
		dropped.WithLabelValues(t)
	}
	p.reg.MustRegister(deleted, dropped)
	log := p.log.With("component", "retention")
	p.start("retention", func(ctx context.Context) error {
		t := time.NewTicker(p.cfg.RetentionInterval)
		defer t.Stop()
		for {
			if _, err := p.db.WithLock(ctx, retentionLock, func(ctx context.Context) error {
				return prune(ctx, p.db, time.Now().Add(-p.cfg.Retention), deleted, dropped, log)
			}); err != nil && ctx.Err() == nil {
				log.Warn("retention pass failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
}

// prune removes the history dated before cutoff (postgres.RetainHistory)
// and the quarantine's rows, in small batches.
func prune(ctx context.Context, db *postgres.DB, cutoff time.Time, deleted, dropped *prometheus.CounterVec, log interface {
	Info(string, ...any)
}) error {
	res, err := db.RetainHistory(ctx, cutoff, retentionBatch, retentionPause)
	for table, n := range res.Deleted {
		deleted.WithLabelValues(table).Add(float64(n))
	}
	for _, pt := range res.Dropped {
		log.Info("history partition dropped", "partition", pt.Name)
		dropped.WithLabelValues(pt.Table).Inc()
	}
	if err != nil {
		return err
	}
	for _, table := range postgres.RetainedTables {
		for {
			n, err := db.Prune(ctx, table, cutoff, retentionBatch)
			if err != nil {
				return err
			}
			deleted.WithLabelValues(table).Add(float64(n))
			if n < retentionBatch {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(retentionPause):
			}
		}
	}
	return nil
}

// startPartitions makes the history partitions ahead: once before the
// roles start (so that their first writes find them), then every
// partitionCheck, by whichever instance gets the lock. The gauge
// hookstream_history_partitions_end_timestamp_seconds says when the last
// partition of each table ends: alert when that comes within a day.
func (p *process) startPartitions() {
	end := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hookstream_history_partitions_end_timestamp_seconds",
		Help: "Unix time at which the last partition of each history table ends (rows past it go to the DEFAULT partition).",
	}, []string{"table"})
	p.reg.MustRegister(end)
	log := p.log.With("component", "partitions")
	pass := func(ctx context.Context) {
		if _, err := p.db.WithLock(ctx, partitionLock, func(ctx context.Context) error {
			made, err := p.db.EnsurePartitions(ctx, time.Now(), p.cfg.PartitionInterval, p.cfg.PartitionsAhead)
			if len(made) > 0 {
				log.Info("history partitions made", "partitions", made)
			}
			return err
		}); err != nil && ctx.Err() == nil {
			log.Warn("making history partitions failed", "err", err)
		}
		for _, table := range postgres.HistoryTables {
			parts, err := p.db.Partitions(ctx, table)
			if err != nil {
				continue
			}
			var last time.Time
			for _, pt := range parts {
				if pt.To.After(last) {
					last = pt.To
				}
			}
			if !last.IsZero() {
				end.WithLabelValues(table).Set(float64(last.Unix()))
			}
		}
	}
	pass(p.ctx)
	every := min(partitionCheck, p.cfg.PartitionInterval/4)
	p.start("partitions", func(ctx context.Context) error {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				pass(ctx)
			}
		}
	})
}

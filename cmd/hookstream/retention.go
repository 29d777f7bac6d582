package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/postgres"
)

// Retention deletes in batches of retentionBatch rows, pausing
// retentionPause between statements so that the sink's writes interleave.
const (
	retentionBatch = 1000
	retentionPause = 50 * time.Millisecond
	// retentionLock is the advisory lock that lets one api instance at a
	// time prune.
	retentionLock = 0x686f6f6b + 1
)

// startRetention runs the pruning loop of the api role, unless retention is
// off: every RetentionInterval, the instance that gets the lock deletes
// rows older than Retention.
func (p *process) startRetention() {
	if p.cfg.Retention == 0 {
		return
	}
	deleted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hookstream_retention_deleted_total",
		Help: "Rows deleted by retention, by table.",
	}, []string{"table"})
	for _, t := range postgres.RetainedTables {
		deleted.WithLabelValues(t)
	}
	p.reg.MustRegister(deleted)
	log := p.log.With("component", "retention")
	p.start("retention", func(ctx context.Context) error {
		t := time.NewTicker(p.cfg.RetentionInterval)
		defer t.Stop()
		for {
			if _, err := p.db.WithLock(ctx, retentionLock, func(ctx context.Context) error {
				return prune(ctx, p.db, time.Now().Add(-p.cfg.Retention), deleted)
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

// prune deletes every row of the retained tables dated before cutoff, in
// small batches.
func prune(ctx context.Context, db *postgres.DB, cutoff time.Time, deleted *prometheus.CounterVec) error {
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

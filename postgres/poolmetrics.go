package postgres

import (
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector exports the state of a DB's connection pool. A pool too
// small for the stages of a process shows as acquires that waited and the
// time they waited: pgx's default is the larger of 4 and the number of
// CPUs, and pool_max_conns in the URL changes it.
type poolCollector struct {
	db                                           *DB
	conns, max, acquires, waited, waitTime, canc *prometheus.Desc
}

// Collector returns a Prometheus collector of the connection pool's state.
func (db *DB) Collector() prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("hookstream_db_pool_"+name, help, labels, nil)
	}
	return &poolCollector{db: db,
		conns:    d("connections", "Connections of the Postgres pool by state: idle, in_use, or being opened.", "state"),
		max:      d("max_connections", "The most connections the Postgres pool opens (pool_max_conns)."),
		acquires: d("acquires_total", "Connections taken from the Postgres pool."),
		waited:   d("acquires_waited_total", "Connections taken from the Postgres pool that had to wait: none was idle."),
		waitTime: d("acquire_wait_seconds_total", "Time spent waiting for a connection of the Postgres pool when none was idle."),
		canc:     d("acquires_canceled_total", "Waits for a connection of the Postgres pool that ended without one (their context ended)."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.max, c.acquires, c.waited, c.waitTime, c.canc} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.db.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.conns, float64(s.IdleConns()), "idle")
	gauge(c.conns, float64(s.AcquiredConns()), "in_use")
	gauge(c.conns, float64(s.ConstructingConns()), "opening")
	gauge(c.max, float64(s.MaxConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.waited, float64(s.EmptyAcquireCount()))
	counter(c.waitTime, s.EmptyAcquireWaitTime().Seconds())
	counter(c.canc, float64(s.CanceledAcquireCount()))
}

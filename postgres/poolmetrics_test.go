package postgres

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/seal"
)

// The pool's metrics show its size, and a query that waits for the only
// connection as an acquire that waited, for as long as it waited.
func TestPoolMetricsShowWaitsForAConnection(t *testing.T) {
	ctx := context.Background()
	box, err := seal.New(make([]byte, 32))
	testenv.Must(t, err, "seal.New")
	u, err := url.Parse(testenv.DatabaseURL(t))
	testenv.Must(t, err, "parse the database URL")
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	db, err := Open(ctx, u.String(), box)
	testenv.Must(t, err, "Open")
	defer db.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(db.Collector())

	held, err := db.pool.Acquire(ctx)
	testenv.Must(t, err, "take the only connection")
	waited := gatherOne(t, reg, "hookstream_db_pool_acquires_waited_total")
	waitedFor := gatherOne(t, reg, "hookstream_db_pool_acquire_wait_seconds_total")
	acquires := gatherOne(t, reg, "hookstream_db_pool_acquires_total")
	if got := gatherOne(t, reg, "hookstream_db_pool_max_connections"); got != 1 {
		t.Errorf("hookstream_db_pool_max_connections = %v, want 1", got)
	}
	const hold = 200 * time.Millisecond
	go func() {
		time.Sleep(hold)
		held.Release()
	}()
	testenv.Must(t, db.Ping(ctx), "ping, once the connection is back")

	if got := gatherOne(t, reg, "hookstream_db_pool_acquires_waited_total") - waited; got != 1 {
		t.Errorf("hookstream_db_pool_acquires_waited_total rose by %v, want 1 (the ping)", got)
	}
	if got := gatherOne(t, reg, "hookstream_db_pool_acquires_total") - acquires; got != 1 {
		t.Errorf("hookstream_db_pool_acquires_total rose by %v, want 1 (the ping)", got)
	}
	// The ping waited until the connection came back: most of hold.
	if got := gatherOne(t, reg, "hookstream_db_pool_acquire_wait_seconds_total") - waitedFor; got < (hold / 2).Seconds() {
		t.Errorf("hookstream_db_pool_acquire_wait_seconds_total rose by %v s, want the ping's wait of about %v", got, hold)
	}
}

// gatherOne returns the value of the metric name without labels.
func gatherOne(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	testenv.Must(t, err, "gather")
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

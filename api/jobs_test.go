package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/schema"
)

// A recovery job that meets an outage (its deliveries cannot be read) does
// not fail: it waits, and once the outage is over a runner resumes it after
// its lease and finishes it.
func TestRecoveryJobWaitsOutAnOutage(t *testing.T) {
	e := newEnv(t)
	jobs := &pipeline.Recoverer{Store: e.db, Tasks: e.queue, Lease: 500 * time.Millisecond, Poll: 100 * time.Millisecond}
	s := &api.Server{Store: e.db, Publisher: e.pub, Tasks: e.queue, Guard: loopback, AdminToken: token,
		JobCreated: jobs.Wake, Log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	base := srv.URL

	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`)
	ev := e.seedEvent(t, "default", "evt_out", "a.b", time.Now().Add(-time.Hour))
	id := e.seedDelivery(t, ev, ep.ID, 2, schema.OutcomeDead)

	conn, err := pgx.Connect(context.Background(), e.dbURL)
	testenv.Must(t, err, "connect")
	defer conn.Close(context.Background())
	var j jobView
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/recover",
		`{"since":"`+time.Now().Add(-2*time.Hour).Format(time.RFC3339)+`"}`), http.StatusAccepted, &j)
	// The runner starts once the outage has begun.
	_, err = conn.Exec(context.Background(), "ALTER TABLE deliveries RENAME TO deliveries_away")
	testenv.Must(t, err, "break the deliveries table")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = jobs.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// Past a few retries (0.5 s, 1 s, 2 s) and a lease, the job is still
	// running, not failed.
	time.Sleep(5 * time.Second)
	var now jobView
	decodeJSON(t, call(t, "GET", base+"/v1/jobs/"+j.ID, ""), http.StatusOK, &now)
	if now.Status != "running" {
		t.Fatalf("during the outage the job is %q, want running", now.Status)
	}
	_, err = conn.Exec(context.Background(), "ALTER TABLE deliveries_away RENAME TO deliveries")
	testenv.Must(t, err, "mend the deliveries table")
	testenv.Eventually(t, 20*time.Second, func() bool {
		decodeJSON(t, call(t, "GET", base+"/v1/jobs/"+j.ID, ""), http.StatusOK, &now)
		return now.Status != "running"
	}, "the job did not resume after the outage")
	if now.Status != "done" || now.Done != 1 {
		t.Fatalf("after the outage the job is %+v, want done with 1 delivery", now)
	}
	if task := e.tasks(t, 1)[0]; task.DeliveryID != id {
		t.Errorf("queued %+v, want %s", task, id)
	}
}

package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/internal/testenv"
)

// A record in a retry topic that is not a task goes to the quarantine topic
// with the stage, the reason and where it came from; the tier goes on
// delivering the tasks around it.
func TestUndecodableRetryRecordIsQuarantined(t *testing.T) {
	s := startSystem(t, nil)
	cl := s.kafka()
	ctx := context.Background()
	testenv.Must(t, cl.ProduceSync(ctx, &kgo.Record{Topic: s.prefix + "retry.1s", Key: []byte("k"),
		Value: []byte("definitely not a task")}).FirstErr(), "produce poison")

	rcv := newReceiver(t, func(n int, _ *http.Request) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	ep := s.endpoint(rcv.URL, "invoice.*")
	s.publish("invoice.paid", `{"n":1}`)
	s.waitStatus(ep.ID, 1, "succeeded", 30*time.Second) // went through retry.1s

	rec := readOne(t, s, s.prefix+"quarantine")
	if string(rec.Value) != "definitely not a task" {
		t.Fatalf("quarantine topic holds %q, want the poison record", rec.Value)
	}
	if reason := header(rec, consumer.HeaderQuarantineReason); !strings.Contains(reason, "decode task") {
		t.Errorf("reason %q should say it could not be decoded", reason)
	}
	if topic, stage := header(rec, consumer.HeaderQuarantineTopic), header(rec, consumer.HeaderQuarantineStage); topic != s.prefix+"retry.1s" || !strings.HasSuffix(stage, "retry-1s") {
		t.Errorf("quarantined from topic %q by stage %q, want the retry.1s tier", topic, stage)
	}
	if n := metricSum(t, s, "hookstream_quarantined_total"); n != 1 {
		t.Errorf("hookstream_quarantined_total = %v, want 1", n)
	}
}

// While Postgres refuses the sink's writes, deliveries go on and nothing is
// committed; once it accepts them again, every attempt is recorded exactly
// once.
func TestSinkResumesAfterPostgresFailure(t *testing.T) {
	s := startSystem(t, nil)
	rcv := newReceiver(t, nil)
	ep := s.endpoint(rcv.URL, "invoice.*")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	testenv.Must(t, err, "connect")
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "ALTER TABLE attempts RENAME TO attempts_away")
	testenv.Must(t, err, "break the attempts table")

	for i := 0; i < 5; i++ {
		s.publish("invoice.paid", `{"n":1}`)
	}
	rcv.waitRequests(t, 5, 30*time.Second)
	testenv.Eventually(t, 30*time.Second, func() bool { return metricValue(t, s, "hookstream_sink_write_errors_total") >= 2 },
		"the sink did not keep failing while the table was away")
	if ds := s.deliveries(ep.ID); len(ds) != 0 {
		t.Fatalf("deliveries recorded while the sink could not write: %+v", ds)
	}

	_, err = conn.Exec(ctx, "ALTER TABLE attempts_away RENAME TO attempts")
	testenv.Must(t, err, "restore the attempts table")
	s.waitStatus(ep.ID, 5, "succeeded", 30*time.Second)
	var rows int
	testenv.Must(t, conn.QueryRow(ctx, "SELECT count(*) FROM attempts WHERE endpoint_id = $1", ep.ID).Scan(&rows), "count")
	if rows != 5 {
		t.Errorf("%d attempt rows, want exactly 5", rows)
	}
	if n := len(rcv.requests()); n != 5 {
		t.Errorf("receiver got %d requests, want 5 (the sink's outage must not resend)", n)
	}
}

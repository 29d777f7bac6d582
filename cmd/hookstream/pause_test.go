package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/internal/testenv"
)

// endpointAction calls the API (GET, or POST to an action) and returns
// the endpoint it answers.
func (s *system) endpointAction(method, path string, body any) endpointView {
	s.t.Helper()
	var v endpointView
	if code, raw := s.call(method, path, body, &v); code != http.StatusOK {
		s.t.Fatalf("%s %s: %d %s", method, path, code, raw)
	}
	return v
}

// While an endpoint is paused its deliveries park without a request, an
// attempt spent or a failure counted; a resume replays them, each then
// sent as its first attempt.
func TestPauseParksUntilResume(t *testing.T) {
	// A failure rule that would disable the endpoint at its first failure:
	// parked deliveries must not count as failures.
	s := startSystem(t, map[string]string{"HOOKSTREAM_DISABLE_AFTER_FAILURES": "1", "HOOKSTREAM_DISABLE_MIN_FAILING": "0s"})
	rcv := newReceiver(t, nil)
	ep := s.endpoint(rcv.URL, "invoice.*")
	if v := s.endpointAction("POST", "/v1/endpoints/"+ep.ID+"/pause", nil); !v.Paused {
		t.Fatalf("pause answered %+v", v)
	}
	for _, n := range []string{"1", "2", "3"} {
		s.publish("invoice.paid", `{"n":`+n+`}`)
	}
	for _, d := range s.waitStatus(ep.ID, 3, "parked", 30*time.Second) {
		if d.Attempts != 0 {
			t.Errorf("parked delivery %s spent %d attempts, want 0", d.ID, d.Attempts)
		}
	}
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("a paused endpoint got %d requests", n)
	}
	if v := s.endpointAction("GET", "/v1/endpoints/"+ep.ID, nil); v.State != "enabled" || !v.Paused {
		t.Fatalf("paused endpoint after parking = %+v, want enabled (parking counts no failure) and paused", v)
	}

	if v := s.endpointAction("POST", "/v1/endpoints/"+ep.ID+"/resume", nil); v.Paused || v.Replayed != 3 {
		t.Fatalf("resume answered %+v, want not paused with 3 replayed", v)
	}
	s.waitStatus(ep.ID, 3, "succeeded", 30*time.Second)
	s.publish("invoice.paid", `{"n":4}`)
	s.waitStatus(ep.ID, 4, "succeeded", 30*time.Second)
	for _, r := range rcv.requests() {
		if got := r.Header.Get("X-Webhook-Attempt"); got != "1" {
			t.Errorf("request %s sent as attempt %s, want 1: parking spent an attempt", r.Body, got)
		}
	}
}

// A pause with an end resumes by itself at that end: what was parked is
// replayed, and new deliveries flow, without a call to resume.
func TestPauseEndsAtUntil(t *testing.T) {
	s := startSystem(t, nil)
	rcv := newReceiver(t, nil)
	ep := s.endpoint(rcv.URL, "invoice.*")
	s.endpointAction("POST", "/v1/endpoints/"+ep.ID+"/pause", nil)
	s.publish("invoice.paid", `{"n":1}`)
	s.publish("invoice.paid", `{"n":2}`)
	s.waitStatus(ep.ID, 2, "parked", 30*time.Second)

	// Move the end of the pause to two seconds from now.
	until := time.Now().Add(2 * time.Second).UTC()
	if v := s.endpointAction("POST", "/v1/endpoints/"+ep.ID+"/pause", map[string]any{"until": until.Format(time.RFC3339Nano)}); !v.Paused ||
		v.PausedUntil == nil {
		t.Fatalf("pause with until answered %+v", v)
	}
	s.waitStatus(ep.ID, 2, "succeeded", 30*time.Second)
	for _, r := range rcv.requests() {
		if r.At.Before(until) {
			t.Errorf("request %s at %v, before the pause's end %v", r.Body, r.At, until)
		}
	}
	if v := s.endpointAction("GET", "/v1/endpoints/"+ep.ID, nil); v.Paused || v.PausedUntil != nil {
		t.Errorf("after its end the endpoint shows %+v, want not paused", v)
	}
	s.publish("invoice.paid", `{"n":3}`)
	s.waitStatus(ep.ID, 3, "succeeded", 30*time.Second)
}

// HOOKSTREAM_RECOVERY_POLL is how often the api role ends the pauses whose
// time is up: three pauses of a second, one after another, each end in
// Postgres within a second of its until at a poll of 200 ms. (At a poll of
// 5 s, no more than two sweeps fall in the few seconds the three take.)
func TestPauseEndsWithinRecoveryPoll(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_RECOVERY_POLL": "200ms"})
	rcv := newReceiver(t, nil)
	ep := s.endpoint(rcv.URL, "invoice.*")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	testenv.Must(t, err, "connect")
	defer conn.Close(ctx)
	for range 3 {
		until := time.Now().Add(time.Second).UTC()
		s.endpointAction("POST", "/v1/endpoints/"+ep.ID+"/pause", map[string]any{"until": until.Format(time.RFC3339Nano)})
		testenv.Eventually(t, time.Until(until)+time.Second, func() bool {
			var ended bool
			testenv.Must(t, conn.QueryRow(ctx, `SELECT paused_at IS NULL FROM endpoints WHERE id = $1`, ep.ID).Scan(&ended), "read the pause")
			return ended
		}, "the pause until %v not ended a second after it", until)
	}
}

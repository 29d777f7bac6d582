package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
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

// A tenant pausing its own endpoint with until values that are no pause's
// end: each is refused with its precise status in problem+json, naming
// until when the body was JSON, and changes nothing (the endpoint's
// deliveries still flow); nor can it pause another tenant's endpoint. The
// well-behaved tenant's events arrive meanwhile.
func TestHostilePauseUntil(t *testing.T) {
	s := startSystem(t, nil)
	calm := newWellBehaved(s)
	key := s.tenantKey("hostile")
	rcv := newReceiver(t, nil)
	var ep createdEndpoint
	if code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": rcv.URL, "event_types": []string{"hostile.*"}}, &ep,
		"Authorization", "Bearer "+key); code != http.StatusCreated {
		t.Fatalf("create the hostile tenant's endpoint: %d %s", code, raw)
	}

	// Each case is wrong in one way only: its date, when it has one, is
	// an hour ahead unless the case is about when.
	now := time.Now().UTC()
	date := func(d time.Duration) string { return `{"until":"` + now.Add(d).Format(time.RFC3339) + `"}` }
	soon := now.Add(time.Hour).Format("2006-01-02T15:04:05")
	cases := []struct {
		name, body string
		want       int
		field      string // "" when the body is not JSON, or too large to read
	}{
		{"\\u0000 in the date", `{"until":"` + soon + `Z\u0000"}`, 400, "until"},
		{"a NUL byte in the date", `{"until":"` + soon + "Z\x00\"}", 400, ""},
		{"invalid UTF-8 in the date", `{"until":"` + soon + "Z\xff\"}", 400, "until"},
		{"a 100 KiB string", `{"until":"` + strings.Repeat("9", 100<<10) + `"}`, 413, ""},
		{"a number", `{"until":1767225600}`, 400, "until"},
		{"an object", `{"until":{"date":"` + soon + `Z"}}`, 400, "until"},
		{"an array", `{"until":["` + soon + `Z"]}`, 400, "until"},
		{"null", `{"until":null}`, 400, "until"},
		{"an empty string", `{"until":""}`, 400, "until"},
		{"not a date", `{"until":"tomorrow"}`, 400, "until"},
		{"a date without a zone", `{"until":"` + soon + `"}`, 400, "until"},
		{"a date without a time", `{"until":"` + soon[:10] + `"}`, 400, "until"},
		{"an offset of +24:00", `{"until":"` + soon + `+24:00"}`, 400, "until"},
		{"year 99999", `{"until":"99999-01-01T00:00:00Z"}`, 400, "until"},
		{"a date in the past", date(-time.Minute), 422, "until"},
		{"1970", `{"until":"1970-01-01T00:00:00Z"}`, 422, "until"},
		{"beyond 30 days", date(31 * 24 * time.Hour), 422, "until"},
		{"year 9999", `{"until":"9999-12-31T23:59:59Z"}`, 422, "until"},
	}
	for _, tc := range cases {
		req, err := http.NewRequest("POST", s.api+"/v1/endpoints/"+ep.ID+"/pause", strings.NewReader(tc.body))
		testenv.Must(t, err, "request")
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		testenv.Must(t, err, tc.name)
		var p struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
			Field  string `json:"field"`
		}
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		switch {
		case resp.StatusCode != tc.want:
			t.Errorf("pause with %s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		case resp.Header.Get("Content-Type") != "application/problem+json" || err != nil || p.Status != tc.want || p.Detail == "":
			t.Errorf("pause with %s: answered %q (%v) %+v, want problem+json with its status and a detail", tc.name,
				resp.Header.Get("Content-Type"), err, p)
		case p.Field != tc.field:
			t.Errorf("pause with %s: field %q, want %q (detail %q)", tc.name, p.Field, tc.field, p.Detail)
		default:
			t.Logf("pause with %s: %d %q", tc.name, resp.StatusCode, p.Detail)
		}
	}
	// Another tenant's endpoint, even with a good until, is not found.
	if code, raw := s.call("POST", "/v1/endpoints/"+calm.ep.ID+"/pause", date(time.Hour), nil,
		"Authorization", "Bearer "+key); code != http.StatusNotFound {
		t.Errorf("the hostile tenant paused another tenant's endpoint: %d %s", code, raw)
	}
	calm.check("hostile pause until values", 3)

	// Nothing was paused: the hostile tenant's endpoint still gets its
	// events.
	var v endpointView
	if code, raw := s.call("GET", "/v1/endpoints/"+ep.ID, nil, &v, "Authorization", "Bearer "+key); code != http.StatusOK || v.Paused {
		t.Errorf("after refused pauses the endpoint is %d %s, want not paused", code, raw)
	}
	if code, raw := s.call("POST", "/v1/events", `{"type":"hostile.after","data":{}}`, nil,
		"Authorization", "Bearer "+key); code != http.StatusAccepted {
		t.Fatalf("publish as the hostile tenant: %d %s", code, raw)
	}
	rcv.waitRequests(t, 1, 30*time.Second)
}

package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// state decodes an endpoint answer into a fresh view.
func state(t *testing.T, r response, status int) pauseView {
	t.Helper()
	var v pauseView
	decodeJSON(t, r, status, &v)
	return v
}

type pauseView struct {
	ID          string     `json:"id"`
	State       string     `json:"state"`
	Paused      bool       `json:"paused"`
	PausedAt    *time.Time `json:"paused_at"`
	PausedUntil *time.Time `json:"paused_until"`
	AutoRecover bool       `json:"auto_recover"`
	Probes      int        `json:"probes"`
	NextProbeAt *time.Time `json:"next_probe_at"`
	Replayed    int        `json:"replayed"`
}

// A pause shows in the endpoint, holds its parked deliveries, and a resume
// replays them oldest first with their ids.
func TestPauseAndResume(t *testing.T) {
	base, e := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`)
	v := state(t, call(t, "GET", base+"/v1/endpoints/"+ep.ID, ""), http.StatusOK)
	if v.Paused || v.PausedAt != nil || !v.AutoRecover || v.Probes != 0 || v.NextProbeAt != nil {
		t.Errorf("new endpoint = %+v, want not paused, auto_recover on, no probes", v)
	}

	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	v = state(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/pause", `{"until":"`+until.Format(time.RFC3339)+`"}`), http.StatusOK)
	if !v.Paused || v.PausedAt == nil || v.PausedUntil == nil || !v.PausedUntil.Equal(until) || v.State != "enabled" {
		t.Fatalf("paused = %+v, want paused until %v, still enabled", v, until)
	}
	began := *v.PausedAt
	// Pausing again without until makes the pause last until resumed,
	// from the same start.
	v = state(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/pause", ""), http.StatusOK)
	if !v.Paused || v.PausedUntil != nil || !v.PausedAt.Equal(began) {
		t.Errorf("paused again = %+v, want paused from %v with no end", v, began)
	}

	// Deliveries parked while paused (written as the deliverer's parked
	// outcomes would be), oldest first.
	start := time.Now().Add(-time.Hour)
	var parked []string
	for i := range 3 {
		ev := e.seedEvent(t, "default", "evt_p"+string(rune('a'+i)), "a.b", start.Add(time.Duration(i)*time.Minute))
		parked = append(parked, e.seedDelivery(t, ev, ep.ID, 1, schema.OutcomeParked))
	}
	v = state(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/resume", ""), http.StatusOK)
	if v.Paused || v.PausedAt != nil || v.Replayed != 3 {
		t.Fatalf("resumed = %+v, want not paused, 3 replayed", v)
	}
	tasks := e.tasks(t, 3)
	for i, task := range tasks {
		if task.DeliveryID != parked[i] || task.Attempt != 2 || task.EndpointVersion.IsZero() {
			t.Errorf("task %d = %s attempt %d (version %v), want %s attempt 2 with the endpoint's version",
				i, task.DeliveryID, task.Attempt, task.EndpointVersion, parked[i])
		}
	}
	var page deliveryPage
	decodeJSON(t, call(t, "GET", base+"/v1/deliveries?status=parked&endpoint_id="+ep.ID, ""), http.StatusOK, &page)
	if len(page.Data) != 0 {
		t.Errorf("%d deliveries still parked after resume", len(page.Data))
	}
	v = state(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/resume", ""), http.StatusOK)
	if v.Replayed != 0 {
		t.Errorf("a second resume replayed %d", v.Replayed)
	}

	// A disabled endpoint resumes without a replay: its deliveries stay
	// parked until it is enabled.
	ev := e.seedEvent(t, "default", "evt_d", "a.b", start)
	e.seedDelivery(t, ev, ep.ID, 1, schema.OutcomeParked)
	v = state(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/disable", ""), http.StatusOK)
	v = state(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/pause", ""), http.StatusOK)
	v = state(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/resume", ""), http.StatusOK)
	if v.Replayed != 0 || v.State != "disabled" || v.Paused {
		t.Errorf("resume of a disabled endpoint = %+v, want disabled, not paused, nothing replayed", v)
	}
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/ep_nope/pause", ""), http.StatusNotFound, "")
	assertProblem(t, call(t, "POST", base+"/v1/endpoints/ep_nope/resume", ""), http.StatusNotFound, "")
}

// A tenant's API key pauses and resumes its own endpoints, never another
// tenant's.
func TestPauseWithATenantKey(t *testing.T) {
	base, _ := newServer(t)
	key := tenantWithKey(t, base, "acme")
	var own pauseView
	decodeJSON(t, callAuth(t, "Bearer "+key, "POST", base+"/v1/endpoints", `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`),
		http.StatusCreated, &own)
	others := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/b","event_types":["*"]}`) // the default tenant's

	v := state(t, callAuth(t, "Bearer "+key, "POST", base+"/v1/endpoints/"+own.ID+"/pause", ""), http.StatusOK)
	if !v.Paused {
		t.Errorf("own endpoint after pause = %+v", v)
	}
	v = state(t, callAuth(t, "Bearer "+key, "POST", base+"/v1/endpoints/"+own.ID+"/resume", ""), http.StatusOK)
	if v.Paused {
		t.Errorf("own endpoint after resume = %+v", v)
	}
	for _, op := range []string{"pause", "resume"} {
		assertProblem(t, callAuth(t, "Bearer "+key, "POST", base+"/v1/endpoints/"+others.ID+"/"+op, ""), http.StatusNotFound, "")
	}
	v = state(t, call(t, "GET", base+"/v1/endpoints/"+others.ID, ""), http.StatusOK)
	if v.Paused {
		t.Errorf("another tenant's key paused the default tenant's endpoint: %+v", v)
	}
}

// Every until that is not a pause's end is refused, precisely, and changes
// nothing.
func TestPauseRejects(t *testing.T) {
	base, _ := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`)
	now := time.Now().UTC()
	for _, tc := range []struct {
		name, body, field string
		status            int
	}{
		{"in the past", `{"until":"` + now.Add(-time.Minute).Format(time.RFC3339) + `"}`, "until", 422},
		{"far past", `{"until":"1970-01-01T00:00:00Z"}`, "until", 422},
		{"beyond 30 days", `{"until":"` + now.Add(31*24*time.Hour).Format(time.RFC3339) + `"}`, "until", 422},
		{"year 9999", `{"until":"9999-12-31T23:59:59Z"}`, "until", 422},
		{"not a date", `{"until":"tomorrow"}`, "until", 400},
		{"a number", `{"until":1767225600}`, "until", 400},
		{"no zone", `{"until":"2026-12-02T06:00:00"}`, "until", 400},
		{"NUL", `{"until":"2026-12-02T06:00:00Z\u0000"}`, "until", 400},
		{"null", `{"until":null}`, "until", 400},
		{"unknown field", `{"for":"1h"}`, "for", 400},
		{"not an object", `["2026-12-02T06:00:00Z"]`, "", 400},
		{"invalid UTF-8", "{\"until\":\"2026-12-02T06:00:00Z\xff\"}", "until", 400},
		{"year 10000", `{"until":"10000-01-01T00:00:00Z"}`, "until", 400},
		{"5,000-deep", strings.Repeat("[", 5000) + strings.Repeat("]", 5000), "", 400},
		{"over the body limit", `{"until":"` + strings.Repeat("9", 70000) + `"}`, "", 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertProblem(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/pause", tc.body), tc.status, tc.field)
		})
	}
	v := state(t, call(t, "GET", base+"/v1/endpoints/"+ep.ID, ""), http.StatusOK)
	if v.Paused {
		t.Errorf("a refused pause paused the endpoint: %+v", v)
	}
}

// auto_recover is set at creation and by PATCH.
func TestAutoRecoverField(t *testing.T) {
	base, _ := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"],"auto_recover":false}`)
	v := state(t, call(t, "GET", base+"/v1/endpoints/"+ep.ID, ""), http.StatusOK)
	if v.AutoRecover {
		t.Errorf("created with auto_recover false: %+v", v)
	}
	v = state(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"auto_recover":true}`), http.StatusOK)
	if !v.AutoRecover {
		t.Errorf("patched auto_recover true: %+v", v)
	}
	assertProblem(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"auto_recover":"yes"}`), 400, "auto_recover")
}

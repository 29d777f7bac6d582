package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// recoveryEnv disables an endpoint at its second failure, leaves failed
// deliveries waiting out of the way, and probes every second.
var recoveryEnv = map[string]string{
	"HOOKSTREAM_DISABLE_AFTER_FAILURES": "2",
	"HOOKSTREAM_DISABLE_MIN_FAILING":    "0s",
	"HOOKSTREAM_RETRY_SCHEDULE":         "1h",
	"HOOKSTREAM_PROBE_FIRST":            "1s",
	"HOOKSTREAM_PROBE_MAX":              "2s",
}

// An endpoint the failure rule disabled is probed with its oldest parked
// delivery, a real signed attempt recorded in its history; while the
// receiver fails it stays disabled; once it answers, the endpoint is
// enabled again, its tenant hears hookstream.endpoint.recovered, and the
// rest of what was parked is replayed in order of creation.
func TestDisabledEndpointRecovers(t *testing.T) {
	s := startSystem(t, recoveryEnv)
	var failing atomic.Bool
	failing.Store(true)
	rcv := newReceiver(t, func(_ int, r *http.Request) int {
		if r.URL.Path == "/hook" && failing.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	ep := s.endpoint(rcv.URL+"/hook", "invoice.*")
	s.endpoint(rcv.URL+"/ops", "hookstream.endpoint.*")

	s.publish("invoice.paid", `{"n":1}`)
	s.publish("invoice.paid", `{"n":2}`)
	// The first attempts wait for the stages' groups to settle, which on
	// a real broker under the whole suite took over 30 s once in a while.
	testenv.Eventually(t, 90*time.Second, func() bool { return s.endpointState(ep.ID).State == "disabled" },
		"endpoint not disabled after 2 failures")
	if st := s.endpointState(ep.ID); st.DisabledCause != "failures" {
		t.Errorf("disabled_cause %q, want failures", st.DisabledCause)
	}
	var parked []string // event ids, in order of creation
	for n := 3; n <= 6; n++ {
		parked = append(parked, s.publish("invoice.paid", `{"n":`+strconv.Itoa(n)+`}`))
	}

	// Probes fail while the receiver does: at least two, each recorded.
	testenv.Eventually(t, 60*time.Second, func() bool { return s.endpointState(ep.ID).Probes >= 2 },
		"fewer than 2 probes were sent")
	if st := s.endpointState(ep.ID); st.State != "disabled" || st.NextProbeAt == nil {
		t.Fatalf("after failed probes the endpoint is %+v, want disabled with a next probe", st)
	}
	failing.Store(false)
	testenv.Eventually(t, 60*time.Second, func() bool { return s.endpointState(ep.ID).State == "enabled" },
		"endpoint not re-enabled once the receiver answers")
	if st := s.endpointState(ep.ID); st.Probes != 0 || st.NextProbeAt != nil || st.DisabledCause != "" {
		t.Errorf("recovered endpoint shows %+v, want its probes cleared", st)
	}

	// The first probe was the oldest parked delivery, and its history
	// shows that failed probe, and the success that came later.
	var first deliveryView
	testenv.Eventually(t, 30*time.Second, func() bool {
		for _, d := range s.deliveries(ep.ID) {
			if d.EventID == parked[0] {
				s.call("GET", "/v1/deliveries/"+d.ID, nil, &first)
				return first.Status == "succeeded"
			}
		}
		return false
	}, "the oldest parked delivery did not succeed: %+v", &first)
	if len(first.History) < 2 || first.History[0].StatusCode != 500 || first.History[len(first.History)-1].StatusCode != 200 {
		t.Errorf("probed delivery's history %+v, want a failed probe (500) first, a success last", first.History)
	}

	// The tenant hears of it.
	var note struct {
		EndpointID string `json:"endpoint_id"`
		Probes     int    `json:"probes"`
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		for _, r := range pathRequests(rcv, "/ops") {
			if r.Header.Get("X-Webhook-Event-Type") == schema.EndpointRecoveredType {
				testenv.Must(t, json.Unmarshal(r.Body, &note), "decode recovered event")
				return true
			}
		}
		return false
	}, "no hookstream.endpoint.recovered event")
	if note.EndpointID != ep.ID || note.Probes < 3 {
		t.Errorf("recovered event %+v, want endpoint %s after at least 3 probes", note, ep.ID)
	}

	// Every parked delivery succeeds, and the replay queued them oldest
	// first.
	testenv.Eventually(t, 30*time.Second, func() bool {
		n := 0
		for _, d := range s.deliveries(ep.ID) {
			if d.Status == "succeeded" {
				n++
			}
		}
		return n == len(parked)
	}, "parked deliveries not all delivered after recovery")
	// Each parked delivery was sent by a probe or by the replay, and the
	// replay queued its share oldest first.
	order := map[string]int{}
	for i, id := range parked {
		order[id] = i
	}
	var replayed []string
	endpointTasks(t, s, ep.ID, func(tasks []schema.Task) bool {
		replayed = replayed[:0]
		sent := map[string]bool{}
		for _, task := range tasks {
			if _, ok := order[task.Event.ID]; !ok {
				continue
			}
			sent[task.Event.ID] = true
			if !task.Probe && !task.EndpointVersion.IsZero() {
				replayed = append(replayed, task.Event.ID)
			}
		}
		return len(sent) == len(parked)
	})
	if len(replayed) == 0 {
		t.Fatal("nothing was replayed after the recovery")
	}
	for i := 1; i < len(replayed); i++ {
		if order[replayed[i]] < order[replayed[i-1]] {
			t.Errorf("replayed %v: not in order of creation %v", replayed, parked)
		}
	}
}

// endpointTasks reads the tasks queued for an endpoint on the deliveries
// topic, in the order queued (one partition per endpoint), until done
// says it has read enough.
func endpointTasks(t *testing.T, s *system, endpointID string, done func([]schema.Task) bool) {
	t.Helper()
	cl := s.kafka(kgo.ConsumeTopics(s.prefix+"deliveries"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var tasks []schema.Task
	for !done(tasks) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the deliveries topic holds %d tasks of %s, not all that were sent", len(tasks), endpointID)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) != endpointID {
				return
			}
			task, err := schema.DecodeTask(r.Value)
			testenv.Must(t, err, "decode task")
			tasks = append(tasks, task)
		})
	}
}

// Endpoints disabled by hand, by 410 Gone, or with automatic recovery
// off are never probed: by the time an endpoint of the same age that
// may be probed has been probed (and recovered), none of them was.
func TestProbesSpareManualGoneAndOptedOut(t *testing.T) {
	s := startSystem(t, recoveryEnv)
	var failing atomic.Bool
	failing.Store(true)
	rcv := newReceiver(t, func(_ int, r *http.Request) int {
		switch {
		case r.URL.Path == "/gone":
			return http.StatusGone
		case failing.Load():
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	control := s.endpoint(rcv.URL+"/control", "control.*")
	gone := s.endpoint(rcv.URL+"/gone", "gone.*")
	manual := s.endpoint(rcv.URL+"/manual", "manual.*")
	var optedOut createdEndpoint
	if code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": rcv.URL + "/optout", "event_types": []string{"optout.*"},
		"auto_recover": false}, &optedOut); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, raw)
	}

	s.endpointAction("POST", "/v1/endpoints/"+manual.ID+"/disable", nil)
	for _, typ := range []string{"control", "optout"} {
		s.publish(typ+".a", `{}`)
		s.publish(typ+".b", `{}`)
	}
	s.publish("gone.a", `{}`)
	for _, id := range []string{control.ID, optedOut.ID, gone.ID} {
		// As in TestDisabledEndpointRecovers: the first attempts wait for
		// the stages' groups to settle.
		testenv.Eventually(t, 90*time.Second, func() bool { return s.endpointState(id).State == "disabled" },
			"endpoint %s not disabled", id)
	}
	// Each has a parked delivery to probe with.
	for _, typ := range []string{"control", "optout", "gone", "manual"} {
		s.publish(typ+".c", `{}`)
	}
	for _, id := range []string{control.ID, optedOut.ID, gone.ID, manual.ID} {
		testenv.Eventually(t, 30*time.Second, func() bool {
			for _, d := range s.deliveries(id) {
				if d.Status == "parked" && d.Attempts == 0 {
					return true
				}
			}
			return false
		}, "endpoint %s has no parked delivery", id)
	}
	before := map[string]int{}
	for _, p := range []string{"/gone", "/manual", "/optout"} {
		before[p] = len(pathRequests(rcv, p))
	}

	failing.Store(false)
	testenv.Eventually(t, 60*time.Second, func() bool { return s.endpointState(control.ID).State == "enabled" },
		"the control endpoint was not probed back")
	for p, n := range before {
		if got := len(pathRequests(rcv, p)); got != n {
			t.Errorf("%s got %d requests while disabled, want none", p, got-n)
		}
	}
	for id, cause := range map[string]string{gone.ID: "gone", manual.ID: "manual", optedOut.ID: "failures"} {
		st := s.endpointState(id)
		if st.State != "disabled" || st.DisabledCause != cause || st.Probes != 0 {
			t.Errorf("endpoint %s is %+v, want disabled by %s, never probed", id, st, cause)
		}
		if st.NextProbeAt != nil {
			t.Errorf("endpoint %s shows a next probe at %v", id, st.NextProbeAt)
		}
	}
}

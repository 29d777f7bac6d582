package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// queued reads every task in the deliveries topic, waiting until none has
// come for a while.
func (e *env) queued(t *testing.T) []schema.Task {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(e.queue.Topics.Deliveries()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	testenv.Must(t, err, "consumer")
	defer cl.Close()
	var out []schema.Task
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		recs := fs.Records()
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			task, err := schema.DecodeTask(r.Value)
			testenv.Must(t, err, "decode task")
			out = append(out, task)
		}
	}
}

// seedRetrying records attempts 1..n of a delivery whose attempt n+1 waits
// in a retry tier, as the sink records it.
func (e *env) seedRetrying(t *testing.T, ev schema.Event, endpointID string, n int) string {
	t.Helper()
	id := schema.DeliveryID(ev.Tenant, ev.ID, endpointID)
	next := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	var batch []schema.Attempt
	for i := 1; i <= n; i++ {
		batch = append(batch, schema.Attempt{V: schema.Version, DeliveryID: id, EndpointID: endpointID, Tenant: ev.Tenant,
			EventID: ev.ID, EventType: ev.Type, EventCreatedAt: ev.CreatedAt, Attempt: i, Outcome: schema.OutcomeRetrying,
			StatusCode: 503, Sent: true, At: ev.CreatedAt.Add(time.Duration(i) * time.Second), NextAttemptAt: &next})
	}
	testenv.Must(t, e.db.WriteAttempts(context.Background(), batch, schema.DisableRule{}, nil), "WriteAttempts")
	return id
}

// A delivery still being retried on its schedule has its next attempt
// waiting in a retry tier: a manual retry would start a second chain of
// attempts with the same numbers. It is refused, with a 409 that says so,
// and nothing is queued.
func TestRetryOfADeliveryStillRetryingIsRefused(t *testing.T) {
	base, e := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`)
	ev := e.seedEvent(t, "default", "evt_live", "a.b", time.Now().Add(-time.Hour))
	id := e.seedRetrying(t, ev, ep.ID, 2)

	p := assertProblem(t, call(t, "POST", base+"/v1/deliveries/"+id+"/retry", ""), http.StatusConflict, "")
	if !strings.Contains(p.Detail, "schedule") || !strings.Contains(p.Detail, "attempt 3") {
		t.Errorf("detail %q does not say the delivery's attempt 3 is on its schedule", p.Detail)
	}
	if tasks := e.queued(t); len(tasks) != 0 {
		t.Errorf("queued %d tasks for a delivery still retrying: %+v", len(tasks), tasks)
	}
}

// Manual retries of one delivery at once queue one attempt: the first
// answers 202, the others find the delivery retrying and answer 409.
func TestConcurrentRetriesQueueOneAttempt(t *testing.T) {
	base, e := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`)
	ev := e.seedEvent(t, "default", "evt_race", "a.b", time.Now().Add(-time.Hour))
	id := e.seedDelivery(t, ev, ep.ID, 3, schema.OutcomeDead)

	const n = 8
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { codes[i] = call(t, "POST", base+"/v1/deliveries/"+id+"/retry", "").status })
	}
	wg.Wait()
	accepted := 0
	for _, c := range codes {
		switch c {
		case http.StatusAccepted:
			accepted++
		case http.StatusConflict:
		default:
			t.Errorf("a retry answered %d", c)
		}
	}
	if accepted != 1 {
		t.Errorf("%d of %d concurrent retries were accepted (%v), want 1", accepted, n, codes)
	}
	tasks := e.queued(t)
	if len(tasks) != 1 || tasks[0].Attempt != 4 {
		t.Errorf("queued %+v, want one task, attempt 4", tasks)
	}
}

// A recovery leaves the deliveries still retrying on their schedule alone
// (counted as skipped), and re-sends the dead ones.
func TestRecoverySkipsDeliveriesStillRetrying(t *testing.T) {
	base, e := newServer(t)
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`)
	start := time.Now().Add(-time.Hour)
	dead := e.seedDelivery(t, e.seedEvent(t, "default", "evt_dead", "a.b", start), ep.ID, 2, schema.OutcomeDead)
	e.seedRetrying(t, e.seedEvent(t, "default", "evt_live", "a.b", start.Add(time.Minute)), ep.ID, 2)

	var j struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Total   int    `json:"total"`
		Done    int    `json:"done"`
		Failed  int    `json:"failed"`
		Skipped int    `json:"skipped"`
	}
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints/"+ep.ID+"/recover", `{"since":"`+start.UTC().Format(time.RFC3339Nano)+`"}`),
		http.StatusAccepted, &j)
	testenv.Eventually(t, 15*time.Second, func() bool {
		decodeJSON(t, call(t, "GET", base+"/v1/jobs/"+j.ID, ""), http.StatusOK, &j)
		return j.Status != "running"
	}, "job still running: %+v", &j)
	if j.Status != "done" || j.Total != 2 || j.Done != 1 || j.Skipped != 1 || j.Failed != 0 {
		t.Errorf("job = %+v, want done: 1 sent, 1 skipped (still retrying)", j)
	}
	tasks := e.queued(t)
	if len(tasks) != 1 || tasks[0].DeliveryID != dead || tasks[0].Attempt != 3 {
		t.Errorf("queued %+v, want attempt 3 of the dead delivery alone", tasks)
	}
}

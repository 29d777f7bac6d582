package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/schema"
)

type quarantinedView struct {
	ID, Stage, Reason, Topic string
	RedrivenAt               *time.Time `json:"redriven_at"`
	Key                      *struct{ Data, Encoding string }
	Value                    struct {
		Data, Encoding string
		Size           int
		Truncated      bool
	}
	Headers []struct {
		Key   string
		Value struct{ Data, Encoding string }
	}
}

// The quarantine routes list what the index holds (admin only), show
// binary values as base64, and re-drive a record to its topic once.
func TestQuarantine(t *testing.T) {
	e := newEnv(t)
	topics := e.queue.Topics
	base := e.serveWith(t, func(s *api.Server, _ string) {
		s.Quarantine = e.db
		s.Redriver = &pipeline.Redriver{Client: e.queue.Client, Topics: topics}
	})
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Millisecond)
	testenv.Must(t, e.db.IndexQuarantined(ctx, []schema.Quarantined{
		{Partition: 0, Offset: 7, Stage: "hs-deliver", Reason: "decode task: bad", Topic: topics.Deliveries(),
			SourcePartition: 0, SourceOffset: 41, At: at.Add(-time.Minute), Key: []byte("ep_1"), Value: []byte("not a task \x00\xff"),
			Headers: []schema.Header{{Key: "trace", Value: []byte("abc")}}},
		{Partition: 1, Offset: 3, Stage: "hs-sink", Reason: "stray", Topic: "someone.elses.topic", At: at,
			Value: []byte(`{"big":"` + strings.Repeat("x", 5000) + `"}`)},
	}), "index")

	key := tenantWithKey(t, base, "acme")
	assertProblem(t, callAuth(t, "Bearer "+key, "GET", base+"/v1/quarantine", ""), http.StatusForbidden, "")

	var page struct {
		Data       []quarantinedView
		NextCursor string `json:"next_cursor"`
	}
	decodeJSON(t, call(t, "GET", base+"/v1/quarantine?limit=1", ""), http.StatusOK, &page)
	if len(page.Data) != 1 || page.Data[0].ID != "1-3" || !page.Data[0].Value.Truncated || page.Data[0].Value.Size < 5000 || page.NextCursor == "" {
		t.Fatalf("first page = %+v", page)
	}
	next := page.NextCursor
	page.Data, page.NextCursor = nil, ""
	decodeJSON(t, call(t, "GET", base+"/v1/quarantine?limit=1&cursor="+next, ""), http.StatusOK, &page)
	if len(page.Data) != 1 || page.Data[0].ID != "0-7" || page.NextCursor != "" {
		t.Fatalf("second page = %+v", page)
	}
	page.Data = nil
	decodeJSON(t, call(t, "GET", base+"/v1/quarantine?stage=hs-sink", ""), http.StatusOK, &page)
	if len(page.Data) != 1 || page.Data[0].Stage != "hs-sink" {
		t.Errorf("by stage = %+v", page)
	}
	assertProblem(t, call(t, "GET", base+"/v1/quarantine?cursor=nope", ""), http.StatusBadRequest, "cursor")

	var one quarantinedView
	decodeJSON(t, call(t, "GET", base+"/v1/quarantine/0-7", ""), http.StatusOK, &one)
	if one.Value.Encoding != "base64" || one.Key == nil || one.Key.Data != "ep_1" || len(one.Headers) != 1 || one.Headers[0].Value.Data != "abc" {
		t.Errorf("GET 0-7 = %+v", one)
	}
	assertProblem(t, call(t, "GET", base+"/v1/quarantine/9-9", ""), http.StatusNotFound, "")
	assertProblem(t, call(t, "GET", base+"/v1/quarantine/x", ""), http.StatusNotFound, "")

	decodeJSON(t, call(t, "POST", base+"/v1/quarantine/0-7/redrive", ""), http.StatusOK, &one)
	if one.RedrivenAt == nil {
		t.Errorf("re-driven record = %+v", one)
	}
	assertProblem(t, call(t, "POST", base+"/v1/quarantine/0-7/redrive", ""), http.StatusConflict, "")
	assertProblem(t, call(t, "POST", base+"/v1/quarantine/1-3/redrive", ""), http.StatusUnprocessableEntity, "")
	assertProblem(t, call(t, "POST", base+"/v1/quarantine/5-5/redrive", ""), http.StatusNotFound, "")

	// Back where it came from: key, value and its own headers.
	rd, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(topics.Deliveries()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	testenv.Must(t, err, "reader")
	defer rd.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	recs := rd.PollRecords(pctx, 10).Records()
	if len(recs) != 1 || string(recs[0].Value) != "not a task \x00\xff" || string(recs[0].Key) != "ep_1" ||
		len(recs[0].Headers) != 1 || recs[0].Headers[0].Key != "trace" {
		t.Fatalf("deliveries topic holds %v", recs)
	}
	// The 422 left the record as it was: it can still be fixed elsewhere.
	one = quarantinedView{}
	decodeJSON(t, call(t, "GET", base+"/v1/quarantine/1-3", ""), http.StatusOK, &one)
	if one.RedrivenAt != nil {
		t.Errorf("a refused re-drive marked the record: %+v", one)
	}
}

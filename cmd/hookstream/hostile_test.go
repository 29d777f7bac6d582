package main

// The hostile suite (make test-hostile): publishers and receivers that send
// what no one should, each against a running hookstream, and after each a
// well-behaved tenant whose events must all arrive and be recorded.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

// metricSum scrapes /metrics and sums the samples of a metric, whatever
// their labels (0 when absent).
func metricSum(t *testing.T, s *system, name string) float64 {
	t.Helper()
	_, raw := s.get("/metrics")
	var sum float64
	for _, line := range strings.Split(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (!strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, "{")) {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(rest[strings.LastIndexByte(rest, ' '):]), 64)
		testenv.Must(t, err, "parse metric")
		sum += f
	}
	return sum
}

// wellBehaved checks that a tenant with its own endpoint still gets every
// event it publishes, delivered and recorded as succeeded, while the
// hostile input sits in front of it.
type wellBehaved struct {
	s   *system
	rcv *receiver
	ep  createdEndpoint
	n   int
}

func newWellBehaved(s *system) *wellBehaved {
	s.t.Helper()
	w := &wellBehaved{s: s, rcv: newReceiver(s.t, nil)}
	w.ep = s.endpoint(w.rcv.URL, "calm.*")
	return w
}

// check publishes n events and waits until all arrived and are recorded.
func (w *wellBehaved) check(after string, n int) {
	w.s.t.Helper()
	for i := 0; i < n; i++ {
		w.s.publish("calm.tick", `{"i":`+strconv.Itoa(w.n+i)+`}`)
	}
	w.n += n
	w.rcv.waitRequests(w.s.t, w.n, 30*time.Second)
	w.s.waitStatus(w.ep.ID, w.n, "succeeded", 30*time.Second)
	w.s.t.Logf("after %s: the well-behaved tenant's %d events arrived and are recorded", after, w.n)
}

// Publishers: what the API answers, and what becomes of records written
// straight to the events topic. Nothing stops fan-out.
func TestHostilePublishers(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_MAX_EVENT_BYTES": "65536"})
	calm := newWellBehaved(s)
	rcv := newReceiver(t, nil)
	hostile := s.endpoint(rcv.URL, "hostile.*")

	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	api := []struct {
		name, body string
		headers    []string
		want       int
	}{
		{"invalid UTF-8 in data", "{\"type\":\"hostile.a\",\"data\":{\"s\":\"\xff\xfe\"}}", nil, http.StatusUnprocessableEntity},
		{"invalid UTF-8 in type", "{\"type\":\"hostile.\xff\",\"data\":{}}", nil, http.StatusUnprocessableEntity},
		{"NUL in the Idempotency-Key", `{"type":"hostile.a","data":{}}`, []string{"Idempotency-Key", "a\x00b"}, http.StatusBadRequest},
		{"\\u0000 in the id", `{"id":"a\u0000b","type":"hostile.a","data":{}}`, nil, http.StatusUnprocessableEntity},
		{"5,000-deep JSON", `{"type":"hostile.a","data":` + deep + `}`, nil, http.StatusUnprocessableEntity},
		{"data over the size limit", `{"type":"hostile.a","data":"` + strings.Repeat("x", 70000) + `"}`, nil, http.StatusRequestEntityTooLarge},
		{"\\u0000 in the ordering key", `{"type":"hostile.a","data":{},"ordering_key":"a\u0000b"}`, nil, http.StatusUnprocessableEntity},
		{"invalid UTF-8 in the ordering key", "{\"type\":\"hostile.a\",\"data\":{},\"ordering_key\":\"\xff\"}", nil, http.StatusUnprocessableEntity},
		{"an ordering key over 255 bytes", `{"type":"hostile.a","data":{},"ordering_key":"` + strings.Repeat("k", 256) + `"}`, nil, http.StatusUnprocessableEntity},
		{"\\u0000 in data (valid JSON: stored and delivered as is)", `{"type":"hostile.nul","data":{"s":"a\u0000b"}}`, nil, http.StatusAccepted},
	}
	for _, tc := range api {
		req, err := http.NewRequest("POST", s.api+"/v1/events", strings.NewReader(tc.body))
		testenv.Must(t, err, "request")
		req.Header.Set("Authorization", "Bearer "+s.token)
		for i := 0; i+1 < len(tc.headers); i += 2 {
			req.Header[tc.headers[i]] = []string{tc.headers[i+1]}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			// Go's client refuses to send a NUL in a header: send it raw.
			resp, err = rawRequest(s.api, req, tc.body)
			testenv.Must(t, err, tc.name)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST /v1/events with %s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		// A malformed header is refused by Go's HTTP server itself, in
		// plain text, before any handler runs.
		if tc.want >= 400 && tc.headers == nil && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: answered %q, want problem+json", tc.name, resp.Header.Get("Content-Type"))
		}
	}
	calm.check("hostile API requests", 3)

	// Straight to the topic: each bad record goes to the invalid topic,
	// the same id 10,000 times is delivered once, 100 KiB of headers and a
	// record at the size limit are delivered.
	cl := s.kafka()
	ctx := context.Background()
	events := s.prefix + "events"
	bad := map[string][]byte{
		"invalid UTF-8 in data":       []byte("{\"tenant\":\"default\",\"type\":\"hostile.a\",\"data\":\"\xff\"}"),
		"NUL byte in the value":       []byte("{\"tenant\":\"default\",\"type\":\"hostile.a\",\"data\":\"\x00\"}"),
		"\\u0000 in the id":           []byte(`{"id":"x\u0000","tenant":"default","type":"hostile.a","data":{}}`),
		"5,000-deep JSON":             []byte(`{"tenant":"default","type":"hostile.a","data":` + deep + `}`),
		"over the size limit":         []byte(`{"tenant":"default","type":"hostile.a","data":"` + strings.Repeat("x", 70000) + `"}`),
		"\\u0000 in the ordering key": []byte(`{"tenant":"default","type":"hostile.a","data":{},"ordering_key":"k\u0000"}`),
		"an ordering key over 255 bytes": []byte(`{"tenant":"default","type":"hostile.a","data":{},"ordering_key":"` +
			strings.Repeat("k", 256) + `"}`),
		"an ordering key that is a number": []byte(`{"tenant":"default","type":"hostile.a","data":{},"ordering_key":7}`),
	}
	for name, v := range bad {
		testenv.Must(t, cl.ProduceSync(ctx, &kgo.Record{Topic: events, Value: v,
			Headers: []kgo.RecordHeader{{Key: "case", Value: []byte(name)}}}).FirstErr(), "produce "+name)
	}
	same := make([]*kgo.Record, 10000)
	for i := range same {
		same[i] = &kgo.Record{Topic: events, Key: []byte("same"),
			Value: []byte(`{"id":"same-id","tenant":"default","type":"hostile.same","data":{"copy":` + strconv.Itoa(i) + `}}`)}
	}
	testenv.Must(t, cl.ProduceSync(ctx, same...).FirstErr(), "produce the same id 10,000 times")
	bigHeaders := make([]kgo.RecordHeader, 100)
	for i := range bigHeaders {
		bigHeaders[i] = kgo.RecordHeader{Key: "h" + strconv.Itoa(i), Value: bytes.Repeat([]byte("v"), 1024)}
	}
	atLimit := `{"tenant":"default","type":"hostile.big","data":"`
	atLimit += strings.Repeat("y", 65536-len(atLimit)-2) + `"}`
	testenv.Must(t, cl.ProduceSync(ctx,
		&kgo.Record{Topic: events, Value: []byte(`{"tenant":"default","type":"hostile.headers","data":{}}`), Headers: bigHeaders},
		&kgo.Record{Topic: events, Value: []byte(atLimit)},
	).FirstErr(), "produce 100 KiB of headers and a record at the limit")
	// Times no history partition covers (deliveries are partitioned by
	// their event's created_at, which the publisher sets; 0001-01-01 itself
	// is Go's zero time, which the dispatcher replaces): delivered, and
	// their rows kept in the DEFAULT partition.
	testenv.Must(t, cl.ProduceSync(ctx,
		&kgo.Record{Topic: events, Value: []byte(`{"tenant":"default","type":"hostile.when","data":{},"created_at":"0001-01-02T00:00:00Z"}`)},
		&kgo.Record{Topic: events, Value: []byte(`{"tenant":"default","type":"hostile.when","data":{},"created_at":"9999-12-31T23:59:59.999999Z"}`)},
	).FirstErr(), "produce events created in years 1 and 9999")

	calm.check("hostile records on the topic", 3)
	// hostile.nul, hostile.same, hostile.headers, hostile.big and the two
	// hostile.when: six deliveries, each once.
	s.waitStatus(hostile.ID, 6, "succeeded", 30*time.Second)
	byType := map[string]int{}
	for _, r := range rcv.requests() {
		byType[r.Header.Get("X-Webhook-Event-Type")]++
		if r.Header.Get("X-Webhook-Event-Type") == "hostile.nul" && string(r.Body) != `{"s":"a\u0000b"}` {
			t.Errorf("\\u0000 data delivered as %q, want it byte for byte", r.Body)
		}
	}
	for _, typ := range []string{"hostile.nul", "hostile.same", "hostile.headers", "hostile.big"} {
		if byType[typ] != 1 {
			t.Errorf("%s delivered %d times, want once", typ, byType[typ])
		}
	}
	if byType["hostile.when"] != 2 {
		t.Errorf("events created in years 1 and 9999 delivered %d times, want once each", byType["hostile.when"])
	}
	inv := readN(t, s, s.prefix+"events.invalid", len(bad))
	for _, r := range inv {
		t.Logf("invalid topic: %s: %s", header(r, "case"), header(r, schema.HeaderError))
	}
	if len(inv) != len(bad) {
		t.Errorf("invalid topic holds %d records, want %d", len(inv), len(bad))
	}

	// A record the dispatcher accepts and Postgres refuses (a constraint
	// an operator added) is quarantined alone; the events around it are
	// fanned out.
	conn, err := pgx.Connect(ctx, s.dbURL)
	testenv.Must(t, err, "connect")
	defer conn.Close(ctx)
	var outside int
	testenv.Must(t, conn.QueryRow(ctx, `SELECT count(*) FROM deliveries_default WHERE event_type = 'hostile.when'`).Scan(&outside), "count")
	if outside != 2 {
		t.Errorf("%d deliveries of events created in years 1 and 9999 in the DEFAULT partition, want 2", outside)
	}
	_, err = conn.Exec(ctx, `ALTER TABLE events ADD CONSTRAINT no_refused CHECK (type <> 'calm.refused')`)
	testenv.Must(t, err, "add a constraint")
	s.publish("calm.refused", `{"refused":true}`)
	calm.check("an event Postgres refuses", 3)
	q := readN(t, s, s.prefix+"quarantine", 1)
	if len(q) != 1 || !strings.Contains(header(q[0], consumer.HeaderQuarantineReason), "23514") ||
		!strings.HasSuffix(header(q[0], consumer.HeaderQuarantineStage), "-dispatch") ||
		header(q[0], consumer.HeaderQuarantineTopic) != events {
		t.Fatalf("quarantine holds %d records; want the refused event from the dispatcher with its reason", len(q))
	}
	if n := metricSum(t, s, "hookstream_quarantined_total"); n != 1 {
		t.Errorf("hookstream_quarantined_total = %v, want 1", n)
	}

	// The operator sees it in the API, fixes the cause and re-drives it:
	// the event is fanned out, once.
	var list struct {
		Data []struct {
			ID, Stage, Reason, Topic string
			Value                    struct{ Data, Encoding string }
			RedrivenAt               *time.Time `json:"redriven_at"`
		}
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		code, _ := s.call("GET", "/v1/quarantine", nil, &list)
		return code == http.StatusOK && len(list.Data) == 1
	}, "the quarantined event is not listed")
	got := list.Data[0]
	if !strings.Contains(got.Reason, "23514") || got.Topic != events || !strings.Contains(got.Value.Data, "calm.refused") || got.Value.Encoding != "text" {
		t.Errorf("listed %+v", got)
	}
	// Re-driven before the fix, it is put back, refused again and comes
	// back to the quarantine as a new record.
	if code, raw := s.call("POST", "/v1/quarantine/"+got.ID+"/redrive", nil, nil); code != http.StatusOK {
		t.Fatalf("re-drive before the fix: %d %s", code, raw)
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		code, _ := s.call("GET", "/v1/quarantine", nil, &list)
		return code == http.StatusOK && len(list.Data) == 2
	}, "the event re-driven before the fix did not come back to the quarantine")
	_, err = conn.Exec(ctx, `ALTER TABLE events DROP CONSTRAINT no_refused`)
	testenv.Must(t, err, "drop the constraint")
	fresh := list.Data[0]
	if fresh.RedrivenAt != nil || list.Data[1].RedrivenAt == nil {
		t.Fatalf("after a re-drive before the fix: %+v", list.Data)
	}
	if code, raw := s.call("POST", "/v1/quarantine/"+fresh.ID+"/redrive", nil, nil); code != http.StatusOK {
		t.Fatalf("re-drive: %d %s", code, raw)
	}
	if code, _ := s.call("POST", "/v1/quarantine/"+fresh.ID+"/redrive", nil, nil); code != http.StatusConflict {
		t.Errorf("second re-drive: %d, want 409", code)
	}
	calm.n++ // the re-driven calm.refused event
	calm.check("the re-drive", 1)
	n := 0
	for _, r := range calm.rcv.requests() {
		if r.Header.Get("X-Webhook-Event-Type") == "calm.refused" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the re-driven event was delivered %d times, want once", n)
	}
}

// rawRequest sends req as bytes on a new connection, headers as they are,
// and reads the answer.
func rawRequest(base string, req *http.Request, body string) (*http.Response, error) {
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString(req.Method + " " + req.URL.RequestURI() + " HTTP/1.1\r\nHost: " + req.URL.Host + "\r\nConnection: close\r\n")
	for k, vs := range req.Header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	if _, err := c.Write([]byte(b.String())); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		c.Close()
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{resp.Body, c}
	return resp, nil
}

// readN reads a topic from the start until it holds n records (or 20 s
// pass), then a second more.
func readN(t *testing.T, s *system, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := s.kafka(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var recs []*kgo.Record
	deadline := time.Now().Add(20 * time.Second)
	for len(recs) < n && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		recs = append(recs, cl.PollFetches(ctx).Records()...)
		cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	recs = append(recs, cl.PollFetches(ctx).Records()...)
	cancel()
	return recs
}

// rawServer answers every connection with serve, on 127.0.0.1.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testenv.Must(t, err, "listen")
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Read the request head before answering.
				buf := make([]byte, 64<<10)
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, _ = c.Read(buf)
				serve(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/hook"
}

// Receivers: whatever bytes they answer, or however they misbehave, the
// attempt is recorded honestly, nothing stalls, and the well-behaved tenant
// is unaffected.
func TestHostileReceivers(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_RETRY_SCHEDULE": "1s", "HOOKSTREAM_DELIVERY_TIMEOUT": "2s"})
	calm := newWellBehaved(s)

	binary := make([]byte, 512)
	_, _ = rand.Read(binary)
	var bomb bytes.Buffer
	gz := gzip.NewWriter(&bomb)
	_, _ = gz.Write(make([]byte, 64<<20)) // 64 MiB of zeros, 64 KiB compressed
	_ = gz.Close()
	handler := func(f func(w http.ResponseWriter, r *http.Request)) string {
		srv := httptest.NewServer(http.HandlerFunc(f))
		t.Cleanup(srv.Close)
		return srv.URL + "/hook"
	}
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(tlsSrv.Close)

	type recv struct {
		name string
		url  string
		// status is the delivery's final state; body, when set, is what
		// its first attempt must hold as the response body (as the API
		// shows it).
		status, body string
		// err, when set, must be in the first attempt's error.
		err string
	}
	cases := []recv{
		{name: "NUL in the body", status: "succeeded", body: base64.StdEncoding.EncodeToString([]byte("ok\x00ok")),
			url: handler(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\x00ok")) })},
		{name: "binary body", status: "dead", body: base64.StdEncoding.EncodeToString(binary),
			url: handler(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500); _, _ = w.Write(binary) })},
		{name: "invalid UTF-8", status: "succeeded", body: base64.StdEncoding.EncodeToString([]byte("caf\xe9")),
			url: handler(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("caf\xe9")) })},
		{name: "10 MB body", status: "succeeded",
			url: handler(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(bytes.Repeat([]byte("z"), 10<<20)) })},
		{name: "a body that never ends", status: "succeeded",
			url: handler(func(w http.ResponseWriter, r *http.Request) {
				chunk := bytes.Repeat([]byte("e"), 4096)
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			})},
		{name: "1,000 headers", status: "dead",
			url: handler(func(w http.ResponseWriter, _ *http.Request) {
				for i := 0; i < 1000; i++ {
					w.Header().Set("X-Junk-"+strconv.Itoa(i), strings.Repeat("j", 100))
				}
			})},
		{name: "redirect loop", status: "dead",
			url: handler(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.Path, http.StatusFound) })},
		{name: "gzip bomb with Content-Encoding", status: "succeeded",
			url: handler(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				_, _ = w.Write(bomb.Bytes())
			})},
		{name: "headers one byte a second", status: "dead",
			url: rawServer(t, func(c net.Conn) {
				for _, b := range []byte("HTTP/1.1 200 OK\r\nX-Slow: yes\r\n\r\n") {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(time.Second)
				}
			})},
		{name: "malformed status line", status: "dead",
			url: rawServer(t, func(c net.Conn) { _, _ = c.Write([]byte("HTTP/1.1 2\x000 \xff\r\n\r\n")) })},
		{name: "reset mid-body", status: "succeeded", err: "read response body",
			url: rawServer(t, func(c net.Conn) {
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial"))
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // RST, not FIN
				}
			})},
		{name: "bad TLS certificate", status: "dead", url: tlsSrv.URL + "/hook"},
	}
	eps := make([]createdEndpoint, len(cases))
	for i, c := range cases {
		eps[i] = s.endpoint(c.url, "hostile.r"+strconv.Itoa(i))
	}
	for i := range cases {
		s.publish("hostile.r"+strconv.Itoa(i), `{"case":`+strconv.Itoa(i)+`}`)
	}
	calm.check("publishing to the hostile receivers", 5)

	for i, c := range cases {
		ds := s.waitStatus(eps[i].ID, 1, c.status, 40*time.Second)
		var full deliveryDetail
		code, raw := s.call("GET", "/v1/deliveries/"+ds[0].ID, nil, &full)
		if code != http.StatusOK || len(full.History) == 0 {
			t.Errorf("%s: GET delivery: %d %s", c.name, code, raw)
			continue
		}
		a := full.History[0]
		t.Logf("%s: %s after %d attempts; first: status %d, error %q, body %d bytes (%s), truncated %v",
			c.name, ds[0].Status, ds[0].Attempts, a.StatusCode, a.Error, len(a.ResponseBody), a.Encoding, a.Truncated)
		if c.body != "" && (a.ResponseBody != c.body || a.Encoding != "base64") {
			t.Errorf("%s: body shown as %q (%q), want %q in base64", c.name, a.ResponseBody, a.Encoding, c.body)
		}
		if !strings.Contains(a.Error, c.err) {
			t.Errorf("%s: error %q, want it to say %q", c.name, a.Error, c.err)
		}
		if strings.ContainsRune(a.Error, 0) || strings.ContainsRune(a.ResponseBody, 0) {
			t.Errorf("%s: a NUL reached the history", c.name)
		}
	}
	calm.check("every hostile receiver's delivery was settled", 5)
	if n := metricSum(t, s, "hookstream_quarantined_total"); n != 0 {
		t.Errorf("hookstream_quarantined_total = %v: a receiver's answer made a record poison", n)
	}
}

// deliveryDetail is GET /v1/deliveries/{id} with the attempts' bodies.
type deliveryDetail struct {
	History []struct {
		StatusCode   int    `json:"status_code"`
		Error        string `json:"error"`
		ResponseBody string `json:"response_body"`
		Encoding     string `json:"response_body_encoding"`
		Truncated    bool   `json:"response_truncated"`
	} `json:"attempt_history"`
}

// The sink quarantines an attempt record that no deliverer wrote (a NUL in
// its ids) and records the ones around it; a task that names another
// tenant's endpoint is quarantined, never sent; so is an event in the bulk
// lane that the dispatcher did not forward.
func TestHostileStageRecords(t *testing.T) {
	s := startSystem(t, nil)
	calm := newWellBehaved(s)
	cl := s.kafka()
	ctx := context.Background()

	forged := schema.EncodeAttempt(schema.Attempt{V: 1, DeliveryID: "msg_\x00forged", EndpointID: calm.ep.ID,
		Tenant: "default", EventID: "e", EventType: "calm.x", Attempt: 1, Outcome: schema.OutcomeSucceeded, Sent: true, At: time.Now()})
	testenv.Must(t, cl.ProduceSync(ctx, &kgo.Record{Topic: s.prefix + "attempts", Key: []byte(calm.ep.ID), Value: forged}).FirstErr(),
		"produce a forged attempt")

	code, raw := s.call("POST", "/v1/tenants", map[string]any{"id": "other"}, nil)
	if code != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", code, raw)
	}
	ev := schema.Event{ID: "evt_x", Tenant: "other", Type: "calm.tick", Data: []byte(`{}`), CreatedAt: time.Now()}
	task := schema.NewTask(ev, calm.ep.ID) // calm's endpoint belongs to "default"
	testenv.Must(t, cl.ProduceSync(ctx, &kgo.Record{Topic: s.prefix + "deliveries", Key: []byte(calm.ep.ID),
		Value: schema.EncodeTask(task)}).FirstErr(), "produce a cross-tenant task")

	// The bulk lane of events holds only what the dispatcher forwarded,
	// with the position it was published at.
	testenv.Must(t, cl.ProduceSync(ctx, &kgo.Record{Topic: s.prefix + "events.bulk",
		Value: []byte(`{"tenant":"default","type":"calm.x","data":{}}`)}).FirstErr(), "produce a stray record to the bulk lane")

	calm.check("a forged attempt, a cross-tenant task and a stray bulk-lane event", 5)
	q := readN(t, s, s.prefix+"quarantine", 3)
	stages := map[string]string{}
	for _, r := range q {
		stages[header(r, consumer.HeaderQuarantineTopic)] = header(r, consumer.HeaderQuarantineReason)
	}
	if len(q) != 3 || stages[s.prefix+"attempts"] == "" || !strings.Contains(stages[s.prefix+"deliveries"], "another tenant") ||
		!strings.Contains(stages[s.prefix+"events.bulk"], schema.HeaderSource) {
		t.Errorf("quarantine holds %v, want the forged attempt, the cross-tenant task and the stray bulk-lane event", stages)
	}
	for _, r := range calm.rcv.requests() {
		if r.Header.Get("X-Webhook-Event-Id") == "evt_x" {
			t.Error("the cross-tenant task was sent")
		}
	}
}

// An event published straight to the topic that matches more endpoints than
// HOOKSTREAM_MAX_FANOUT goes to the invalid topic, saying so; the others
// are fanned out.
func TestFanoutLimitOnTheTopic(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_MAX_FANOUT": "2"})
	calm := newWellBehaved(s)
	rcv := newReceiver(t, nil)
	for i := 0; i < 3; i++ {
		s.endpoint(rcv.URL, "wide.*")
	}
	testenv.Must(t, s.kafka().ProduceSync(context.Background(), &kgo.Record{Topic: s.prefix + "events",
		Value: []byte(`{"tenant":"default","type":"wide.x","data":{}}`)}).FirstErr(), "produce")
	calm.check("an event over the fan-out limit", 2)
	inv := readN(t, s, s.prefix+"events.invalid", 1)
	if len(inv) != 1 || !strings.Contains(header(inv[0], schema.HeaderError), "matches more than 2 endpoints") {
		t.Fatalf("invalid topic holds %d records", len(inv))
	}
	if n := len(rcv.requests()); n != 0 {
		t.Errorf("the wide event reached %d endpoints", n)
	}
}

// A tenant with a backlog does not hold up another: past its share of the
// fast lane its events go to the bulk lane, and the other tenant's events,
// published after the whole backlog, are delivered while most of it still
// waits. The backlog is of tasks (an event to many endpoints) or of events
// (one endpoint each, keyed by tenant as the producer does).
func TestBacklogOfOneTenantDoesNotHoldUpAnother(t *testing.T) {
	for _, tc := range []struct {
		name              string
		endpoints, events int
		key               []byte
	}{
		{"tasks", 30, 100, nil},
		{"events", 1, 3000, []byte("default")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backlogDoesNotHoldUpAnother(t, tc.endpoints, tc.events, tc.key)
		})
	}
}

func backlogDoesNotHoldUpAnother(t *testing.T, endpoints, events int, key []byte) {
	// The backlog is of healthy endpoints: no endpoint's own window fills
	// (that would move its tasks on anyway), the process's slots do. Eight
	// slots of 100 ms make the backlog take at least 37 s to drain, far
	// longer than the light tenant's events take to go through on a loaded
	// machine: with 512 slots of 5 ms it drained in under 2 s, and the test
	// could not tell a fair pipeline from a slow one.
	s := startSystem(t, map[string]string{"HOOKSTREAM_TENANT_FAST_LANE_RATE": "100", "HOOKSTREAM_TENANT_FAST_LANE_BURST": "200",
		"HOOKSTREAM_DELIVER_CONCURRENCY": "8"})
	heavy := newReceiver(t, func(int, *http.Request) int { time.Sleep(100 * time.Millisecond); return http.StatusOK })
	for range endpoints {
		s.endpoint(heavy.URL, "bulk.*")
	}
	code, raw := s.call("POST", "/v1/tenants", map[string]any{"id": "light"}, nil)
	if code != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", code, raw)
	}
	light := newReceiver(t, nil)
	var lightEP createdEndpoint
	code, raw = s.call("POST", "/v1/endpoints", map[string]any{"url": light.URL, "event_types": []string{"calm.*"}}, &lightEP,
		"X-Hookstream-Tenant", "light")
	if code != http.StatusCreated {
		t.Fatalf("create light endpoint: %d %s", code, raw)
	}

	backlog := endpoints * events
	cl := s.kafka()
	recs := make([]*kgo.Record, 0, events+3)
	for i := 0; i < events; i++ {
		recs = append(recs, &kgo.Record{Topic: s.prefix + "events", Key: key,
			Value: []byte(`{"tenant":"default","type":"bulk.x","data":{"i":` + strconv.Itoa(i) + `}}`)})
	}
	// Keyed by tenant as the producer keys them, when the backlog is: a
	// tenant whose events share the backlog's partition waits for the
	// dispatcher to read past it (docs/operations.md, Fair lanes), and
	// unkeyed records landed there in about one run in ten.
	var lightKey []byte
	if key != nil {
		lightKey = []byte("light")
	}
	for i := 0; i < 3; i++ {
		recs = append(recs, &kgo.Record{Topic: s.prefix + "events", Key: lightKey,
			Value: []byte(`{"tenant":"light","type":"calm.x","data":{"i":` + strconv.Itoa(i) + `}}`)})
	}
	testenv.Must(t, cl.ProduceSync(context.Background(), recs...).FirstErr(), "produce the backlog, then the light events")
	if key != nil && recs[0].Partition == recs[len(recs)-1].Partition {
		t.Fatalf("the keys %q and %q share partition %d: pick another key for the light tenant", key, lightKey, recs[0].Partition)
	}
	light.waitRequests(t, 3, 60*time.Second)
	if n := len(heavy.requests()); n >= backlog/4 {
		t.Errorf("the light tenant's events arrived after %d of the %d backlog deliveries: they waited behind it", n, backlog)
	} else {
		t.Logf("the light tenant's events arrived after %d of the %d backlog deliveries", n, backlog)
	}
	// The bulk lanes were used (the rest of the backlog is left undelivered
	// when the system stops).
	testenv.Eventually(t, 30*time.Second, func() bool {
		return metricSum(t, s, "hookstream_delivery_tasks_bulk_total") >= float64(backlog)/2
	}, "hookstream_delivery_tasks_bulk_total = %v, want most of the backlog",
		func() any { return metricSum(t, s, "hookstream_delivery_tasks_bulk_total") })
	if n := metricSum(t, s, "hookstream_events_bulk_total"); n < float64(events)/2 {
		t.Errorf("hookstream_events_bulk_total = %v, want most of the %d events", n, events)
	}
}

// CloudEvents and sources: hostile headers and values, on the events topic
// and on a source's topic, each go to the invalid topic with the reason;
// a good record between them is delivered, and the well-behaved tenant's
// events are not held up.
func TestHostileCloudEventsAndSources(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_SOURCE_REFRESH": "100ms"})
	calm := newWellBehaved(s)
	rcv := newReceiver(t, nil)
	s.endpoint(rcv.URL, "hostile.*")
	topic := testenv.Name("hostile-")
	createTopics(t, s, topic)
	if code, raw := s.call("POST", "/v1/sources", map[string]any{"id": "hostile", "topic": topic,
		"tenant": map[string]any{"from": "header", "header": "x-tenant"}, "type": map[string]any{"from": "pointer", "pointer": "/kind"},
		"data":         map[string]any{"from": "pointer", "pointer": "/payload"},
		"ordering_key": map[string]any{"from": "header", "header": "x-account"}}, nil); code != http.StatusCreated {
		t.Fatalf("create source: %d %s", code, raw)
	}
	// A fine record of the source but for its ordering key header.
	acct := func(v string) *kgo.Record {
		return &kgo.Record{Topic: topic, Value: []byte(`{"kind":"hostile.s","payload":{}}`), Headers: kheaders("x-tenant", "default", "x-account", v)}
	}
	ce := func(extra ...string) []kgo.RecordHeader {
		return kheaders(append([]string{"ce_specversion", "1.0", "ce_id", "1", "ce_source", "/h", "ce_type", "hostile.ce", "ce_tenant", "default"}, extra...)...)
	}
	many := ce()
	for i := range 1000 {
		many = append(many, kgo.RecordHeader{Key: "ce_x" + strconv.Itoa(i), Value: []byte("v")})
	}
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	huge := strings.Repeat("h", 100<<10)
	events := s.prefix + "events"
	bad := map[string]*kgo.Record{
		"ce: invalid UTF-8 in a header value": {Topic: events, Value: []byte(`{}`), Headers: ce("ce_subject", "a\xffb")},
		"ce: invalid UTF-8 in a header name":  {Topic: events, Value: []byte(`{}`), Headers: ce("ce_\xff", "v")},
		"ce: a 100 KiB header":                {Topic: events, Value: []byte(`{}`), Headers: ce("ce_subject", huge)},
		"ce: 1,000 extension headers":         {Topic: events, Value: []byte(`{}`), Headers: many},
		"ce: NUL in an attribute":             {Topic: events, Value: []byte(`{}`), Headers: ce("ce_subject", "a\x00b")},
		"ce: binary data not JSON":            {Topic: events, Value: []byte("\x00\x01\x02"), Headers: ce()},
		"ce: structured, 5,000-deep data": {Topic: events, Headers: kheaders("content-type", "application/cloudevents+json"),
			Value: []byte(`{"specversion":"1.0","id":"2","source":"/h","type":"hostile.ce","tenant":"default","data":` + deep + `}`)},
		"ce: structured, not JSON":                   {Topic: events, Headers: kheaders("content-type", "application/cloudevents+json"), Value: []byte("{\"specversion\":\"1.0\xff")},
		"source: invalid UTF-8 in the tenant header": {Topic: topic, Value: []byte(`{"kind":"hostile.s","payload":{}}`), Headers: kheaders("x-tenant", "\xff")},
		"source: a 100 KiB tenant header":            {Topic: topic, Value: []byte(`{"kind":"hostile.s","payload":{}}`), Headers: kheaders("x-tenant", huge)},
		"source: a pointer to nowhere":               {Topic: topic, Value: []byte(`{"type":"hostile.s","payload":{}}`), Headers: kheaders("x-tenant", "default")},
		"source: a value that is not JSON":           {Topic: topic, Value: []byte("\x89PNG\r\n"), Headers: kheaders("x-tenant", "default")},
		"source: 5,000-deep data":                    {Topic: topic, Value: []byte(`{"kind":"hostile.s","payload":` + deep + `}`), Headers: kheaders("x-tenant", "default")},
		"source: duplicate names in the value":       {Topic: topic, Value: []byte(`{"kind":"hostile.s","kind":"hostile.t","payload":{}}`), Headers: kheaders("x-tenant", "default")},
		"source: invalid UTF-8 in the ordering key":  acct("a\xffb"),
		"source: NUL in the ordering key":            acct("a\x00b"),
		"source: a 100 KiB ordering key":             acct(huge),
		"source: no ordering key header":             {Topic: topic, Value: []byte(`{"kind":"hostile.s","payload":{}}`), Headers: kheaders("x-tenant", "default")},
	}
	cl := s.kafka(kgo.UnknownTopicRetries(-1), kgo.RecordDeliveryTimeout(30*time.Second))
	ctx := context.Background()
	for name, r := range bad {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "case", Value: []byte(name)})
		testenv.Must(t, cl.ProduceSync(ctx, r).FirstErr(), "produce "+name)
	}
	testenv.Must(t, cl.ProduceSync(ctx,
		&kgo.Record{Topic: events, Value: []byte(`{"ok":"ce"}`), Headers: ce()},
		&kgo.Record{Topic: topic, Value: []byte(`{"kind":"hostile.s","payload":{"ok":"source"}}`), Headers: kheaders("x-tenant", "default", "x-account", "acct-1")},
	).FirstErr(), "produce the good records")

	calm.check("hostile CloudEvents and source records", 3)
	rcv.waitRequests(t, 2, 30*time.Second)
	inv := readN(t, s, s.prefix+"events.invalid", len(bad))
	got := map[string]bool{}
	for _, r := range inv {
		t.Logf("invalid topic: %s: %.120s", header(r, "case"), header(r, schema.HeaderError))
		got[header(r, "case")] = header(r, schema.HeaderError) != ""
	}
	for name := range bad {
		if !got[name] {
			t.Errorf("%s: not in the invalid topic with a reason", name)
		}
	}
	if len(inv) != len(bad) {
		t.Errorf("invalid topic holds %d records, want %d", len(inv), len(bad))
	}
}

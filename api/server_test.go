package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/catalog"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/listener"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/seal"
)

const token = "t"

// env is what an API server runs on: a migrated Postgres database and a
// producer on an events topic of the test's own.
type env struct {
	db      *postgres.DB
	pub     *producer.Client
	queue   *pipeline.Queue
	brokers []string
	topic   string
	dbURL   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	box, err := seal.New(make([]byte, 32))
	testenv.Must(t, err, "seal.New")
	dbURL := testenv.DatabaseURL(t)
	db, err := postgres.Open(ctx, dbURL, box)
	testenv.Must(t, err, "postgres.Open")
	t.Cleanup(db.Close)
	_, err = db.Migrate(ctx)
	testenv.Must(t, err, "Migrate")

	brokers := testenv.Brokers(t)
	topic := testenv.Name("api-events-")
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	testenv.Must(t, err, "admin client")
	defer admin.Close()
	topics := pipeline.Topics{Prefix: topic + "."}
	for _, name := range []string{topic, topics.Deliveries()} {
		resp, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 1, nil, name)
		testenv.Must(t, err, "create topic")
		testenv.Must(t, resp.Err, "create topic")
	}
	testenv.WaitTopics(t, brokers, topic, topics.Deliveries())
	pub, err := producer.New(brokers, producer.WithTopic(topic))
	testenv.Must(t, err, "producer.New")
	t.Cleanup(pub.Close)
	tasks, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	testenv.Must(t, err, "task client")
	t.Cleanup(tasks.Close)
	return &env{db: db, pub: pub, queue: &pipeline.Queue{Client: tasks, Topics: topics}, brokers: brokers, topic: topic, dbURL: dbURL}
}

// serve starts an API server on the env with guard, and returns its URL.
func (e *env) serve(t *testing.T, guard delivery.Guard) string {
	t.Helper()
	jobs := &pipeline.Recoverer{Store: e.db, Tasks: e.queue, Poll: 100 * time.Millisecond}
	s := &api.Server{
		Store: e.db, Publisher: e.pub, Tasks: e.queue, Guard: guard, AdminToken: token,
		JobCreated: jobs.Wake, Log: slog.New(slog.DiscardHandler),
		Catalog: catalog.New(e.db, nil), MaxEventTypes: 5,
		Feed: e.db, Listeners: &listener.Hub{Store: e.db, Token: "relay"}, RelayURL: "http://127.0.0.1:1",
	}
	srv := httptest.NewServer(s.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = jobs.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	t.Cleanup(srv.Close)
	return srv.URL
}

// loopback lets endpoints point at 127.0.0.0/8, where tests run receivers.
var loopback = delivery.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// newServer returns the URL of an API server allowing loopback targets.
func newServer(t *testing.T) (string, *env) {
	t.Helper()
	e := newEnv(t)
	return e.serve(t, loopback), e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request with the admin token; headers are name, value pairs.
func call(t *testing.T, method, url, body string, headers ...string) response {
	t.Helper()
	return callAuth(t, "Bearer "+token, method, url, body, headers...)
}

// callAuth sends a request with the Authorization header auth ("" for none).
func callAuth(t *testing.T, auth, method, url, body string, headers ...string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	testenv.Must(t, err, "new request")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	testenv.Must(t, err, "read body")
	checkExchange(t, req, []byte(body), resp.StatusCode, resp.Header, b)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

type problemJSON struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Field  string `json:"field"`
}

// assertProblem checks that r is a problem+json answer with the status and
// (when field is not "") the field named.
func assertProblem(t *testing.T, r response, status int, field string) problemJSON {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problemJSON
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	if p.Status != status || p.Title == "" || p.Detail == "" {
		t.Errorf("problem = %+v, want status %d with a title and a detail", p, status)
	}
	if field != "" && p.Field != field {
		t.Errorf("problem field = %q, want %q (detail %q)", p.Field, field, p.Detail)
	}
	return p
}

func decodeJSON(t *testing.T, r response, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

func TestAuth(t *testing.T) {
	base, _ := newServer(t)
	tests := []struct{ name, auth string }{
		{"missing", ""},
		{"wrong token", "Bearer nope"},
		{"token with suffix", "Bearer tt"},
		{"scheme only", "Bearer"},
		{"empty token", "Bearer "},
		{"other scheme", "Basic " + token},
		{"token without scheme", token},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, route := range []struct{ method, path, body string }{
				{"GET", "/v1/endpoints", ""},
				{"POST", "/v1/endpoints", `{"url":"http://127.0.0.1:9/x","event_types":["*"]}`},
				{"POST", "/v1/events", `{"type":"a","data":{}}`},
				{"GET", "/v1/deliveries", ""},
			} {
				r := callAuth(t, tt.auth, route.method, base+route.path, route.body)
				assertProblem(t, r, http.StatusUnauthorized, "")
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s: WWW-Authenticate = %q, want a Bearer challenge", route.method, route.path, r.header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	r := call(t, "GET", base+"/v1/endpoints", "")
	var page struct{ Data []json.RawMessage }
	decodeJSON(t, r, http.StatusOK, &page)
	if len(page.Data) != 0 {
		t.Errorf("rejected requests created %d endpoints", len(page.Data))
	}
}

func TestAuthWithoutConfiguredToken(t *testing.T) {
	e := newEnv(t)
	s := &api.Server{Store: e.db, Publisher: e.pub, Guard: loopback, Log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	for _, auth := range []string{"", "Bearer", "Bearer "} {
		assertProblem(t, callAuth(t, auth, "GET", srv.URL+"/v1/endpoints", ""), http.StatusUnauthorized, "")
	}
}

func TestHealth(t *testing.T) {
	base, _ := newServer(t)
	var h map[string]string
	decodeJSON(t, callAuth(t, "", "GET", base+"/healthz", ""), http.StatusOK, &h)
	var ready map[string]string
	decodeJSON(t, callAuth(t, "", "GET", base+"/readyz", ""), http.StatusOK, &ready)
	if ready["postgres"] != "ok" || ready["kafka"] != "ok" {
		t.Errorf("readyz = %v, want postgres and kafka ok", ready)
	}
	// Metrics are on a listener of their own (cmd/hookstream), not the API's.
	assertProblem(t, callAuth(t, "", "GET", base+"/metrics", ""), http.StatusNotFound, "")
}

func TestUnknownRoute(t *testing.T) {
	base, _ := newServer(t)
	assertProblem(t, call(t, "GET", base+"/v1/nope", ""), http.StatusNotFound, "")
	assertProblem(t, callAuth(t, "", "GET", base+"/", ""), http.StatusNotFound, "")
}

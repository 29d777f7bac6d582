package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/seal"
)

// system is a running hookstream (every role in this process) on real
// parts: kfake or HOOKSTREAM_KAFKA_BROKERS, a fresh Postgres database.
type system struct {
	t       *testing.T
	api     string
	metrics string // base URL of /metrics and the profiles
	token   string
	brokers []string
	prefix  string
	dbURL   string
	cfg     Config
	log     *slog.Logger
	stop    func()
}

// startSystem runs hookstream with test defaults overridden by env.
func startSystem(t *testing.T, env map[string]string) *system {
	t.Helper()
	return startSystemWith(t, env, nil)
}

// startSystemWith is startSystem with the configuration changed by tweak
// (when not nil) before hookstream starts.
func startSystemWith(t *testing.T, env map[string]string, tweak func(*Config)) *system {
	t.Helper()
	s := &system{
		t:       t,
		token:   "test-admin-token",
		brokers: testenv.Brokers(t),
		prefix:  testenv.Name("hst") + ".",
		dbURL:   testenv.DatabaseURL(t),
	}
	vars := map[string]string{
		"HOOKSTREAM_KAFKA_BROKERS":        strings.Join(s.brokers, ","),
		"HOOKSTREAM_DATABASE_URL":         s.dbURL,
		"HOOKSTREAM_HTTP_ADDR":            "127.0.0.1:0",
		"HOOKSTREAM_METRICS_ADDR":         "127.0.0.1:0",
		"HOOKSTREAM_ADMIN_TOKEN":          s.token,
		"HOOKSTREAM_SECRET_KEY":           seal.GenerateKey(),
		"HOOKSTREAM_ALLOWED_TARGET_CIDRS": "127.0.0.0/8",
		"HOOKSTREAM_TOPIC_PREFIX":         s.prefix,
		"HOOKSTREAM_TOPIC_PARTITIONS":     "3",
		"HOOKSTREAM_RETRY_SCHEDULE":       "1s,2s",
		"HOOKSTREAM_DELIVERY_TIMEOUT":     "2s",
		"HOOKSTREAM_SHUTDOWN_GRACE":       "2s",
		"HOOKSTREAM_INSTANCE_ID":          testenv.Name("i"),
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := loadConfig(context.Background(), envconfig.MapLookuper(vars))
	testenv.Must(t, err, "config")
	if tweak != nil {
		tweak(&cfg)
	}
	s.cfg = cfg
	level := slog.LevelWarn
	if os.Getenv("HOOKSTREAM_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	s.log = log
	testenv.Must(t, migrate(context.Background(), cfg, log), "migrate")
	s.launch()
	return s
}

// launch runs hookstream with s.cfg and waits until it serves.
func (s *system) launch() {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan listening, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, s.cfg, s.log, func(addrs listening) { ready <- addrs }) }()
	select {
	case addrs := <-ready:
		s.api = "http://" + addrs.HTTP
		s.metrics = "http://" + addrs.Metrics
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("hookstream did not start within 60s")
	}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run returned: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("hookstream did not stop within 30s of cancellation")
			}
		})
	}
	t.Cleanup(s.stop)
}

// restart stops hookstream (as a shutdown would, with whatever is in
// flight) and starts it again on the same broker, database and topics.
func (s *system) restart() {
	s.t.Helper()
	s.stop()
	s.launch()
}

// testWriter sends logs to t.Log, so they show only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// call makes an API request and decodes a JSON answer into out (when not
// nil); it returns the status code and the raw body.
func (s *system) call(method, path string, body any, out any, headers ...string) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		testenv.Must(s.t, err, "encode body")
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.api+path, rd)
	testenv.Must(s.t, err, "request")
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(s.t, err, method+" "+path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	testenv.Must(s.t, err, "read body")
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, raw
}

// get fetches a URL of the metrics listener (such as /metrics) and returns
// the status code and the body.
func (s *system) get(path string) (int, []byte) {
	s.t.Helper()
	resp, err := http.Get(s.metrics + path)
	testenv.Must(s.t, err, "GET "+path)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	testenv.Must(s.t, err, "read body")
	return resp.StatusCode, raw
}

type createdEndpoint struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	URL    string `json:"url"`
	State  string `json:"state"`
}

// endpoint creates an endpoint and fails the test unless it is created.
func (s *system) endpoint(url string, types ...string) createdEndpoint {
	s.t.Helper()
	var ep createdEndpoint
	code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": url, "event_types": types}, &ep)
	if code != http.StatusCreated {
		s.t.Fatalf("create endpoint: %d %s", code, raw)
	}
	return ep
}

// publish sends an event through the API and returns its id.
func (s *system) publish(typ string, data string, headers ...string) string {
	s.t.Helper()
	var out struct{ ID string }
	code, raw := s.call("POST", "/v1/events", `{"type":"`+typ+`","data":`+data+`}`, &out, headers...)
	if code != http.StatusAccepted {
		s.t.Fatalf("publish: %d %s", code, raw)
	}
	return out.ID
}

// kafka returns a plain client for producing and reading topics directly.
func (s *system) kafka(opts ...kgo.Opt) *kgo.Client {
	s.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.brokers...)}, opts...)...)
	testenv.Must(s.t, err, "kafka client")
	s.t.Cleanup(cl.Close)
	return cl
}

type deliveryView struct {
	ID             string `json:"id"`
	EndpointID     string `json:"endpoint_id"`
	EventID        string `json:"event_id"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
	LastStatusCode int    `json:"last_status_code"`
	History        []struct {
		Attempt      int    `json:"attempt"`
		Outcome      string `json:"outcome"`
		StatusCode   int    `json:"status_code"`
		Error        string `json:"error"`
		ResponseBody string `json:"response_body"`
	} `json:"attempt_history"`
}

// deliveries lists the deliveries of an endpoint.
func (s *system) deliveries(endpointID string) []deliveryView {
	s.t.Helper()
	var page struct{ Data []deliveryView }
	code, raw := s.call("GET", "/v1/deliveries?endpoint_id="+endpointID, nil, &page)
	if code != http.StatusOK {
		s.t.Fatalf("list deliveries: %d %s", code, raw)
	}
	return page.Data
}

// waitStatus waits until the endpoint's deliveries number n and all have
// the status.
func (s *system) waitStatus(endpointID string, n int, status string, timeout time.Duration) []deliveryView {
	s.t.Helper()
	var ds []deliveryView
	testenv.Eventually(s.t, timeout, func() bool {
		ds = s.deliveries(endpointID)
		if len(ds) != n {
			return false
		}
		for _, d := range ds {
			if d.Status != status {
				return false
			}
		}
		return true
	}, "endpoint %s: want %d deliveries %s, have %+v", endpointID, n, status, &ds)
	return ds
}

// receiver is a real HTTP server that records every request and answers
// with what respond decides (200 when nil).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []received
	respond func(n int, r *http.Request) int
}

type received struct {
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

func newReceiver(t *testing.T, respond func(n int, r *http.Request) int) *receiver {
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now()})
		rc.mu.Unlock()
		code := http.StatusOK
		if rc.respond != nil {
			code = rc.respond(n, r)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"received":true}`))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// waitRequests waits until the receiver has had at least n requests.
func (rc *receiver) waitRequests(t *testing.T, n int, timeout time.Duration) []received {
	t.Helper()
	testenv.Eventually(t, timeout, func() bool { return len(rc.requests()) >= n },
		"receiver got %d requests, want %d", len(rc.requests()), n)
	return rc.requests()
}

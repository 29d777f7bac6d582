package main

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/schema"
	"github.com/hookstream/hookstream/seal"
)

// tenantKey creates a tenant and returns an API key of it.
func (s *system) tenantKey(id string) string {
	s.t.Helper()
	if code, raw := s.call("POST", "/v1/tenants", map[string]any{"id": id}, nil); code != http.StatusCreated {
		s.t.Fatalf("create tenant %s: %d %s", id, code, raw)
	}
	var key struct{ Key string }
	if code, raw := s.call("POST", "/v1/tenants/"+id+"/keys", nil, &key); code != http.StatusCreated {
		s.t.Fatalf("create key: %d %s", code, raw)
	}
	return key.Key
}

var (
	secretRe   = regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`)
	listenerRe = regexp.MustCompile(`Listener:\s+(ep_[a-z0-9]+)`)
)

// listening starts `hookstream listen` as a tenant's key and returns it
// with its signing secret and listener id, once it is ready.
func (s *system) listening(key, forward string, args ...string) (r *running, secret, id string) {
	s.t.Helper()
	r = s.start(key, append([]string{"listen", "--forward-to", forward}, args...)...)
	banner := r.waitStderr("Ctrl-C to stop", 30*time.Second)
	secret = secretRe.FindString(banner)
	m := listenerRe.FindStringSubmatch(banner)
	if secret == "" || m == nil {
		s.t.Fatalf("listen banner without secret or listener:\n%s", banner)
	}
	return r, secret, m[1]
}

func TestListenForwardsSignedWebhooksAndEndsCleanly(t *testing.T) {
	s := startSystem(t, nil)
	key := s.tenantKey("acme")
	rc := newReceiver(t, nil)
	l, secret, id := s.listening(key, rc.URL+"/hook", "--events", "invoice.*")

	s.publish("invoice.paid", `{"invoice":"in_1"}`, "X-Hookstream-Tenant", "acme")
	got := rc.waitRequests(t, 1, 60*time.Second)[0]
	if got.Path != "/hook" || got.Header.Get("X-Webhook-Event-Type") != "invoice.paid" || string(got.Body) != `{"invoice":"in_1"}` {
		t.Fatalf("local receiver got %s %q %s", got.Path, got.Header.Get("X-Webhook-Event-Type"), got.Body)
	}
	if !verifies(t, secret, got) {
		t.Errorf("the delivery does not verify with the secret listen printed (signature %q)", got.Header.Get("webhook-signature"))
	}
	line := l.line("invoice.paid", 30*time.Second)
	if !strings.Contains(line, "200") || !strings.Contains(line, got.Header.Get("webhook-id")) {
		t.Errorf("listen printed %q, want the type, the webhook-id and 200", line)
	}

	// Attempts are recorded under the listener, like any other.
	var ds []deliveryView
	testenv.Eventually(t, 30*time.Second, func() bool {
		var page struct{ Data []deliveryView }
		s.call("GET", "/v1/deliveries?endpoint_id="+id, nil, &page, "X-Hookstream-Tenant", "acme")
		ds = page.Data
		return len(ds) == 1 && ds[0].Status == "succeeded"
	}, "deliveries of the listener: %+v", &ds)
	if ds[0].ID != got.Header.Get("webhook-id") || ds[0].LastStatusCode != 200 {
		t.Errorf("delivery %+v, want %s with 200", ds[0], got.Header.Get("webhook-id"))
	}

	// Only the events it listens to.
	s.publish("order.created", `{"order":1}`, "X-Hookstream-Tenant", "acme")
	s.publish("invoice.voided", `{"invoice":"in_1"}`, "X-Hookstream-Tenant", "acme")
	second := rc.waitRequests(t, 2, 60*time.Second)[1]
	if typ := second.Header.Get("X-Webhook-Event-Type"); typ != "invoice.voided" {
		t.Errorf("second delivery is %q, want invoice.voided (order.created is not listened to)", typ)
	}

	if code := l.interrupt(); code != 0 {
		t.Errorf("listen ended with exit %d on Ctrl-C, want 0; stderr:\n%s", code, l.stderr)
	}
	if !strings.Contains(l.stderr.String(), "Listener "+id+" removed") {
		t.Errorf("listen did not say the listener was removed:\n%s", l.stderr)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		code, _ := s.call("GET", "/v1/endpoints/"+id, nil, nil, "X-Hookstream-Tenant", "acme")
		return code == http.StatusNotFound
	}, "listener %s still exists after Ctrl-C", id)
	// The sink writes history a moment after the delivery (it waits for a
	// batch, at most 200 ms): both deliveries stay once it has.
	var page struct{ Data []deliveryView }
	testenv.Eventually(t, 30*time.Second, func() bool {
		page.Data = nil
		s.call("GET", "/v1/deliveries?endpoint_id="+id, nil, &page, "X-Hookstream-Tenant", "acme")
		return len(page.Data) == 2
	}, "after the listener's removal its history is %+v, want 2 deliveries", &page.Data)
}

func TestListenNeverGetsAnotherTenantsEvents(t *testing.T) {
	s := startSystem(t, nil)
	key := s.tenantKey("acme")
	s.tenantKey("globex")
	rc := newReceiver(t, nil)
	_, _, id := s.listening(key, rc.URL+"/hook")
	// globex has an endpoint of its own for every event: its events are
	// dispatched, and go there only.
	other := newReceiver(t, nil)
	var gep createdEndpoint
	if code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": other.URL + "/hook", "event_types": []string{"*"}},
		&gep, "X-Hookstream-Tenant", "globex"); code != http.StatusCreated {
		t.Fatalf("globex endpoint: %d %s", code, raw)
	}

	gid := s.publish("invoice.paid", `{"from":"globex"}`, "X-Hookstream-Tenant", "globex")
	aid := s.publish("invoice.paid", `{"from":"acme"}`, "X-Hookstream-Tenant", "acme")
	rc.waitRequests(t, 1, 60*time.Second)
	other.waitRequests(t, 1, 60*time.Second)
	// Both recorded: the globex event's deliveries, and the listener's.
	var globex, acme struct{ Data []deliveryView }
	testenv.Eventually(t, 30*time.Second, func() bool {
		s.call("GET", "/v1/deliveries?event_id="+gid, nil, &globex, "X-Hookstream-Tenant", "globex")
		s.call("GET", "/v1/deliveries?endpoint_id="+id, nil, &acme, "X-Hookstream-Tenant", "acme")
		return len(globex.Data) > 0 && len(acme.Data) > 0
	}, "deliveries not recorded")
	if len(globex.Data) != 1 || globex.Data[0].EndpointID != gep.ID {
		t.Errorf("globex's event was delivered to %+v, want its own endpoint %s only", globex.Data, gep.ID)
	}
	if len(acme.Data) != 1 || acme.Data[0].EventID != aid {
		t.Errorf("acme's listener has deliveries %+v, want 1 (its tenant's event)", acme.Data)
	}
	for _, r := range rc.requests() {
		if string(r.Body) != `{"from":"acme"}` {
			t.Errorf("acme's listener got %s", r.Body)
		}
	}
	// Another tenant does not see the listener.
	code, _ := s.call("GET", "/v1/endpoints/"+id, nil, nil, "X-Hookstream-Tenant", "globex")
	if code != http.StatusNotFound {
		t.Errorf("globex GET acme's listener: %d, want 404", code)
	}
}

func TestListenRefusals(t *testing.T) {
	s := startSystem(t, nil)
	code, raw := s.call("GET", "/v1/listen", nil, nil)
	if code != http.StatusUpgradeRequired || !strings.Contains(string(raw), "WebSocket") {
		t.Errorf("GET /v1/listen without an upgrade: %d %s, want 426", code, raw)
	}
	code, raw = s.call("GET", "/v1/listen?events=a.b*", nil, nil)
	if code != http.StatusBadRequest || !strings.Contains(string(raw), `"field":"events"`) {
		t.Errorf("GET /v1/listen?events=a.b*: %d %s, want 400 naming events", code, raw)
	}
	if r := s.hsAs("hsk_wrong", "", "listen", "--forward-to", "http://127.0.0.1:9/hook"); r.code != exitAuth {
		t.Errorf("listen with a wrong key: exit %d, want %d (%s)", r.code, exitAuth, r.stderr)
	}
	if r := s.hs("listen", "--forward-to", "localhost:3000"); r.code != exitUsage {
		t.Errorf("listen --forward-to without a scheme: exit %d, want %d", r.code, exitUsage)
	}
	// The relay takes only hookstream's own token.
	req, _ := http.NewRequest("POST", s.api+"/internal/relay/default/ep_x", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err, "relay")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("relay with the admin token: %d, want 401", resp.StatusCode)
	}
}

func TestListenDeliveredByADelivererInAnotherProcess(t *testing.T) {
	// This process runs the API (and the stream); another, the deliverers.
	s := startSystem(t, map[string]string{"HOOKSTREAM_ROLES": "api,dispatch,sink"})
	cfg := s.cfg
	cfg.Roles = []string{RoleDeliver, RoleRetry}
	cfg.InstanceID = testenv.Name("deliverer")
	cfg.HTTPAddr, cfg.MetricsAddr = "127.0.0.1:0", ""
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan listening, 1)
	go func() { done <- run(ctx, cfg, s.log, func(a listening) { ready <- a }) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("deliverer process: %v", err)
	}

	key := s.tenantKey("acme")
	rc := newReceiver(t, nil)
	_, secret, _ := s.listening(key, rc.URL+"/hook")
	s.publish("invoice.paid", `{"n":1}`, "X-Hookstream-Tenant", "acme")
	got := rc.waitRequests(t, 1, 60*time.Second)[0]
	if !verifies(t, secret, got) {
		t.Error("delivery through the other process's relay does not verify")
	}
}

func TestListenerOfADeadInstanceIsRemoved(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_LISTENER_TIMEOUT": "10s"})
	// A listener whose instance died: its relay answers nowhere, and no
	// one touches it.
	box, err := seal.New(mustKey(t, s.cfg.SecretKey))
	testenv.Must(t, err, "seal")
	db, err := postgres.Open(context.Background(), s.dbURL, box)
	testenv.Must(t, err, "open")
	t.Cleanup(db.Close)
	_, err = db.CreateEndpoint(context.Background(), schema.NewEndpoint{ID: "ep_orphan", Tenant: "default",
		URL: "listen:ep_orphan", DisplayURL: "listen:ep_orphan", EventTypes: []string{"*"},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Timeout: time.Second, RelayURL: "http://127.0.0.1:1"})
	testenv.Must(t, err, "create listener")
	ordinary := s.endpoint("http://127.0.0.1:9/hook", "*")
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	testenv.Must(t, err, "connect")
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `UPDATE endpoints SET listener_seen_at = now() - interval '1 minute' WHERE id = 'ep_orphan'`)
	testenv.Must(t, err, "age the listener")

	testenv.Eventually(t, 30*time.Second, func() bool {
		code, _ := s.call("GET", "/v1/endpoints/ep_orphan", nil, nil)
		return code == http.StatusNotFound
	}, "the orphan listener was not removed")
	if code, _ := s.call("GET", "/v1/endpoints/"+ordinary.ID, nil, nil); code != http.StatusOK {
		t.Errorf("an ordinary endpoint was removed with the orphan listener: %d", code)
	}
}

func mustKey(t *testing.T, s string) []byte {
	k, err := seal.ParseKey(s)
	testenv.Must(t, err, "key")
	return k
}

func TestListenerGuardsStayOnOrdinaryEndpoints(t *testing.T) {
	s := startSystem(t, nil)
	// The relay is on the API's address: the loop guard refuses it as a URL.
	code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": s.api + "/internal/relay/default/ep_x", "event_types": []string{"*"}}, nil)
	if code != http.StatusUnprocessableEntity {
		t.Errorf("endpoint at the relay: %d %s, want 422", code, raw)
	}
	// A listener's URL changed through the API does not take its
	// deliveries anywhere: they still go down the stream.
	key := s.tenantKey("acme")
	rc := newReceiver(t, nil)
	elsewhere := newReceiver(t, nil)
	_, _, id := s.listening(key, rc.URL+"/hook")
	if code, raw := s.call("PATCH", "/v1/endpoints/"+id, map[string]any{"url": elsewhere.URL + "/stolen"}, nil,
		"X-Hookstream-Tenant", "acme"); code != http.StatusOK {
		t.Fatalf("PATCH the listener's url: %d %s", code, raw)
	}
	s.publish("invoice.paid", `{"n":1}`, "X-Hookstream-Tenant", "acme")
	rc.waitRequests(t, 1, 60*time.Second)
	if n := len(elsewhere.requests()); n != 0 {
		t.Errorf("the URL patched onto a listener got %d requests", n)
	}
}

func TestListenerOfAKilledCLIIsRemoved(t *testing.T) {
	s := startSystem(t, nil)
	key := s.tenantKey("acme")
	rc := newReceiver(t, nil)
	l, _, id := s.listening(key, rc.URL+"/hook")
	testenv.Must(t, l.cmd.Process.Kill(), "kill -9") // no goodbye
	testenv.Eventually(t, 60*time.Second, func() bool {
		code, _ := s.call("GET", "/v1/endpoints/"+id, nil, nil, "X-Hookstream-Tenant", "acme")
		return code == http.StatusNotFound
	}, "the listener of a killed CLI is still there")
}

func TestListenReconnectsWithTheSameSecret(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testenv.Must(t, err, "free port")
	addr := ln.Addr().String()
	ln.Close()
	s := startSystem(t, map[string]string{"HOOKSTREAM_HTTP_ADDR": addr})
	key := s.tenantKey("acme")
	rc := newReceiver(t, nil)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo="
	l, printed, first := s.listening(key, rc.URL+"/hook", "--secret", secret)
	if printed != secret {
		t.Fatalf("listen --secret printed %q", printed)
	}
	s.publish("invoice.paid", `{"n":1}`, "X-Hookstream-Tenant", "acme")
	if got := rc.waitRequests(t, 1, 60*time.Second)[0]; !verifies(t, secret, got) {
		t.Error("the first delivery does not verify with --secret")
	}

	s.restart() // the instance holding the stream goes away, and comes back
	l.waitStderr("Reconnected", 90*time.Second)
	if m := regexp.MustCompile(`Reconnected. Listener: (ep_[a-z0-9]+)`).FindStringSubmatch(l.stderr.String()); m == nil || m[1] == first {
		t.Errorf("after reconnecting, listener %v (was %s): want a new one", m, first)
	}
	s.publish("invoice.paid", `{"n":2}`, "X-Hookstream-Tenant", "acme")
	reqs := rc.waitRequests(t, 2, 60*time.Second)
	if !verifies(t, secret, reqs[len(reqs)-1]) {
		t.Error("after reconnecting, deliveries do not verify with the same secret")
	}
	if code := l.interrupt(); code != 0 {
		t.Errorf("listen ended with exit %d on Ctrl-C, want 0", code)
	}
}

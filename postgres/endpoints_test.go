package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

const (
	secretURL  = "https://hookuser:hookpass@receiver.example/hook?token=tok123"
	displayURL = "https://receiver.example/hook?…"
	testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

func newEndpoint(id, tenant string) schema.NewEndpoint {
	return schema.NewEndpoint{
		ID: id, Tenant: tenant, URL: secretURL, DisplayURL: displayURL, Description: "billing",
		EventTypes: []string{"invoice.*", "user.created"}, Headers: map[string]string{"X-Api-Key": "hdrsecret"},
		Secret: testSecret, Timeout: 5 * time.Second,
	}
}

func createEndpoint(t *testing.T, db testDB, ne schema.NewEndpoint) schema.Endpoint {
	t.Helper()
	ep, err := db.CreateEndpoint(context.Background(), ne)
	testenv.Must(t, err, "CreateEndpoint")
	return ep
}

// assertShown checks an endpoint as the API may show it: no URL, no
// secrets, the redacted display URL.
func assertShown(t *testing.T, ep schema.Endpoint, id string) {
	t.Helper()
	if ep.ID != id || ep.Tenant != "default" || ep.DisplayURL != displayURL || ep.Description != "billing" ||
		!slices.Equal(ep.EventTypes, []string{"invoice.*", "user.created"}) || ep.Timeout != 5*time.Second ||
		ep.State != schema.EndpointEnabled || !ep.Enabled() || ep.CreatedAt.IsZero() {
		t.Errorf("endpoint = %+v", ep)
	}
	if ep.URL != "" || len(ep.Secrets) != 0 || len(ep.Headers) != 0 {
		t.Errorf("endpoint %s carries secrets it should not: url %q secrets %d headers %v", ep.ID, ep.URL, len(ep.Secrets), ep.Headers)
	}
}

func TestCreateAndReadEndpoint(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	created := createEndpoint(t, db, newEndpoint("ep_a", "default"))
	assertShown(t, created, "ep_a")

	got, err := db.Endpoint(ctx, "default", "ep_a")
	testenv.Must(t, err, "Endpoint")
	assertShown(t, got, "ep_a")

	send, err := db.SendableEndpoint(ctx, "ep_a")
	testenv.Must(t, err, "SendableEndpoint")
	if send.URL != secretURL || !slices.Equal(send.Secrets, []string{testSecret}) ||
		len(send.Headers) != 1 || send.Headers["X-Api-Key"] != "hdrsecret" {
		t.Errorf("SendableEndpoint = url %q secrets %v headers %v, want them opened", send.URL, send.Secrets, send.Headers)
	}

	all, err := db.SendableEndpoints(ctx)
	testenv.Must(t, err, "SendableEndpoints")
	if len(all) != 1 || all[0].URL != secretURL || !slices.Equal(all[0].Secrets, []string{testSecret}) {
		t.Errorf("SendableEndpoints = %+v, want the one endpoint opened", all)
	}
}

func TestEndpointWithoutHeaders(t *testing.T) {
	db := newTestDB(t)
	ne := newEndpoint("ep_b", "default")
	ne.Headers = nil
	createEndpoint(t, db, ne)
	send, err := db.SendableEndpoint(context.Background(), "ep_b")
	testenv.Must(t, err, "SendableEndpoint")
	if len(send.Headers) != 0 {
		t.Errorf("headers = %v, want none", send.Headers)
	}
	if n := db.count(t, `SELECT count(*) FROM endpoints WHERE headers_enc IS NULL`); n != 1 {
		t.Errorf("endpoints without sealed headers = %d, want 1", n)
	}
}

func TestEndpointSecretsSealedAtRest(t *testing.T) {
	db := newTestDB(t)
	createEndpoint(t, db, newEndpoint("ep_a", "default"))
	var urlEnc, secretEnc, headersEnc []byte
	var display string
	err := db.raw.QueryRow(context.Background(),
		`SELECT url_enc, secret_enc, headers_enc, url_display FROM endpoints WHERE id = 'ep_a'`).
		Scan(&urlEnc, &secretEnc, &headersEnc, &display)
	testenv.Must(t, err, "select sealed columns")
	for col, v := range map[string][]byte{"url_enc": urlEnc, "secret_enc": secretEnc, "headers_enc": headersEnc} {
		if len(v) == 0 {
			t.Errorf("%s is empty", col)
		}
		for _, plain := range []string{secretURL, "hookpass", "tok123", testSecret, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "hdrsecret"} {
			if bytes.Contains(v, []byte(plain)) {
				t.Errorf("%s contains the plaintext %q", col, plain)
			}
		}
	}
	if display != displayURL {
		t.Errorf("url_display = %q, want %q", display, displayURL)
	}
}

func TestEndpointOfAnotherTenantNotFound(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	_, err := db.raw.Exec(ctx, `INSERT INTO tenants (id) VALUES ('other')`)
	testenv.Must(t, err, "insert tenant")
	createEndpoint(t, db, newEndpoint("ep_other", "other"))

	if _, err := db.Endpoint(ctx, "default", "ep_other"); !errors.Is(err, schema.ErrNotFound) {
		t.Errorf("Endpoint(default, other's id) = %v, want ErrNotFound", err)
	}
	if _, err := db.Endpoint(ctx, "default", "ep_missing"); !errors.Is(err, schema.ErrNotFound) {
		t.Errorf("Endpoint(unknown id) = %v, want ErrNotFound", err)
	}
	if _, err := db.SendableEndpoint(ctx, "ep_missing"); !errors.Is(err, schema.ErrNotFound) {
		t.Errorf("SendableEndpoint(unknown id) = %v, want ErrNotFound", err)
	}
	if ep, err := db.Endpoint(ctx, "other", "ep_other"); err != nil || ep.Tenant != "other" {
		t.Errorf("Endpoint(other, ep_other) = %+v, %v", ep, err)
	}
}

func TestEndpointsPagination(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	_, err := db.raw.Exec(ctx, `INSERT INTO tenants (id) VALUES ('other')`)
	testenv.Must(t, err, "insert tenant")
	for _, id := range []string{"ep_3", "ep_1", "ep_5", "ep_2", "ep_4"} {
		createEndpoint(t, db, newEndpoint(id, "default"))
	}
	createEndpoint(t, db, newEndpoint("ep_25", "other"))

	var pages [][]string
	after := ""
	for range 10 {
		eps, err := db.Endpoints(ctx, "default", after, 2)
		testenv.Must(t, err, "Endpoints")
		var ids []string
		for _, ep := range eps {
			assertShown(t, ep, ep.ID)
			ids = append(ids, ep.ID)
		}
		pages = append(pages, ids)
		if len(eps) < 2 {
			break
		}
		after = eps[len(eps)-1].ID
	}
	want := [][]string{{"ep_1", "ep_2"}, {"ep_3", "ep_4"}, {"ep_5"}}
	if fmt.Sprint(pages) != fmt.Sprint(want) {
		t.Errorf("pages = %v, want %v", pages, want)
	}
	if eps, err := db.Endpoints(ctx, "default", "ep_5", 10); err != nil || len(eps) != 0 {
		t.Errorf("Endpoints after the last = %v, %v; want none", eps, err)
	}
}

func TestListenEndpoints(t *testing.T) {
	db := newTestDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	ids := make(chan string, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		db.ListenEndpoints(ctx, func(id string) { ids <- id }, func(err error) { t.Logf("listen: %v", err) })
	})
	t.Cleanup(func() { cancel(); wg.Wait() })

	next := func() string {
		t.Helper()
		select {
		case id := <-ids:
			return id
		case <-time.After(10 * time.Second):
			t.Fatal("no notification from ListenEndpoints")
			return ""
		}
	}
	if id := next(); id != "" {
		t.Fatalf("first call = %q, want \"\" (reload everything)", id)
	}
	createEndpoint(t, db, newEndpoint("ep_new", "default"))
	if id := next(); id != "ep_new" {
		t.Errorf("notified %q, want ep_new", id)
	}
}

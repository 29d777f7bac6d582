package routing_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/routing"
	"github.com/hookstream/hookstream/schema"
	"github.com/hookstream/hookstream/seal"
)

func openDB(t *testing.T) *postgres.DB {
	t.Helper()
	ctx := context.Background()
	box, err := seal.New(make([]byte, seal.KeySize))
	testenv.Must(t, err, "seal")
	db, err := postgres.Open(ctx, testenv.DatabaseURL(t), box)
	testenv.Must(t, err, "open")
	t.Cleanup(db.Close)
	_, err = db.Migrate(ctx)
	testenv.Must(t, err, "migrate")
	return db
}

func create(t *testing.T, db *postgres.DB, id, tenant string, types ...string) {
	t.Helper()
	secret, err := delivery.GenerateSecret()
	testenv.Must(t, err, "secret")
	_, err = db.CreateEndpoint(context.Background(), schema.NewEndpoint{ID: id, Tenant: tenant, URL: "https://user:pw@example.com/" + id,
		DisplayURL: "https://example.com/" + id, EventTypes: types, Secret: secret, Timeout: time.Second})
	testenv.Must(t, err, "create endpoint "+id)
}

func TestTableMatchesAndLooksUp(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	create(t, db, "ep_a", schema.DefaultTenant, "invoice.*")
	create(t, db, "ep_b", schema.DefaultTenant, "*")
	create(t, db, "ep_c", schema.DefaultTenant, "user.created")

	tab := routing.New(db, slog.New(slog.DiscardHandler))
	testenv.Must(t, tab.ReloadAll(ctx), "reload")
	if got := tab.Match(schema.DefaultTenant, "invoice.paid"); !slices.Equal(got, []string{"ep_a", "ep_b"}) {
		t.Errorf("Match(invoice.paid) = %v", got)
	}
	if got := tab.Match("other", "invoice.paid"); len(got) != 0 {
		t.Errorf("another tenant matched %v", got)
	}
	if got := tab.Match(schema.DefaultTenant, "user.created"); !slices.Equal(got, []string{"ep_b", "ep_c"}) {
		t.Errorf("Match(user.created) = %v, want ep_b (*) and ep_c (exact)", got)
	}

	// Endpoints matched by name and by wildcard come back together, once
	// each, in id order; reserved types only match patterns naming them.
	_, err := db.CreateTenant(ctx, "mix", "Mix")
	testenv.Must(t, err, "create tenant")
	create(t, db, "ep_m1", "mix", "order.paid")
	create(t, db, "ep_m2", "mix", "order.*", "order.paid")
	create(t, db, "ep_m3", "mix", "order.paid", "order.paid", "order.refunded")
	create(t, db, "ep_m4", "mix", "*")
	create(t, db, "ep_m5", "mix", "order.refunded")
	create(t, db, "ep_m6", "mix", "hookstream.endpoint.disabled")
	testenv.Must(t, tab.ReloadAll(ctx), "reload")
	for typ, want := range map[string][]string{
		"order.paid":                   {"ep_m1", "ep_m2", "ep_m3", "ep_m4"},
		"order.refunded":               {"ep_m2", "ep_m3", "ep_m4", "ep_m5"},
		"order.paid.late":              {"ep_m2", "ep_m4"},
		"shipment.sent":                {"ep_m4"},
		"hookstream.endpoint.disabled": {"ep_m6"},
	} {
		if got := tab.Match("mix", typ); !slices.Equal(got, want) {
			t.Errorf("Match(mix, %s) = %v, want %v", typ, got, want)
		}
	}

	// Disabled endpoints still match: their deliveries are parked, not lost.
	_, err = db.SetEndpointState(ctx, schema.DefaultTenant, "ep_a", false, "test")
	testenv.Must(t, err, "disable")
	testenv.Must(t, tab.Refresh(ctx, "ep_a"), "refresh")
	if got := tab.Match(schema.DefaultTenant, "invoice.paid"); !slices.Contains(got, "ep_a") {
		t.Errorf("disabled endpoint no longer matches: %v", got)
	}
	r, err := tab.Lookup(ctx, "ep_a")
	testenv.Must(t, err, "lookup")
	if r.Enabled() || r.URL != "https://user:pw@example.com/ep_a" || len(r.Keys(time.Now())) != 1 {
		t.Errorf("route %+v: want disabled, full URL, one key", r.Endpoint)
	}

	// An endpoint created elsewhere is found by Lookup before any notice.
	create(t, db, "ep_d", schema.DefaultTenant, "x.*")
	if r, err := tab.Lookup(ctx, "ep_d"); err != nil || r.ID != "ep_d" {
		t.Errorf("Lookup of an endpoint the table had not heard of: %v, %v", r, err)
	}
	if _, err := tab.Lookup(ctx, "ep_missing"); !errors.Is(err, routing.ErrUnknownEndpoint) {
		t.Errorf("Lookup of a missing endpoint: %v, want ErrUnknownEndpoint", err)
	}
	if n := size(tab); n != 10 {
		t.Errorf("Len = %d, want 10", n)
	}
}

// Run applies the changes Postgres announces, without a reload.
func TestTableFollowsNotifications(t *testing.T) {
	db := openDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	tab := routing.New(db, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() { tab.Run(ctx, db.ListenEndpoints, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()

	create(t, db, "ep_n", schema.DefaultTenant, "order.*")
	testenv.Eventually(t, 10*time.Second, func() bool {
		return slices.Equal(tab.Match(schema.DefaultTenant, "order.placed"), []string{"ep_n"})
	}, "table did not learn of a new endpoint")
	_, err := db.SetEndpointState(ctx, schema.DefaultTenant, "ep_n", false, "test")
	testenv.Must(t, err, "disable")
	testenv.Eventually(t, 10*time.Second, func() bool {
		r, err := tab.Lookup(ctx, "ep_n")
		return err == nil && !r.Enabled()
	}, "table did not learn the endpoint was disabled")
}

// pausingLoader is the Postgres store with a pause: a full reload reads the
// endpoints, then waits for the test before it hands them to the table.
type pausingLoader struct {
	*postgres.DB
	read, resume chan struct{}
}

func (l *pausingLoader) SendableEndpoints(ctx context.Context) ([]schema.Endpoint, error) {
	eps, err := l.DB.SendableEndpoints(ctx)
	l.read <- struct{}{}
	<-l.resume
	return eps, err
}

// A full reload does not undo the changes the table applied while it ran:
// an endpoint deleted meanwhile stays gone, a rotated secret stays rotated,
// and an endpoint created meanwhile stays known.
func TestReloadKeepsChangesMadeDuringIt(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	create(t, db, "ep_del", schema.DefaultTenant, "order.*")
	create(t, db, "ep_rot", schema.DefaultTenant, "order.*")
	loader := &pausingLoader{DB: db, read: make(chan struct{}), resume: make(chan struct{})}
	tab := routing.New(loader, slog.New(slog.DiscardHandler))
	go func() { <-loader.read; loader.resume <- struct{}{} }()
	testenv.Must(t, tab.ReloadAll(ctx), "first reload")

	reloaded := make(chan error, 1)
	go func() { reloaded <- tab.ReloadAll(ctx) }()
	<-loader.read // the reload holds the endpoints as they were

	testenv.Must(t, db.DeleteEndpoint(ctx, schema.DefaultTenant, "ep_del"), "delete")
	testenv.Must(t, tab.Refresh(ctx, "ep_del"), "refresh deleted")
	secret, err := delivery.GenerateSecret()
	testenv.Must(t, err, "secret")
	_, err = db.RotateSecret(ctx, schema.DefaultTenant, "ep_rot", secret, "", 0)
	testenv.Must(t, err, "rotate")
	testenv.Must(t, tab.Refresh(ctx, "ep_rot"), "refresh rotated")
	create(t, db, "ep_new", schema.DefaultTenant, "order.*")
	testenv.Must(t, tab.Refresh(ctx, "ep_new"), "refresh created")

	loader.resume <- struct{}{}
	testenv.Must(t, <-reloaded, "reload")

	if got := tab.Match(schema.DefaultTenant, "order.placed"); !slices.Equal(got, []string{"ep_new", "ep_rot"}) {
		t.Errorf("after the reload Match = %v, want [ep_new ep_rot]: the deleted endpoint gone, the new one kept", got)
	}
	want, err := delivery.ParseSecret(secret)
	testenv.Must(t, err, "parse secret")
	r, err := tab.Lookup(ctx, "ep_rot")
	testenv.Must(t, err, "lookup")
	sig := func(k delivery.Key) string { return delivery.Sign("msg", time.Unix(0, 0), nil, k) }
	if keys := r.Keys(time.Now()); len(keys) != 1 || sig(keys[0]) != sig(delivery.HMACKey(want)) {
		t.Errorf("after the reload ep_rot signs with %d keys, not the rotated secret alone", len(keys))
	}

	// The next reload, with nothing happening meanwhile, reads everything
	// afresh.
	go func() { <-loader.read; loader.resume <- struct{}{} }()
	testenv.Must(t, tab.ReloadAll(ctx), "reload")
	if n := size(tab); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
}

// size is how many endpoints the table holds, enabled or not.
func size(tab *routing.Table) int {
	n := 0
	for _, c := range tab.Counts() {
		n += c
	}
	return n
}

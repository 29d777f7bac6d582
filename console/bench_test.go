package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The pages an operator opens most, on a table of a million deliveries
// (and as many attempts): server time per page, measured through HTTP
// with the store on the test's Postgres.
//
//	go test ./console -run '^$' -bench . -benchtime 200x
func BenchmarkPages(b *testing.B) {
	s := newSite(b, false)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	// 1M deliveries of tenant "big", on 20 endpoints, 4 event types and
	// every status, one attempt each; and a small tenant beside it.
	for _, q := range []string{
		`INSERT INTO tenants (id, name) VALUES ('big', 'Big')`,
		`INSERT INTO endpoints (id, tenant, url_enc, url_display, event_types, secret_enc, timeout_ms)
			SELECT 'ep_big' || i, 'big', '\x00', 'https://example.com/' || i, '{*}', '\x00', 1000 FROM generate_series(0, 19) i`,
		`INSERT INTO deliveries (id, tenant, endpoint_id, event_id, event_type, status, attempts, last_status_code, created_at, updated_at)
			SELECT 'msg_' || i, 'big', 'ep_big' || (i % 20), 'evt_' || i, 'type.' || (i % 4),
				(ARRAY['succeeded','succeeded','succeeded','retrying','dead','parked'])[1 + i % 6], 1, 200,
				now() - (i || ' seconds')::interval, now()
			FROM generate_series(1, 1000000) i`,
		`INSERT INTO attempts (delivery_id, attempt, tenant, endpoint_id, outcome, status_code, latency_us, attempted_at)
			SELECT 'msg_' || i, 1, 'big', 'ep_big' || (i % 20), CASE WHEN i % 6 < 3 THEN 'succeeded' ELSE 'retrying' END,
				200, 1000 + i % 5000, now() - (i || ' seconds')::interval
			FROM generate_series(1, 1000000) i`,
		`VACUUM ANALYZE`, // as autovacuum would have, after a million rows
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	br := s.browser(b)
	br.login()
	for _, bc := range []struct{ name, path string }{
		{"deliveries", "/console/t/big/deliveries"},
		{"deliveries-of-endpoint", "/console/t/big/deliveries?endpoint=ep_big7"},
		{"deliveries-dead", "/console/t/big/deliveries?status=dead"},
		{"deliveries-type", "/console/t/big/deliveries?type=type.3"},
		{"deliveries-older", "/console/t/big/deliveries?before_at=" + url.QueryEscape(time.Now().Add(-500000*time.Second).UTC().Format(time.RFC3339Nano)) + "&before_id=msg_500000"},
		{"endpoints-with-health", "/console/t/big/"},
		{"delivery", "/console/t/big/deliveries/msg_500000"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				p := br.get(bc.path)
				if p.status != http.StatusOK || !strings.Contains(p.body, "</html>") {
					b.Fatalf("GET %s: %d", bc.path, p.status)
				}
			}
		})
	}
}

package console_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/console"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/schema"
	"github.com/hookstream/hookstream/seal"
)

const adminToken = "console-test-admin-token"

// site is the console and the API in front of a fresh database, served as
// cmd/hookstream serves them.
type site struct {
	url     string
	dbURL   string
	db      *postgres.DB
	console *console.Server
}

func newSite(t testing.TB, secure bool) *site {
	t.Helper()
	ctx := context.Background()
	box, err := seal.New(make([]byte, 32))
	testenv.Must(t, err, "seal")
	dbURL := testenv.DatabaseURL(t)
	db, err := postgres.Open(ctx, dbURL, box)
	testenv.Must(t, err, "postgres")
	t.Cleanup(db.Close)
	_, err = db.Migrate(ctx)
	testenv.Must(t, err, "migrate")
	// The tasks the API queues (a skip's released delivery, a retry) go
	// to a real deliveries topic (kfake, or HOOKSTREAM_KAFKA_BROKERS).
	brokers := testenv.Brokers(t)
	topics := pipeline.Topics{Prefix: testenv.Name("console-") + "."}
	tasks, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	testenv.Must(t, err, "task client")
	t.Cleanup(tasks.Close)
	resp, err := kadm.NewClient(tasks).CreateTopic(ctx, 1, 1, nil, topics.Deliveries())
	testenv.Must(t, err, "create topic")
	testenv.Must(t, resp.Err, "create topic")
	testenv.WaitTopics(t, brokers, topics.Deliveries())
	c := &console.Server{Store: db, Sessions: db, AdminToken: adminToken, Secure: secure, Log: slog.New(slog.DiscardHandler)}
	a := &api.Server{Store: db, AdminToken: adminToken, Portals: c, Log: slog.New(slog.DiscardHandler),
		Tasks: &pipeline.Queue{Client: tasks, Topics: topics},
		Guard: delivery.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	c.API = a.Handler()
	mux := http.NewServeMux()
	pages := c.Handler()
	mux.Handle("/console/", pages)
	mux.Handle("/portal/", pages)
	mux.Handle("/", c.API)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &site{url: srv.URL, dbURL: dbURL, db: db, console: c}
}

// browser is an HTTP client with its own cookies that does not follow
// redirects.
type browser struct {
	t    testing.TB
	site *site
	c    *http.Client
}

func (s *site) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, site: s, c: &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, headers ...string) page {
	b.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.site.url+path, rd)
	testenv.Must(b.t, err, "request")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.c.Do(req)
	testenv.Must(b.t, err, method+" "+path)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do("GET", path, nil) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the forms of a page.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	p := b.get(path)
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("GET %s (%d): no CSRF field in\n%s", path, p.status, p.body)
	}
	return m[1]
}

func (b *browser) login() {
	b.t.Helper()
	if p := b.do("POST", "/console/login", url.Values{"token": {adminToken}}); p.status != http.StatusSeeOther {
		b.t.Fatalf("login: %d %s", p.status, p.body)
	}
}

// portal opens a portal session of tenant in the browser and returns its id.
func (b *browser) portal(tenant string, ttl time.Duration) string {
	b.t.Helper()
	ps, path, err := b.site.console.CreateSession(context.Background(), tenant, ttl)
	testenv.Must(b.t, err, "portal session")
	if p := b.get(path); p.status != http.StatusSeeOther {
		b.t.Fatalf("open portal: %d %s", p.status, p.body)
	}
	return ps.ID
}

func TestOperatorSession(t *testing.T) {
	s := newSite(t, false)
	b := s.browser(t)
	if p := b.get("/console/t/default/deliveries?status=dead"); p.status != http.StatusSeeOther ||
		p.header.Get("Location") != "/console/login?next="+url.QueryEscape("/console/t/default/deliveries?status=dead") {
		t.Errorf("a page without a session: %d to %q, want 303 to the login", p.status, p.header.Get("Location"))
	}
	// Signed in, the operator goes on to the page asked for: one of the
	// console's, never another site.
	for next, want := range map[string]string{"/console/t/default/deliveries?status=dead": "/console/t/default/deliveries?status=dead",
		"//evil.example/console/": "/console/", "https://evil.example/": "/console/", "/console/\\evil": "/console/"} {
		other := s.browser(t)
		p := other.do("POST", "/console/login", url.Values{"token": {adminToken}, "next": {next}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != want {
			t.Errorf("signing in with next=%q: %d to %q, want %q", next, p.status, p.header.Get("Location"), want)
		}
	}
	if p := b.do("POST", "/console/login", url.Values{"token": {"wrong"}}); p.status != http.StatusUnauthorized ||
		!strings.Contains(p.body, "not the admin token") {
		t.Errorf("a wrong token: %d", p.status)
	}
	p := b.do("POST", "/console/login", url.Values{"token": {adminToken}})
	cookie := p.header.Get("Set-Cookie")
	for _, want := range []string{"hookstream_console=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, adminToken) || strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie %q carries the token, or is Secure over plain HTTP", cookie)
	}
	p = b.get("/console/")
	if p.status != http.StatusOK || !strings.Contains(p.body, `href="/console/t/default/"`) {
		t.Fatalf("GET /console/ signed in: %d", p.status)
	}
	csp := p.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("Cache-Control") != "no-store" ||
		p.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers: %v", p.header)
	}

	// Another admin token's key does not verify the cookie.
	other := &console.Server{Store: s.db, Sessions: s.db, AdminToken: "another", API: s.console.API}
	srv := httptest.NewServer(other.Handler())
	defer srv.Close()
	u, _ := url.Parse(s.url)
	req, _ := http.NewRequest("GET", srv.URL+"/console/", nil)
	for _, c := range b.c.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	resp, err := b.c.Do(req)
	testenv.Must(t, err, "other console")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a cookie of another admin token opened the console: %d", resp.StatusCode)
	}

	// Signing out ends the session.
	b.do("POST", "/console/logout", url.Values{"csrf": {b.csrf("/console/")}})
	if p := b.get("/console/"); p.status != http.StatusSeeOther {
		t.Errorf("after signing out: %d", p.status)
	}
}

func TestSecureCookies(t *testing.T) {
	s := newSite(t, true)
	b := s.browser(t)
	p := b.do("POST", "/console/login", url.Values{"token": {adminToken}})
	if c := p.header.Get("Set-Cookie"); !strings.HasPrefix(c, "__Host-hookstream_console=") || !strings.Contains(c, "; Secure") {
		t.Errorf("over TLS, the session cookie is %q", c)
	}
	_, path, err := s.console.CreateSession(context.Background(), schema.DefaultTenant, time.Hour)
	testenv.Must(t, err, "portal session")
	p = b.get(path)
	c := p.header.Get("Set-Cookie")
	for _, want := range []string{"__Host-hookstream_portal=", "Secure", "HttpOnly", "SameSite=None", "Partitioned"} {
		if !strings.Contains(c, want) {
			t.Errorf("over TLS, the portal cookie %q lacks %s (it must work in the frame of a tenant's page)", c, want)
		}
	}
}

func TestCSRF(t *testing.T) {
	s := newSite(t, false)
	b := s.browser(t)
	b.login()
	form := url.Values{"id": {"acme"}, "name": {"Acme"}}
	if p := b.do("POST", "/console/tenants", form); p.status != http.StatusForbidden {
		t.Errorf("a form without its CSRF token: %d, want 403", p.status)
	}
	form.Set("csrf", "forged")
	if p := b.do("POST", "/console/tenants", form); p.status != http.StatusForbidden {
		t.Errorf("a form with a forged CSRF token: %d, want 403", p.status)
	}
	form.Set("csrf", b.csrf("/console/"))
	if p := b.do("POST", "/console/tenants", form, "Sec-Fetch-Site", "cross-site"); p.status != http.StatusForbidden {
		t.Errorf("a cross-site POST with the right token: %d, want 403", p.status)
	}
	if p := b.do("POST", "/console/tenants", form, "Origin", "https://evil.example"); p.status != http.StatusForbidden {
		t.Errorf("a POST from another origin: %d, want 403", p.status)
	}
	if _, err := s.db.Tenant(context.Background(), "acme"); err == nil {
		t.Fatal("a refused form created the tenant")
	}
	if p := b.do("POST", "/console/tenants", form); p.status != http.StatusSeeOther {
		t.Errorf("the form with its token: %d %s", p.status, p.body)
	}
	if _, err := s.db.Tenant(context.Background(), "acme"); err != nil {
		t.Errorf("the tenant was not created: %v", err)
	}
}

// endpointOf creates an endpoint of a tenant in the store.
func endpointOf(t *testing.T, s *site, tenant string) string {
	t.Helper()
	ctx := context.Background()
	if tenant != schema.DefaultTenant {
		_, err := s.db.CreateTenant(ctx, tenant, tenant)
		testenv.Must(t, err, "tenant")
	}
	ep, err := s.db.CreateEndpoint(ctx, schema.NewEndpoint{ID: schema.NewID("ep_"), Tenant: tenant,
		URL: "http://127.0.0.1:9/" + tenant, DisplayURL: "http://127.0.0.1:9/" + tenant, Description: "endpoint of " + tenant,
		EventTypes: []string{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Timeout: time.Second})
	testenv.Must(t, err, "endpoint")
	return ep.ID
}

func TestPortalIsolation(t *testing.T) {
	s := newSite(t, false)
	epA, epB := endpointOf(t, s, "acme"), endpointOf(t, s, "globex")
	b := s.browser(t)
	b.portal("acme", time.Hour)

	home := b.get("/portal/")
	if home.status != http.StatusOK || !strings.Contains(home.body, epA) || strings.Contains(home.body, epB) {
		t.Fatalf("acme's portal home (%d) lists %s and not %s? %s", home.status, epA, epB, home.body)
	}
	for _, path := range []string{"/portal/endpoints/" + epB, "/portal/endpoints/" + epB + "?tenant=globex",
		"/portal/endpoints/" + url.PathEscape("../t/globex/endpoints/"+epB)} {
		if p := b.get(path); p.status != http.StatusNotFound || strings.Contains(p.body, "globex") {
			t.Errorf("GET %s from acme's portal: %d", path, p.status)
		}
	}
	if p := b.get("/portal/deliveries?endpoint=" + epB); strings.Contains(p.body, "endpoint of globex") {
		t.Errorf("acme's deliveries search shows globex's endpoint")
	}
	if p := b.get("/console/t/globex/"); p.status != http.StatusSeeOther {
		t.Errorf("the operator's page of globex with a portal cookie: %d, want 303 to the login", p.status)
	}
	csrf := b.csrf("/portal/")
	for _, action := range []string{"disable", "delete", "rotate"} {
		if p := b.do("POST", "/portal/endpoints/"+epB+"/"+action, url.Values{"csrf": {csrf}}); p.status != http.StatusNotFound {
			t.Errorf("POST %s of globex's endpoint from acme's portal: %d", action, p.status)
		}
	}
	if p := b.do("POST", "/portal/endpoints/"+epB, url.Values{"csrf": {csrf}, "description": {"hacked"},
		"event_types": {"*"}}); p.status != http.StatusNotFound {
		t.Errorf("editing globex's endpoint from acme's portal: %d", p.status)
	}
	ep, err := s.db.Endpoint(context.Background(), "globex", epB)
	testenv.Must(t, err, "globex's endpoint")
	if ep.State != schema.EndpointEnabled || ep.Description != "endpoint of globex" {
		t.Errorf("globex's endpoint after acme's attempts: %+v", ep)
	}
	// Its own endpoint it may change.
	if p := b.do("POST", "/portal/endpoints/"+epA+"/disable", url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther {
		t.Errorf("disabling its own endpoint: %d %s", p.status, p.body)
	}
}

func TestPortalSessionEnds(t *testing.T) {
	s := newSite(t, false)
	b := s.browser(t)
	id := b.portal(schema.DefaultTenant, time.Hour)
	if p := b.get("/portal/"); p.status != http.StatusOK {
		t.Fatalf("portal: %d", p.status)
	}
	// Expired: the console's clock passes the end.
	s.console.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if p := b.get("/portal/"); p.status != http.StatusUnauthorized {
		t.Errorf("an expired session: %d, want 401", p.status)
	}
	s.console.Now = time.Now
	_, err := s.console.RevokeSession(context.Background(), schema.DefaultTenant, id)
	testenv.Must(t, err, "revoke")
	if p := b.get("/portal/"); p.status != http.StatusUnauthorized {
		t.Errorf("a revoked session: %d, want 401", p.status)
	}
	for _, token := range []string{"", "hsp_", "hsp_x_y", "hsk_abc_def", strings.Repeat("a", 5000)} {
		if p := b.get("/portal/start?token=" + url.QueryEscape(token)); p.status != http.StatusUnauthorized {
			t.Errorf("token %.20q: %d, want 401", token, p.status)
		}
	}
}

func TestPortalFrameAncestors(t *testing.T) {
	s := newSite(t, false)
	endpointOf(t, s, "acme")
	op := s.browser(t)
	op.login()
	csrf := op.csrf("/console/t/acme/")
	for _, bad := range []string{"https://app.example.com; script-src *", "javascript:alert(1)", "https://a.example/path", "*", "'self'"} {
		if p := op.do("POST", "/console/t/acme/settings", url.Values{"csrf": {csrf}, "frame_ancestors": {bad}}); p.status != http.StatusUnprocessableEntity {
			t.Errorf("origin %q: %d, want 422", bad, p.status)
		}
	}
	if p := op.do("POST", "/console/t/acme/settings", url.Values{"csrf": {csrf},
		"frame_ancestors": {"https://app.example.com http://localhost:3000"}}); p.status != http.StatusSeeOther {
		t.Fatalf("saving the origins: %d %s", p.status, p.body)
	}
	b := s.browser(t)
	b.portal("acme", time.Hour)
	p := b.get("/portal/")
	if csp := p.header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors https://app.example.com http://localhost:3000") ||
		p.header.Get("X-Frame-Options") != "" {
		t.Errorf("acme's portal: CSP %q, X-Frame-Options %q", csp, p.header.Get("X-Frame-Options"))
	}
	// Another tenant's portal, and the console, stay unframeable.
	endpointOf(t, s, "globex")
	g := s.browser(t)
	g.portal("globex", time.Hour)
	if csp := g.get("/portal/").header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'none'") {
		t.Errorf("globex's portal: CSP %q", csp)
	}
	if csp := op.get("/console/t/acme/").header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'none'") {
		t.Errorf("the console: CSP %q", csp)
	}
}

var (
	olderLink = regexp.MustCompile(`id="older" href="([^"]+)"`)
	liveLink  = regexp.MustCompile(`hx-get="([^"]+)"`)
	// deliveryRow is a row of a deliveries table.
	deliveryRow = regexp.MustCompile(`<tr class="delivery"[^>]*>`)
)

func TestDeliveriesSearchAndPages(t *testing.T) {
	s := newSite(t, false)
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	testenv.Must(t, err, "connect")
	defer conn.Close(context.Background())
	// 70 deliveries of ep_a: 60 dead, 10 succeeded; 5 of ep_b.
	_, err = conn.Exec(context.Background(), `
		INSERT INTO deliveries (id, tenant, endpoint_id, event_id, event_type, status, attempts, created_at, updated_at)
		SELECT 'msg_' || i, 'default', CASE WHEN i <= 70 THEN 'ep_a' ELSE 'ep_b' END, 'evt_' || i, 'order.paid',
			CASE WHEN i <= 60 THEN 'dead' ELSE 'succeeded' END, 1, now() - (i || ' seconds')::interval, now()
		FROM generate_series(1, 75) i`)
	testenv.Must(t, err, "seed")
	b := s.browser(t)
	b.login()
	rows := func(p page) int { return strings.Count(p.body, `<tr class="delivery"`) }

	first := b.get("/console/t/default/deliveries?endpoint=ep_a&status=dead&type=order.paid")
	if rows(first) != 50 {
		t.Fatalf("first page: %d rows, want 50", rows(first))
	}
	live := liveLink.FindStringSubmatch(first.body)
	if live == nil || html.UnescapeString(live[1]) != "/console/t/default/deliveries?endpoint=ep_a&status=dead&type=order.paid" {
		t.Errorf("the first page refreshes itself from %q, want the same search", live)
	}
	older := olderLink.FindStringSubmatch(first.body)
	if older == nil {
		t.Fatal("no link to older deliveries")
	}
	second := b.get(html.UnescapeString(older[1]))
	if second.status != http.StatusOK || rows(second) != 10 || strings.Contains(second.body, `id="older"`) ||
		strings.Contains(second.body, "hx-get") {
		t.Errorf("second page (%s): %d, %d rows", older[1], second.status, rows(second))
	}
	if p := b.get("/console/t/default/deliveries?endpoint=ep_b"); rows(p) != 5 {
		t.Errorf("ep_b: %d rows, want 5", rows(p))
	}
	if p := b.get("/console/t/default/deliveries?since=yesterday"); p.status != http.StatusBadRequest {
		t.Errorf("a bad time: %d, want 400", p.status)
	}
	recent := b.get("/console/t/default/deliveries?since=" + url.QueryEscape(time.Now().UTC().Add(-30*time.Second).Format("2006-01-02T15:04:05")))
	if n := rows(recent); n < 20 || n > 30 {
		t.Errorf("the last 30 s: %d rows", n)
	}
}

func TestDeliveriesOfEveryTenant(t *testing.T) {
	s := newSite(t, false)
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	testenv.Must(t, err, "connect")
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `
		INSERT INTO tenants (id, name) VALUES ('acme', 'Acme');
		INSERT INTO deliveries (id, tenant, endpoint_id, event_id, event_type, status, attempts, created_at, updated_at)
		SELECT 'msg_' || i, CASE WHEN i % 2 = 0 THEN 'acme' ELSE 'default' END, 'ep_' || i, 'evt_' || i, 'order.paid',
			CASE WHEN i <= 3 THEN 'dead' ELSE 'succeeded' END, 1, now() - (i || ' seconds')::interval, now()
		FROM generate_series(1, 6) i`)
	testenv.Must(t, err, "seed")
	b := s.browser(t)
	b.login()
	rows := func(p page) []string { return deliveryRow.FindAllString(p.body, -1) }

	all := b.get("/console/deliveries")
	if got := rows(all); all.status != http.StatusOK || len(got) != 6 {
		t.Fatalf("every tenant: %d, %d rows, want 6", all.status, len(got))
	}
	for _, want := range []string{`href="/console/t/acme/deliveries/msg_2"`, `href="/console/t/default/deliveries/msg_1"`,
		`href="/console/t/acme/endpoints/ep_4"`, `data-tenant="acme"`, `data-tenant="default"`} {
		if !strings.Contains(all.body, want) {
			t.Errorf("the search of every tenant has no %s", want)
		}
	}
	acme := b.get("/console/deliveries?tenant=acme&status=dead")
	if got := rows(acme); len(got) != 1 || !strings.Contains(acme.body, `href="/console/t/acme/deliveries/msg_2"`) {
		t.Errorf("acme's dead deliveries: %q, want msg_2 only", got)
	}
	if live := liveLink.FindStringSubmatch(acme.body); live == nil || html.UnescapeString(live[1]) != "/console/deliveries?status=dead&tenant=acme" {
		t.Errorf("the page refreshes itself from %q, want the same search", live)
	}

	// A portal session is no operator: the search of every tenant is not
	// its to see.
	p := s.browser(t)
	p.portal("acme", time.Hour)
	if page := p.get("/console/deliveries"); len(rows(page)) != 0 || strings.Contains(page.body, "msg_") {
		t.Errorf("a portal session reached the search of every tenant: %d, %d rows", page.status, len(rows(page)))
	}
}

// The catalog in the portal and the console: a tenant's customers see its
// own types and the shared ones, with schemas (escaped), never another
// tenant's.
func TestEventTypesPage(t *testing.T) {
	s := newSite(t, false)
	ctx := context.Background()
	endpointOf(t, s, "acme")
	endpointOf(t, s, "globex")
	for _, et := range []schema.EventType{
		{Tenant: "acme", Name: "invoice.paid", Description: "Paid <b>in full</b>", Schema: []byte(`{"type":"object","title":"<script>x</script>"}`),
			Example: []byte(`{"invoice":"in_1"}`), Validate: true},
		{Tenant: schema.SharedTenant, Name: "user.created", Description: "Everyone's", Deprecated: true},
		{Tenant: "globex", Name: "globex.secret", Description: "globex only"},
	} {
		_, err := s.db.CreateEventType(ctx, et, 0)
		testenv.Must(t, err, "event type "+et.Name)
	}
	b := s.browser(t)
	b.portal("acme", time.Hour)
	p := b.get("/portal/event-types")
	for _, want := range []string{"invoice.paid", "Paid &lt;b&gt;in full&lt;/b&gt;", "&lt;script&gt;", "user.created", "deprecated", "shared", "validated", "in_1"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("acme's portal catalog (%d) lacks %q", p.status, want)
		}
	}
	if strings.Contains(p.body, "globex") || strings.Contains(p.body, "<script>x") {
		t.Errorf("acme's portal catalog shows globex's type or unescaped input:\n%s", p.body)
	}
	op := s.browser(t)
	op.login()
	if p := op.get("/console/t/globex/event-types"); p.status != http.StatusOK || !strings.Contains(p.body, "globex.secret") ||
		strings.Contains(p.body, "invoice.paid") || !strings.Contains(p.body, "user.created") {
		t.Errorf("the operator's page of globex's catalog (%d):\n%s", p.status, p.body)
	}
}

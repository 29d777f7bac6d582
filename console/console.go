// Package console serves hookstream's web console for operators (/console,
// opened with the admin token) and each tenant's portal for its customers
// (/portal, opened with a short-lived portal session): HTML rendered on the
// server from Go templates, kept live by htmx, every asset embedded in the
// binary.
//
// It reads what it shows from Postgres (Store) and makes every change
// through the API's own handler in the same process, as the admin acting
// on the page's tenant: the API's rules (validation, the SSRF guard,
// limits, secrets shown once) hold in the console unchanged. A portal
// page's tenant comes from its session, never from the URL: whatever ids
// are typed into it, the store and the API answer for that tenant alone.
//
// Sessions are cookies (HttpOnly, SameSite, Secure over TLS); every form
// carries a CSRF token bound to the session, and cross-origin POSTs are
// refused before that. Pages are served under a strict Content-Security-
// Policy: no inline script or style, no frames but a portal's, only in the
// pages of the origins its tenant allows. Operator sessions are not stored:
// an operator's cookie is signed with a key derived from the admin token,
// so changing the token ends them all. Portal sessions are stored (hashed)
// and can be revoked.
//
// It does not serve the JSON API, nor draw anything but this process's own
// metrics: in a deployment of several instances, each console shows the
// numbers of the instance that serves it.
package console

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/schema"
)

// Store is what the console reads in Postgres. Every method but Tenants
// takes the tenant whose data it returns.
type Store interface {
	Tenants(ctx context.Context, after string, limit int) ([]schema.Tenant, error)
	Tenant(ctx context.Context, id string) (schema.Tenant, error)
	Endpoints(ctx context.Context, tenant, after string, limit int) ([]schema.Endpoint, error)
	Endpoint(ctx context.Context, tenant, id string) (schema.Endpoint, error)
	EndpointStats(ctx context.Context, tenant string, ids []string, since time.Time) (map[string]schema.EndpointStats, error)
	Deliveries(ctx context.Context, f schema.DeliveryFilter) ([]schema.Delivery, error)
	Attempts(ctx context.Context, tenant, deliveryID string) ([]schema.AttemptRecord, error)
	StoredEvent(ctx context.Context, tenant, id string) (schema.StoredEvent, error)
	Job(ctx context.Context, tenant, id string) (schema.Job, error)
	PortalFrameAncestors(ctx context.Context, tenant string) ([]string, error)
	EventTypes(ctx context.Context, tenant, after string, limit int) ([]schema.EventType, error)
	HaltedKeys(ctx context.Context, tenant, endpointID string, limit int) ([]schema.HaltedKey, error)
}

// SessionStore keeps the portal sessions, by the hash of their tokens.
type SessionStore interface {
	CreatePortalSession(ctx context.Context, id, tenant string, hash []byte, expires time.Time) (schema.PortalSession, error)
	PortalSession(ctx context.Context, id string) (schema.PortalSession, error)
	RevokePortalSession(ctx context.Context, tenant, id string) (schema.PortalSession, error)
}

// Server serves the console and the portals. Set its fields, then call
// Handler (and Run in a goroutine, for the live charts).
type Server struct {
	Store    Store
	Sessions SessionStore
	// API is the API's handler: the console makes every change through
	// it, with AdminToken.
	API        http.Handler
	AdminToken string
	// Metrics is this process's registry, which the live charts read;
	// nil leaves them empty.
	Metrics prometheus.Gatherer
	// Peers, when set (host:port, e.g. a headless Service's name and the
	// metrics port), makes the live charts draw every instance the name
	// resolves to, scraped at /metrics, instead of Metrics alone.
	Peers string
	// Secure marks cookies Secure (they are over TLS in any case): set it
	// when hookstream is reached over https, through a proxy too.
	Secure bool
	// OperatorTTL is how long an operator stays signed in (default 12h).
	OperatorTTL time.Duration
	Log         *slog.Logger
	// Now is the console's clock (default time.Now).
	Now func() time.Time

	once  sync.Once
	key   []byte // signs operator sessions
	pages map[string]*template.Template
	live  *sampler
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

func (s *Server) init() {
	s.once.Do(func() {
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.OperatorTTL == 0 {
			s.OperatorTTL = 12 * time.Hour
		}
		s.key = operatorKey(s.AdminToken)
		s.pages = parsePages()
		g := s.Metrics
		if s.Peers != "" {
			p, err := newPeers(s.Peers)
			if err != nil {
				s.Log.Error("live charts: this instance's figures only", "err", err)
			} else {
				g = p
			}
		}
		s.live = newSampler(g, s.Now)
	})
}

// Run samples the metrics for the live charts every interval (default
// 5s) until ctx ends.
func (s *Server) Run(ctx context.Context, interval time.Duration) {
	s.init()
	if interval <= 0 {
		interval = 5 * time.Second
	}
	s.live.sample()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.live.sample()
		}
	}
}

// Handler returns the routes of the console (/console/…) and of the
// portals (/portal/…).
func (s *Server) Handler() http.Handler {
	s.init()
	mux := http.NewServeMux()
	assets, _ := fs.Sub(assetFS, "assets")
	mux.Handle("GET /console/assets/", http.StripPrefix("/console/assets/", assetHandler(assets)))

	mux.HandleFunc("GET /console/login", s.loginPage)
	mux.HandleFunc("POST /console/login", s.login)
	mux.HandleFunc("POST /console/logout", s.logout)
	mux.Handle("GET /console/{$}", s.operator(s.tenantsPage))
	mux.Handle("POST /console/tenants", s.operator(s.createTenant))
	mux.Handle("GET /console/live", s.operator(s.livePage))
	mux.Handle("GET /console/deliveries", s.operator(func(w http.ResponseWriter, r *http.Request, sc scope) {
		sc.Base = "/console"
		s.deliveriesPage(w, r, sc)
	}))
	mux.Handle("GET /console/quarantine", s.operator(s.quarantinePage))
	mux.Handle("POST /console/quarantine/{id}/redrive", s.operator(s.redrive))
	mux.Handle("POST /console/t/{tenant}/settings", s.operatorTenant(s.saveSettings))
	mux.Handle("POST /console/t/{tenant}/portal", s.operatorTenant(s.openPortal))
	s.tenantRoutes(mux, "/console/t/{tenant}", s.operatorTenant)

	mux.HandleFunc("GET /portal/start", s.portalStart)
	s.tenantRoutes(mux, "/portal", s.portalTenant)
	mux.HandleFunc("/console/", s.notFound)
	mux.HandleFunc("/portal/", s.notFound)
	return protect(mux)
}

// tenantRoutes registers the pages of one tenant under prefix, each
// wrapped to know its tenant: the operator's (from the path) or a
// portal's (from its session).
func (s *Server) tenantRoutes(mux *http.ServeMux, prefix string, wrap func(tenantHandler) http.Handler) {
	mux.Handle("GET "+prefix+"/{$}", wrap(s.endpointsPage))
	mux.Handle("POST "+prefix+"/endpoints", wrap(s.createEndpoint))
	mux.Handle("GET "+prefix+"/endpoints/{id}", wrap(s.endpointPage))
	mux.Handle("POST "+prefix+"/endpoints/{id}", wrap(s.updateEndpoint))
	mux.Handle("POST "+prefix+"/endpoints/{id}/{action}", wrap(s.endpointAction))
	mux.Handle("GET "+prefix+"/endpoints/{id}/halted", wrap(s.haltedPage))
	mux.Handle("POST "+prefix+"/endpoints/{id}/halted/{delivery}/{action}", wrap(s.haltedAction))
	mux.Handle("GET "+prefix+"/deliveries", wrap(s.deliveriesPage))
	mux.Handle("GET "+prefix+"/deliveries/{id}", wrap(s.deliveryPage))
	mux.Handle("POST "+prefix+"/deliveries/{id}/retry", wrap(s.retry))
	mux.Handle("POST "+prefix+"/deliveries/{id}/skip", wrap(s.skip))
	mux.Handle("GET "+prefix+"/jobs/{id}", wrap(s.jobPage))
	mux.Handle("GET "+prefix+"/event-types", wrap(s.eventTypesPage))
}

// assetHandler serves the embedded assets, cached for a day (their
// names do not change with their content: a day bounds staleness).
func assetHandler(assets fs.FS) http.Handler {
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

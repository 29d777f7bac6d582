// Package api is hookstream's HTTP API: tenants and their API keys,
// endpoints (with signing secrets shown once, at creation and rotation),
// event ingestion and history, delivery history, manual retries, recovery
// jobs, health, and its own OpenAPI document. It speaks JSON, answers
// errors as RFC 9457 problem+json, and never returns a secret after the
// response that created it. It holds each tenant to its limits (endpoints,
// fan-out of an event, request rates per instance) and refuses endpoints
// that point back at itself.
//
// It does not deliver anything itself: it queues tasks (replays, retries)
// for the pipeline's deliverers, through a TaskQueue, and records the
// recovery jobs that a worker (pipeline.Recoverer) works.
package api

import (
	"context"
	"crypto/sha256"
	_ "embed" // the OpenAPI document
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookstream/hookstream/catalog"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/listener"
	"github.com/hookstream/hookstream/quota"
	"github.com/hookstream/hookstream/schema"
)

// Store is every store the API reads and writes, declared resource by
// resource beside the handlers that use it. postgres.DB implements it.
type Store interface {
	TenantStore
	KeyStore
	EndpointStore
	EventStore
	DeliveryStore
	JobStore
	PortalSettingsStore
	OrderingStore
	SourceStore
	EventTypeStore
	Ping(ctx context.Context) error
}

// Publisher stores events in the events topic.
type Publisher interface {
	Publish(ctx context.Context, ev schema.Event) (schema.Event, error)
	Ping(ctx context.Context) error
}

// Server serves the API. Set its fields, then call Handler.
type Server struct {
	Store     Store
	Publisher Publisher
	Tasks     TaskQueue
	Guard     delivery.Guard
	// AdminToken authenticates the administrator (Authorization: Bearer …),
	// who manages tenants and keys and acts on any tenant.
	AdminToken string
	// KeyCacheTTL is how long a verified API key is trusted without asking
	// Postgres again (default 5s): the longest a key revoked through
	// another instance keeps working here.
	KeyCacheTTL time.Duration
	// MaxEventBytes bounds an event's data; MaxBodyBytes other bodies.
	MaxEventBytes int64
	MaxBodyBytes  int64
	// DefaultTimeout of a new endpoint's requests.
	DefaultTimeout time.Duration
	// Limits per tenant; 0 means no limit. MaxEndpoints bounds a tenant's
	// endpoints (creating one more answers 409). MaxFanout bounds the
	// endpoints one event may reach (POST /v1/events answers 422 beyond).
	// EventRate is a token bucket per tenant for POST /v1/events, CallRate
	// one for its other calls, on this instance only: both answer 429
	// with Retry-After when empty.
	MaxEndpoints int
	MaxFanout    int
	EventRate    RateLimit
	CallRate     RateLimit
	// ListenAddr is the address the API listens on, and PublicURLs the
	// URLs clients reach it by: endpoints pointing at either are refused,
	// so that no delivery loops back into the API.
	ListenAddr string
	PublicURLs []string
	// Now is the clock of the rate limits (default time.Now).
	Now func() time.Time
	// EndpointChanged, when set, is called after an endpoint changes, so
	// that an in-process endpoint table knows before the API answers.
	EndpointChanged func(ctx context.Context, id string)
	// JobCreated, when set, is called after a recovery job is created, so
	// that the worker that runs jobs (pipeline.Recoverer.Wake) starts it
	// now rather than at its next poll.
	JobCreated func()
	// Quarantine and Redriver serve the quarantine routes (admin): the
	// index of the quarantine topic, and how a record is put back.
	Quarantine QuarantineStore
	Redriver   Redriver
	// Feed serves GET /v1/attempts (nil: 404).
	Feed AttemptFeed
	// Listeners holds the streams of `hookstream listen` (GET /v1/listen)
	// and serves their relay; RelayURL is where deliverers reach this
	// instance's relay. Either unset: no listen.
	Listeners *listener.Hub
	RelayURL  string
	// TopicPrefix is the prefix of hookstream's own topics, which no
	// source may read; MaxSources bounds the sources (0: no bound).
	TopicPrefix string
	MaxSources  int
	// Catalog, when set, checks the data of published events against
	// their types' schemas (422 when it fails) and learns of the types
	// this instance saves at once. MaxEventTypes bounds a tenant's catalog
	// (0: no bound).
	Catalog       *catalog.Catalog
	MaxEventTypes int
	// Tracer, when set, adds a span to each POST /v1/events; without one,
	// the request's traceparent is passed on to the event's record as it
	// came (when valid).
	Tracer trace.Tracer
	// Portals, when set, serves POST /v1/portal-sessions and its revoke.
	Portals Portals
	Log     *slog.Logger

	once      sync.Once
	adminHash [32]byte
	keys      keyCache
	events    quota.Buckets
	calls     quota.Buckets
	fanout    fanoutCache
	self      selfTargets
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.MaxBodyBytes == 0 {
			s.MaxBodyBytes = 64 << 10
		}
		if s.MaxEventBytes == 0 {
			s.MaxEventBytes = 1 << 20
		}
		if s.DefaultTimeout == 0 {
			s.DefaultTimeout = 15 * time.Second
		}
		if s.KeyCacheTTL == 0 {
			s.KeyCacheTTL = 5 * time.Second
		}
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		if s.Now == nil {
			s.Now = time.Now
		}
		s.events = quota.Buckets{Limit: s.EventRate, Now: s.Now}
		s.calls = quota.Buckets{Limit: s.CallRate, Now: s.Now}
		s.self = newSelfTargets(s.ListenAddr, s.PublicURLs, localAddrs())
		s.adminHash = sha256.Sum256([]byte(s.AdminToken))
		s.keys.ttl = s.KeyCacheTTL
	})
}

//go:embed openapi.json
var openapiJSON []byte

// OpenAPI returns the OpenAPI 3.1 document of the API.
func OpenAPI() []byte { return openapiJSON }

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	s.init()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapiJSON)
	})
	mux.Handle("POST /v1/tenants", s.admin(s.createTenant))
	mux.Handle("GET /v1/tenants", s.admin(s.listTenants))
	mux.Handle("GET /v1/tenants/{id}", s.admin(s.getTenant))
	mux.Handle("POST /v1/tenants/{id}/keys", s.admin(s.createKey))
	mux.Handle("GET /v1/tenants/{id}/keys", s.admin(s.listKeys))
	mux.Handle("POST /v1/tenants/{id}/keys/{key_id}/revoke", s.admin(s.revokeKey))
	mux.Handle("GET /v1/quarantine", s.admin(s.listQuarantine))
	mux.Handle("GET /v1/quarantine/{id}", s.admin(s.getQuarantined))
	mux.Handle("POST /v1/quarantine/{id}/redrive", s.admin(s.redriveQuarantined))
	mux.Handle("POST /v1/sources", s.admin(s.createSource))
	mux.Handle("GET /v1/sources", s.admin(s.listSources))
	mux.Handle("GET /v1/sources/{id}", s.admin(s.getSource))
	mux.Handle("DELETE /v1/sources/{id}", s.admin(s.deleteSource))

	// Each call spends a token of its tenant's bucket: POST /v1/events of
	// the events bucket, every other call of the calls bucket.
	call := func(h handlerFunc) http.Handler { return s.auth(s.limited(&s.calls, "calls", h)) }
	mux.Handle("POST /v1/endpoints", call(s.createEndpoint))
	mux.Handle("GET /v1/endpoints", call(s.listEndpoints))
	mux.Handle("GET /v1/endpoints/{id}", call(s.getEndpoint))
	mux.Handle("PATCH /v1/endpoints/{id}", call(s.updateEndpoint))
	mux.Handle("DELETE /v1/endpoints/{id}", call(s.deleteEndpoint))
	mux.Handle("POST /v1/endpoints/{id}/rotate-secret", call(s.rotateSecret))
	mux.Handle("POST /v1/endpoints/{id}/enable", call(s.enableEndpoint))
	mux.Handle("POST /v1/endpoints/{id}/disable", call(s.disableEndpoint))
	mux.Handle("POST /v1/endpoints/{id}/pause", call(s.pauseEndpoint))
	mux.Handle("POST /v1/endpoints/{id}/resume", call(s.resumeEndpoint))
	mux.Handle("POST /v1/endpoints/{id}/recover", call(s.recoverEndpoint))
	mux.Handle("POST /v1/endpoints/{id}/filter-test", call(s.testEndpointFilter))
	mux.Handle("POST /v1/filter-test", call(s.testFilter))
	// A test event spends a token of the events bucket, like any event.
	mux.Handle("POST /v1/endpoints/{id}/test", s.auth(s.limited(&s.events, "events", s.testEndpoint)))
	mux.Handle("GET /v1/endpoints/{id}/ordering/halted", call(s.listHaltedKeys))
	mux.Handle("GET /v1/jobs/{id}", call(s.getJob))

	mux.Handle("POST /v1/event-types", call(s.createEventType))
	mux.Handle("GET /v1/event-types", call(s.listEventTypes))
	mux.Handle("GET /v1/event-types/{name}", call(s.getEventType))
	mux.Handle("PATCH /v1/event-types/{name}", call(s.updateEventType))
	mux.Handle("DELETE /v1/event-types/{name}", call(s.deleteEventType))

	mux.Handle("POST /v1/events", s.auth(s.limited(&s.events, "events", s.publishEvent)))
	mux.Handle("GET /v1/events", call(s.listEvents))
	mux.Handle("GET /v1/events/{id}", call(s.getEvent))
	mux.Handle("GET /v1/deliveries", call(s.listDeliveries))
	mux.Handle("GET /v1/deliveries/{id}", call(s.getDelivery))
	mux.Handle("POST /v1/deliveries/{id}/retry", call(s.retryDelivery))
	mux.Handle("POST /v1/deliveries/{id}/skip", call(s.skipDelivery))
	mux.Handle("GET /v1/attempts", call(s.listAttempts))
	mux.Handle("GET /v1/listen", call(s.listen))
	if s.Listeners != nil {
		mux.HandleFunc("POST "+listener.RelayPath+"{tenant}/{id}", s.Listeners.ServeRelay)
	}
	mux.HandleFunc("POST /v1/portal-sessions", s.createPortalSession)
	mux.Handle("POST /v1/portal-sessions/{id}/revoke", call(s.revokePortalSession))
	mux.Handle("GET /v1/portal-settings", call(s.getPortalSettings))
	mux.Handle("PUT /v1/portal-settings", call(s.putPortalSettings))
	mux.HandleFunc("/", noRoute)
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{"postgres": "ok", "kafka": "ok"}
	code := http.StatusOK
	if err := s.Store.Ping(ctx); err != nil {
		status["postgres"], code = "unavailable", http.StatusServiceUnavailable
	}
	if err := s.Publisher.Ping(ctx); err != nil {
		status["kafka"], code = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, status)
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, op string, err error) {
	s.Log.Error("api request failed", "op", op, "path", r.URL.Path, "err", err)
	writeProblem(w, problem(http.StatusInternalServerError, op+" failed; see the server log"))
}

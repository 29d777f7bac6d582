// Package api is hookstream's HTTP API: endpoints (with their signing
// secrets shown once), event ingestion, delivery history, and health. It
// speaks JSON, answers errors as RFC 9457 problem+json, and never returns a
// secret after the response that created it.
//
// Until tenants and API keys exist, one admin token authenticates every
// request, and everything belongs to the default tenant.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/schema"
)

// Store is what the API reads and writes in Postgres.
type Store interface {
	CreateEndpoint(ctx context.Context, e postgres.NewEndpoint) (schema.Endpoint, error)
	Endpoint(ctx context.Context, tenant, id string) (schema.Endpoint, error)
	Endpoints(ctx context.Context, tenant, after string, limit int) ([]schema.Endpoint, error)
	Deliveries(ctx context.Context, f postgres.DeliveryFilter) ([]postgres.Delivery, error)
	Attempts(ctx context.Context, tenant, deliveryID string) ([]postgres.AttemptRow, error)
	SetEndpointState(ctx context.Context, tenant, id string, enabled bool, reason string) (schema.Endpoint, error)
	ParkedTasks(ctx context.Context, endpointID string, after *postgres.ParkedCursor, limit int) ([]schema.Task, *postgres.ParkedCursor, error)
	MarkRequeued(ctx context.Context, ids []string) error
	Ping(ctx context.Context) error
}

// Publisher stores events in the events topic.
type Publisher interface {
	Publish(ctx context.Context, ev schema.Event) (schema.Event, error)
	Ping(ctx context.Context) error
}

// Server serves the API.
type Server struct {
	Store     Store
	Publisher Publisher
	Tasks     TaskQueue
	Guard     delivery.Guard
	// AdminToken authenticates requests (Authorization: Bearer …).
	AdminToken string
	// MaxEventBytes bounds an event's data; MaxBodyBytes other bodies.
	MaxEventBytes int64
	MaxBodyBytes  int64
	// DefaultTimeout of a new endpoint's requests.
	DefaultTimeout time.Duration
	// EndpointChanged, when set, is called after an endpoint changes, so
	// that an in-process endpoint table knows before the API answers.
	EndpointChanged func(ctx context.Context, id string)
	// Metrics is served at /metrics when set.
	Metrics http.Handler
	Log     *slog.Logger
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = 64 << 10
	}
	if s.MaxEventBytes == 0 {
		s.MaxEventBytes = 1 << 20
	}
	if s.DefaultTimeout == 0 {
		s.DefaultTimeout = 15 * time.Second
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	mux.Handle("POST /v1/endpoints", s.auth(s.createEndpoint))
	mux.Handle("GET /v1/endpoints", s.auth(s.listEndpoints))
	mux.Handle("GET /v1/endpoints/{id}", s.auth(s.getEndpoint))
	mux.Handle("POST /v1/endpoints/{id}/enable", s.auth(s.enableEndpoint))
	mux.Handle("POST /v1/endpoints/{id}/disable", s.auth(s.disableEndpoint))
	mux.Handle("POST /v1/events", s.auth(s.publishEvent))
	mux.Handle("GET /v1/deliveries", s.auth(s.listDeliveries))
	mux.Handle("GET /v1/deliveries/{id}", s.auth(s.getDelivery))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, problem(http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path))
	})
	return mux
}

// handlerFunc is a handler that knows its tenant.
type handlerFunc func(w http.ResponseWriter, r *http.Request, tenant string)

// auth checks the bearer token in constant time (of the token's hash, so
// that its length does not leak either).
func (s *Server) auth(h handlerFunc) http.Handler {
	want := sha256.Sum256([]byte(s.AdminToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if !ok || s.AdminToken == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookstream"`)
			writeProblem(w, problem(http.StatusUnauthorized, "missing or invalid bearer token"))
			return
		}
		h(w, r, schema.DefaultTenant)
	})
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

package api

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/schema"
)

// EndpointStore holds the tenants' endpoints, their secrets sealed, and
// their parked deliveries.
type EndpointStore interface {
	CreateEndpoint(ctx context.Context, e schema.NewEndpoint) (schema.Endpoint, error)
	CountEndpoints(ctx context.Context, tenant string) (int, error)
	CountMatchingEndpoints(ctx context.Context, tenant, eventType string, atMost int) (int, error)
	Endpoint(ctx context.Context, tenant, id string) (schema.Endpoint, error)
	Endpoints(ctx context.Context, tenant, after string, limit int) ([]schema.Endpoint, error)
	UpdateEndpoint(ctx context.Context, tenant, id string, u schema.EndpointUpdate) (schema.Endpoint, error)
	DeleteEndpoint(ctx context.Context, tenant, id string) error
	RotateSecret(ctx context.Context, tenant, id, secret, publicKey string, overlap time.Duration) (schema.Endpoint, error)
	SetEndpointState(ctx context.Context, tenant, id string, enabled bool, reason string) (schema.Endpoint, error)
	PauseEndpoint(ctx context.Context, tenant, id string, until time.Time) (schema.Endpoint, error)
	ResumeEndpoint(ctx context.Context, tenant, id string) (schema.Endpoint, error)
	ReplayParked(ctx context.Context, endpointID string, version time.Time,
		send func(context.Context, []schema.Task) error) (int, error)
}

// Limits of an endpoint.
const (
	maxEventTypes   = 100
	maxHeaders      = 20
	maxDescription  = 1024
	maxTimeout      = 60 * time.Second
	defaultPageSize = 50
	maxPageSize     = 500
)

type endpointRequest struct {
	URL         string            `json:"url"`
	Description string            `json:"description"`
	EventTypes  []string          `json:"event_types"`
	Headers     map[string]string `json:"headers"`
	Secret      string            `json:"secret"`
	TimeoutMS   *wholeNumber      `json:"timeout_ms"`
	// PayloadFormat is one of delivery.Formats; "" is "data".
	PayloadFormat string `json:"payload_format"`
	// SignatureScheme is "hmac-sha256" (default) or "ed25519".
	SignatureScheme string  `json:"signature_scheme"`
	Ordering        *string `json:"ordering"`
	DeadHead        *string `json:"dead_head"`
	// Filter is a CEL expression over the event (see package filter).
	Filter      string `json:"filter"`
	AutoRecover *bool  `json:"auto_recover"`
}

// endpointJSON is an endpoint as the API shows it: the URL redacted, custom
// header values and the secret left out.
type endpointJSON struct {
	ID             string     `json:"id"`
	Tenant         string     `json:"tenant"`
	URL            string     `json:"url"`
	Description    string     `json:"description"`
	EventTypes     []string   `json:"event_types"`
	HeaderNames    []string   `json:"header_names"`
	TimeoutMS      int64      `json:"timeout_ms"`
	State          string     `json:"state"`
	Ordering       string     `json:"ordering"`
	DeadHead       string     `json:"dead_head"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	// DisabledCause says who disabled it: failures, gone or manual.
	DisabledCause string `json:"disabled_cause,omitempty"`
	// Paused is true while the receiver's pause holds; PausedAt is when it
	// began, PausedUntil when it ends by itself (absent: on resume only).
	Paused      bool       `json:"paused"`
	PausedAt    *time.Time `json:"paused_at,omitempty"`
	PausedUntil *time.Time `json:"paused_until,omitempty"`
	// AutoRecover lets probes re-enable the endpoint after the failure
	// rule disabled it; NextProbeAt (while it waits for one) and Probes
	// (sent since it was disabled) show where recovery stands.
	AutoRecover bool       `json:"auto_recover"`
	NextProbeAt *time.Time `json:"next_probe_at,omitempty"`
	Probes      int        `json:"probes"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	// PreviousSecretUntil is the end of a rotation's overlap, while
	// requests are signed with the previous secret too.
	PreviousSecretUntil *time.Time `json:"previous_secret_until,omitempty"`
	// Listener marks the temporary endpoint of a `hookstream listen`
	// stream.
	Listener        bool   `json:"listener,omitempty"`
	PayloadFormat   string `json:"payload_format"`
	SignatureScheme string `json:"signature_scheme"`
	// PublicKey verifies the v1a signatures of an Ed25519 endpoint;
	// PreviousPublicKey those of the previous key during a rotation's
	// overlap. Public: shown on every read.
	PublicKey         string `json:"public_key,omitempty"`
	PreviousPublicKey string `json:"previous_public_key,omitempty"`
	Filter            string `json:"filter,omitempty"`
	// Secret is set only in the response that creates the endpoint.
	Secret string `json:"secret,omitempty"`
}

func toEndpointJSON(ep schema.Endpoint) endpointJSON {
	out := endpointJSON{
		ID: ep.ID, Tenant: ep.Tenant, URL: ep.DisplayURL, Description: ep.Description,
		EventTypes: ep.EventTypes, HeaderNames: []string{}, TimeoutMS: ep.Timeout.Milliseconds(),
		State: ep.State, DisabledReason: ep.DisabledReason, CreatedAt: ep.CreatedAt, UpdatedAt: ep.UpdatedAt,
		Ordering: ep.Ordering, DeadHead: ep.DeadHead,
	}
	if out.Ordering == "" {
		out.Ordering = schema.OrderingNone
	}
	if out.DeadHead == "" {
		out.DeadHead = schema.DeadHeadSkip
	}
	out.HeaderNames = append(out.HeaderNames, ep.HeaderNames...)
	if len(ep.HeaderNames) == 0 {
		for k := range ep.Headers {
			out.HeaderNames = append(out.HeaderNames, k)
		}
		sort.Strings(out.HeaderNames)
	}
	if !ep.DisabledAt.IsZero() {
		out.DisabledAt = &ep.DisabledAt
	}
	if !ep.Enabled() {
		out.DisabledCause = ep.DisabledCause
	}
	out.AutoRecover, out.Probes = ep.AutoRecover, ep.Probes
	if ep.Probed() && !ep.NextProbeAt.IsZero() {
		out.NextProbeAt = &ep.NextProbeAt
	}
	if ep.Paused(time.Now()) {
		out.Paused, out.PausedAt = true, &ep.PausedAt
		if !ep.PausedUntil.IsZero() {
			out.PausedUntil = &ep.PausedUntil
		}
	}
	if !ep.SecretsUntil.IsZero() {
		out.PreviousSecretUntil = &ep.SecretsUntil
	}
	out.Listener = ep.Listener()
	out.PayloadFormat = ep.PayloadFormat
	if out.PayloadFormat == "" {
		out.PayloadFormat = schema.PayloadFormatData
	}
	out.SignatureScheme = ep.SignatureScheme()
	out.PublicKey, out.PreviousPublicKey = ep.PublicKey, ep.PreviousPublicKey
	out.Filter = ep.Filter
	return out
}

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request, tenant string) {
	var req endpointRequest
	if p := decode(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	ne, p := s.validateEndpoint(req)
	if p != nil {
		writeProblem(w, p)
		return
	}
	ne.ID, ne.Tenant, ne.MaxPerTenant = schema.NewID("ep_"), tenant, s.MaxEndpoints
	ep, err := s.Store.CreateEndpoint(r.Context(), ne)
	switch {
	case errors.Is(err, schema.ErrLimitReached):
		writeProblem(w, problem(http.StatusConflict, "tenant "+strconv.Quote(tenant)+" already has "+
			strconv.Itoa(s.MaxEndpoints)+" endpoints, the most allowed: delete one before creating another"))
		return
	case errors.Is(err, schema.ErrNotFound):
		writeProblem(w, problem(http.StatusNotFound, "no such tenant"))
		return
	case err != nil:
		s.internal(w, r, "create endpoint", err)
		return
	}
	s.changed(r, ep.ID)
	ep.Headers = req.Headers
	out := toEndpointJSON(ep)
	if ne.PublicKey == "" {
		// An Ed25519 private key never leaves: its public key is shown.
		out.Secret = ne.Secret
	}
	w.Header().Set("Location", "/v1/endpoints/"+ep.ID)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) validateEndpoint(req endpointRequest) (schema.NewEndpoint, *Problem) {
	var ne schema.NewEndpoint
	if req.URL == "" {
		return ne, fieldProblem("url", "is required")
	}
	if p := s.validateURL(req.URL); p != nil {
		return ne, p
	}
	if len(req.EventTypes) == 0 {
		return ne, fieldProblem("event_types", `is required: list the event types to receive, e.g. ["invoice.*"], or ["*"] for all`)
	}
	if p := validateEventTypes(req.EventTypes); p != nil {
		return ne, p
	}
	if p := validateDescription(req.Description); p != nil {
		return ne, p
	}
	if p := validateHeaders(req.Headers); p != nil {
		return ne, p
	}
	ne.Timeout = s.DefaultTimeout
	if req.TimeoutMS != nil {
		t, p := validateTimeout(int(*req.TimeoutMS))
		if p != nil {
			return ne, p
		}
		ne.Timeout = t
	}
	ordering, deadHead, p := validateOrdering(req.Ordering, req.DeadHead)
	if p != nil {
		return ne, p
	}
	if ordering != nil {
		ne.Ordering = *ordering
	}
	if deadHead != nil {
		ne.DeadHead = *deadHead
	}
	if req.PayloadFormat != "" && !delivery.ValidFormat(req.PayloadFormat) {
		return ne, formatProblem()
	}
	ne.PayloadFormat = req.PayloadFormat
	if p := validateFilter(req.Filter); p != nil {
		return ne, p
	}
	ne.Filter = req.Filter
	secret, public, p := newSigningKey(req.SignatureScheme, req.Secret)
	if p != nil {
		return ne, p
	}
	ne.Secret, ne.PublicKey = secret, public
	ne.URL, ne.DisplayURL = req.URL, delivery.RedactURL(req.URL)
	ne.Description, ne.EventTypes, ne.Headers = req.Description, req.EventTypes, req.Headers
	ne.AutoRecover = req.AutoRecover == nil || *req.AutoRecover
	return ne, nil
}

// validateOrdering checks the ordering fields of an endpoint, each when
// present.
func validateOrdering(ordering, deadHead *string) (*string, *string, *Problem) {
	if ordering != nil && *ordering != schema.OrderingNone && *ordering != schema.OrderingKey {
		return nil, nil, fieldProblem("ordering", `must be "none" or "key"`)
	}
	if deadHead != nil && *deadHead != schema.DeadHeadSkip && *deadHead != schema.DeadHeadHalt {
		return nil, nil, fieldProblem("dead_head", `must be "skip" or "halt"`)
	}
	return ordering, deadHead, nil
}

// validateURL checks an endpoint URL: the SSRF guard's rules, not the
// API's own address, and https unless the guard's allow-list covers the
// host (an IP literal inside it, or localhost when it allows a loopback
// address).
func (s *Server) validateURL(raw string) *Problem {
	u, err := s.Guard.ValidateURL(raw)
	if ue := (*delivery.URLError)(nil); errors.As(err, &ue) {
		return fieldProblem("url", ue.Reason)
	}
	if err != nil {
		return fieldProblem("url", "is not a usable URL")
	}
	if s.self.match(u) {
		return fieldProblem("url", "points at hookstream's own API: its deliveries would come back into it")
	}
	if u.Scheme == "https" || s.allowedHost(u.Hostname()) {
		return nil
	}
	return fieldProblem("url", "must use https (http only reaches hosts in HOOKSTREAM_ALLOWED_TARGET_CIDRS)")
}

func (s *Server) allowedHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return s.Guard.Allows(netip.MustParseAddr("127.0.0.1")) || s.Guard.Allows(netip.IPv6Loopback())
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && s.Guard.Allows(ip)
}

func validateEventTypes(types []string) *Problem {
	if len(types) == 0 {
		return fieldProblem("event_types", `must not be empty: list the event types to receive, e.g. ["invoice.*"], or ["*"] for all`)
	}
	if len(types) > maxEventTypes {
		return fieldProblem("event_types", "at most "+strconv.Itoa(maxEventTypes)+" patterns")
	}
	for _, p := range types {
		if err := schema.ValidatePattern(p); err != nil {
			var fe *schema.FieldError
			if errors.As(err, &fe) {
				return fieldProblem("event_types", fe.Reason)
			}
			return fieldProblem("event_types", err.Error())
		}
	}
	return nil
}

func validateDescription(d string) *Problem {
	if textLen(d) > maxDescription {
		return fieldProblem("description", "at most "+strconv.Itoa(maxDescription)+" characters")
	}
	return nil
}

func validateHeaders(h map[string]string) *Problem {
	if len(h) > maxHeaders {
		return fieldProblem("headers", "at most "+strconv.Itoa(maxHeaders)+" headers")
	}
	for k, v := range h {
		if !validHeaderName(k) || textLen(v) > 4096 || !validHeaderValue(v) {
			return fieldProblem("headers", "invalid header "+strconv.Quote(k))
		}
		if delivery.IsReservedHeader(k) {
			return fieldProblem("headers", "header "+strconv.Quote(k)+" is set by hookstream and cannot be overridden")
		}
	}
	return nil
}

func validateTimeout(ms int) (time.Duration, *Problem) {
	if ms < 1 || ms > int(maxTimeout.Milliseconds()) {
		return 0, fieldProblem("timeout_ms", "must be between 1 and "+strconv.Itoa(int(maxTimeout.Milliseconds())))
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func formatProblem() *Problem {
	return fieldProblem("payload_format", "must be one of "+strings.Join(delivery.Formats, ", "))
}

// newSigningKey checks a supplied secret, or generates one of the scheme
// (hmac-sha256 when ""), and returns it with its public key (Ed25519
// only). A supplied whsk_ key is an Ed25519 endpoint's private key.
func newSigningKey(scheme, supplied string) (secret, public string, p *Problem) {
	switch {
	case scheme != "" && scheme != delivery.SchemeHMAC && scheme != delivery.SchemeEd25519:
		return "", "", fieldProblem("signature_scheme", "must be hmac-sha256 (Standard Webhooks v1) or ed25519 (v1a)")
	case supplied != "" && scheme != "" && delivery.SecretScheme(supplied) != scheme:
		return "", "", fieldProblem("secret", "is not a "+scheme+" key: whsec_… signs with hmac-sha256, whsk_… with ed25519")
	case supplied != "":
		scheme = delivery.SecretScheme(supplied)
	}
	if scheme != delivery.SchemeEd25519 {
		secret, p := newSecret(supplied)
		return secret, "", p
	}
	if supplied == "" {
		priv, pub, err := delivery.GenerateKeyPair()
		if err != nil {
			return "", "", problem(http.StatusInternalServerError, "cannot generate a key pair")
		}
		return priv, pub, nil
	}
	pub, err := delivery.PublicKey(supplied)
	if err != nil {
		return "", "", fieldProblem("secret", "must be whsk_ followed by the base64 of a 32-byte Ed25519 seed (or the 64-byte private key)")
	}
	return supplied, pub, nil
}

// newSecret checks a supplied secret, or generates one when it is "".
func newSecret(supplied string) (string, *Problem) {
	if supplied == "" {
		secret, err := delivery.GenerateSecret()
		if err != nil {
			return "", problem(http.StatusInternalServerError, "cannot generate a secret")
		}
		return secret, nil
	}
	// ParseSecret's base64 decoder skips line breaks; the document does not.
	if _, err := delivery.ParseSecret(supplied); err != nil || strings.ContainsAny(supplied, "\r\n") {
		return "", fieldProblem("secret", "must be whsec_ followed by the base64 of 24 to 64 random bytes")
	}
	return supplied, nil
}

func validHeaderName(k string) bool {
	if k == "" || len(k) > 256 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// endpoint loads the tenant's endpoint the path names. When it cannot, it
// has answered (404, or 500 naming op) and ok is false.
func (s *Server) endpoint(w http.ResponseWriter, r *http.Request, tenant, op string) (ep schema.Endpoint, ok bool) {
	ep, err := s.Store.Endpoint(r.Context(), tenant, r.PathValue("id"))
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such endpoint"))
		return ep, false
	}
	if err != nil {
		s.internal(w, r, op, err)
		return ep, false
	}
	return ep, true
}

func (s *Server) getEndpoint(w http.ResponseWriter, r *http.Request, tenant string) {
	if ep, ok := s.endpoint(w, r, tenant, "get endpoint"); ok {
		writeJSON(w, http.StatusOK, toEndpointJSON(ep))
	}
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, tenant string) {
	limit, p := pageLimit(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	after, p := idCursor(r.URL.Query(), func(c string) bool { return validID("ep_", c) })
	if p != nil {
		writeProblem(w, p)
		return
	}
	eps, err := s.Store.Endpoints(r.Context(), tenant, after, limit+1)
	if err != nil {
		s.internal(w, r, "list endpoints", err)
		return
	}
	writeJSON(w, http.StatusOK, page(eps, limit, func(ep schema.Endpoint) string { return ep.ID }, toEndpointJSON))
}

// listJSON is a page of a listing; NextCursor is passed as ?cursor= to get
// the next page, and is empty on the last.
type listJSON[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func pageLimit(r *http.Request) (int, *Problem) {
	q := r.URL.Query()
	if !q.Has("limit") {
		return defaultPageSize, nil
	}
	v := q.Get("limit")
	n, err := strconv.Atoi(v)
	if err != nil || strings.Trim(v, "0123456789") != "" || n < 1 || n > maxPageSize {
		p := problem(http.StatusBadRequest, "limit: must be a whole number from 1 to "+strconv.Itoa(maxPageSize))
		p.Field = "limit"
		return 0, p
	}
	return n, nil
}

package schema

import "time"

// Endpoint states.
const (
	EndpointEnabled  = "enabled"
	EndpointDisabled = "disabled"
)

// Endpoint orderings: whether deliveries are ordered per ordering key.
const (
	OrderingNone = "none"
	OrderingKey  = "key"
)

// Dead-head policies of an ordered endpoint: what a key does when its
// earliest unresolved delivery is given up.
const (
	DeadHeadSkip = "skip" // resolve it and go on
	DeadHeadHalt = "halt" // stop the key until a person retries or skips it
)

// Endpoint is an HTTP receiver subscribed to some of a tenant's event types.
// URL and the signing keys are secrets: they are only filled in where
// hookstream sends requests, never where it answers API calls.
type Endpoint struct {
	ID          string
	Tenant      string
	URL         string // the full URL, may carry credentials
	DisplayURL  string // the URL with credentials and query redacted
	Description string
	EventTypes  []string
	Headers     map[string]string
	// HeaderNames are the names of Headers, sorted: what the API shows
	// where the values are not loaded.
	HeaderNames []string
	Timeout     time.Duration
	State       string
	// Secrets are the signing secrets (whsec_ for HMAC, whsk_ for
	// Ed25519), current first; a previous one stays until SecretsUntil,
	// the end of its rotation overlap.
	Secrets      []string
	SecretsUntil time.Time
	// PublicKey is the whpk_ public key of the current secret when it is
	// an Ed25519 key, PreviousPublicKey that of the previous one during
	// the overlap: what receivers verify v1a signatures with. Not secret.
	PublicKey         string
	PreviousPublicKey string
	// PayloadFormat is what the request body looks like: one of the
	// PayloadFormat* constants ("" is PayloadFormatData).
	PayloadFormat string
	// Filter is a CEL expression over the event: an event it does not let
	// through is not delivered to the endpoint. "" lets everything through.
	Filter         string
	DisabledReason string
	DisabledAt     time.Time
	// Ordering is OrderingNone or OrderingKey; DeadHead is DeadHeadSkip or
	// DeadHeadHalt.
	Ordering string
	DeadHead string
	// DisabledCause says who disabled the endpoint (DisabledByFailures,
	// DisabledByGone, DisabledByHand); "" while it is enabled.
	DisabledCause string
	// PausedAt is set while the receiver's pause lasts; PausedUntil is
	// when it ends by itself (zero: only on resume). See Paused.
	PausedAt, PausedUntil time.Time
	// AutoRecover lets probes re-enable the endpoint once the failure
	// rule disabled it (see Probed). NextProbeAt is when the next probe is
	// due, Probes how many were sent since it was disabled.
	AutoRecover bool
	NextProbeAt time.Time
	Probes      int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// RelayURL is set on the listeners of `hookstream listen` only: the
	// API instance holding the listener's stream, where its attempts go
	// instead of URL.
	RelayURL string
}

// Listener reports whether the endpoint is a listener of `hookstream
// listen` (temporary, delivered through its stream).
func (e *Endpoint) Listener() bool { return e.RelayURL != "" }

// Ordered reports whether the endpoint asks for ordered delivery per key.
func (e *Endpoint) Ordered() bool { return e.Ordering == OrderingKey }

// Enabled reports whether the endpoint is enabled; see Sendable.
func (e *Endpoint) Enabled() bool { return e.State == EndpointEnabled }

// Paused reports whether the receiver's pause holds at now.
func (e *Endpoint) Paused(now time.Time) bool {
	return !e.PausedAt.IsZero() && (e.PausedUntil.IsZero() || now.Before(e.PausedUntil))
}

// Sendable reports whether tasks for the endpoint are sent at now (true) or
// parked: it is enabled and not paused.
func (e *Endpoint) Sendable(now time.Time) bool { return e.Enabled() && !e.Paused(now) }

// Probed reports whether the endpoint waits for a probe to re-enable it:
// disabled by the failure rule, with automatic recovery on. Endpoints
// disabled by hand or by 410 Gone never are.
func (e *Endpoint) Probed() bool {
	return e.State == EndpointDisabled && e.DisabledCause == DisabledByFailures && e.AutoRecover
}

// Causes of a disabled endpoint (Endpoint.DisabledCause).
const (
	DisabledByFailures = "failures" // the failure rule (DisableRule)
	DisabledByGone     = "gone"     // the endpoint answered 410 Gone
	DisabledByHand     = "manual"   // a person, through the API
)

// EndpointChange reports an endpoint the sink just disabled (State
// disabled: the failure rule or a 410 Gone) or re-enabled (State enabled:
// a probe succeeded).
type EndpointChange struct {
	EndpointID string
	Tenant     string
	DisplayURL string
	State      string
	// Reason is why it was disabled; "" when it was re-enabled.
	Reason   string
	Failures int
	// Probes is how many probes were sent while it was disabled, the one
	// that re-enabled it included.
	Probes int
	At     time.Time
	// Cause names the attempt that tipped the endpoint over: delivery id
	// and attempt number. It makes the operational event's id stable.
	Cause string
}

// Operational events published when an endpoint is disabled, and when a
// probe re-enables it.
const (
	EndpointDisabledType  = ReservedTypePrefix + "endpoint.disabled"
	EndpointRecoveredType = ReservedTypePrefix + "endpoint.recovered"
)

// NewEndpoint is what creating an endpoint stores. URL and Secret are
// sealed; DisplayURL is what the API shows.
type NewEndpoint struct {
	ID          string
	Tenant      string
	URL         string
	DisplayURL  string
	Description string
	EventTypes  []string
	Headers     map[string]string
	Secret      string // whsec_… or whsk_…
	// PublicKey is the whpk_ key of an Ed25519 Secret, else "".
	PublicKey     string
	PayloadFormat string
	Filter        string
	Timeout       time.Duration
	// AutoRecover lets probes re-enable the endpoint once the failure
	// rule disabled it.
	AutoRecover bool
	// MaxPerTenant is the most endpoints the tenant may have (0: no
	// limit): creating one more fails with ErrLimitReached.
	MaxPerTenant int
	Ordering     string // OrderingNone when empty
	DeadHead     string // DeadHeadSkip when empty
	// RelayURL makes the endpoint a listener of `hookstream listen`: the
	// API instance holding its stream (see package listener).
	RelayURL string
}

// EndpointUpdate changes some fields of an endpoint; nil fields stay.
type EndpointUpdate struct {
	URL         *string // sealed; DisplayURL must be set with it
	DisplayURL  string
	Description *string
	EventTypes  []string
	Headers     *map[string]string // sealed; an empty map removes them all
	Timeout     *time.Duration
	// PayloadFormat and Filter: "" for Filter removes it.
	PayloadFormat *string
	Filter        *string
	Ordering      *string
	DeadHead      *string
	AutoRecover   *bool
}

// Payload formats of an endpoint (see package delivery's Encode).
const (
	PayloadFormatData                  = "data"
	PayloadFormatStandardWebhooks      = "standard-webhooks"
	PayloadFormatCloudEventsBinary     = "cloudevents-binary"
	PayloadFormatCloudEventsStructured = "cloudevents-structured"
)

// SignatureScheme returns how the endpoint's requests are signed with its
// current secret: "ed25519" (Standard Webhooks v1a) when it has a public
// key, else "hmac-sha256" (v1).
func (e *Endpoint) SignatureScheme() string {
	if e.PublicKey != "" {
		return "ed25519"
	}
	return "hmac-sha256"
}

// Package listener carries a tenant's webhooks to `hookstream listen`, a
// developer's CLI on a machine no one can reach: the CLI holds a WebSocket
// stream open to an API instance, which registered a temporary endpoint
// (a listener) for the stream's life. A deliverer makes a listener's
// attempts like any other, signed with the listener's secret, but sends
// them to the API instance holding the stream (the relay), which passes
// them down the stream; the CLI posts them to its local URL and answers
// with what that URL answered, which the relay returns to the deliverer.
//
// The Hub is the API side: streams, heartbeats, the relay's handler, and
// the removal of listeners whose stream died. The Relay is the deliverer
// side. The package knows neither Kafka nor SQL: Store is what it needs of
// Postgres. It does not create listeners (the API does, with its checks).
package listener

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Frame types on the stream.
const (
	// FrameReady is the API's first frame: the listener and its secret.
	FrameReady = "ready"
	// FrameDelivery is a webhook request for the CLI to post locally.
	FrameDelivery = "delivery"
	// FrameResult is the CLI's answer to a delivery: what the local URL
	// answered, or why it did not.
	FrameResult = "result"
)

// Frame is a JSON text message on the stream, either way. Body fields are
// base64 in JSON: a webhook's body is sent byte for byte (its signature
// covers those bytes).
type Frame struct {
	Type string `json:"type"`

	// ready
	Listener   string   `json:"listener,omitempty"` // the listener's endpoint id
	Tenant     string   `json:"tenant,omitempty"`
	Secret     string   `json:"secret,omitempty"` // whsec_…, in the ready frame only
	EventTypes []string `json:"event_types,omitempty"`

	// delivery and result
	ID        string            `json:"id,omitempty"` // pairs a result with its delivery
	Headers   map[string]string `json:"headers,omitempty"`
	Body      []byte            `json:"body,omitempty"`
	TimeoutMS int64             `json:"timeout_ms,omitempty"`

	// result
	StatusCode    int    `json:"status_code,omitempty"`
	LatencyMicros int64  `json:"latency_us,omitempty"`
	Truncated     bool   `json:"truncated,omitempty"`
	Error         string `json:"error,omitempty"`
}

// RelayPath is the path prefix of the relay on an API instance's HTTP
// address: RelayPath + tenant + "/" + listener id.
const RelayPath = "/internal/relay/"

// Token is the bearer token of relay requests, derived from the key every
// hookstream process shares (HOOKSTREAM_SECRET_KEY): only hookstream's own
// deliverers can put requests on a listener's stream.
func Token(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("hookstream listener relay v1"))
	return "hsr_" + hex.EncodeToString(m.Sum(nil))
}

// relayRequest is what a deliverer posts to the relay.
type relayRequest struct {
	Headers   map[string]string `json:"headers"`
	Body      []byte            `json:"body"`
	TimeoutMS int64             `json:"timeout_ms"`
}

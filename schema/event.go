package schema

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jsonv1 "github.com/go-json-experiment/json/v1"
)

// DefaultTenant owns everything published without a tenant through the API
// until tenants and API keys exist.
const DefaultTenant = "default"

// ReservedTypePrefix starts the event types hookstream publishes itself
// (for example "hookstream.endpoint.disabled"). Services cannot publish
// them, and a wildcard pattern only matches them when it names the prefix.
const ReservedTypePrefix = "hookstream."

// Limits on the fields of an event.
const (
	MaxIDLen     = 255
	MaxTenantLen = 64
	MaxTypeLen   = 128
	// MaxOrderingKeyLen bounds an event's ordering key, in bytes.
	MaxOrderingKeyLen = 255
)

// Event is what a service publishes once, to the events topic. Data is the
// JSON body every subscribed endpoint receives, byte for byte.
type Event struct {
	ID        string          `json:"id"`
	Tenant    string          `json:"tenant"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
	// CloudEvent holds the attributes of an event that arrived as a
	// CloudEvent (DecodeCloudEvent); nil for any other. Publishers cannot
	// set it in the JSON envelope: DecodeEvent drops it.
	CloudEvent *CloudEvent `json:"cloudevent,omitempty"`
	// EndpointID, when set, narrows the fan-out to that one endpoint of
	// the tenant, if it subscribes to the type: a test event of one
	// endpoint (POST /v1/endpoints/{id}/test).
	EndpointID string `json:"endpoint_id,omitempty"`
	// OrderingKey, when set, is the key the deliveries of the event are
	// ordered by on endpoints that ask for order (see docs/ordering.md):
	// set by the publisher, or by the dispatcher from the record key.
	OrderingKey string `json:"ordering_key,omitempty"`
}

// FieldError says which field of a message is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidEvent) hold.
func (e *FieldError) Unwrap() error { return ErrInvalidEvent }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// DecodeEvent parses a record value from the events topic. It accepts
// unknown fields (newer publishers may send more) but insists on a tenant, a
// type and data. An absent id is left empty for the caller to fill in with
// DerivedEventID; an absent created_at stays zero.
func DecodeEvent(b []byte) (Event, error) {
	var w struct {
		Event
		// created_at is read apart, to name it when it is not a time.
		CreatedAt json.RawMessage `json:"created_at"`
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return w.Event, fieldErr("value", "empty record")
	}
	err := unmarshal(b, &w)
	var se *jsonv1.SyntaxError
	if errors.As(err, &se) {
		return w.Event, fieldErr("value", "not valid JSON")
	}
	if t[0] != '{' {
		return w.Event, fieldErr("value", "must be a JSON object with id, tenant, type, data and created_at")
	}
	if err != nil {
		var te *jsonv1.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field := strings.TrimPrefix(te.Field, "Event.")
			return w.Event, fieldErr(field, "must be a JSON %s", JSONKind(te.Type.Kind().String()))
		}
		return w.Event, fieldErr("value", "must be a JSON object with id, tenant, type, data and created_at")
	}
	ev := w.Event
	ev.CloudEvent = nil
	if c := bytes.TrimSpace(w.CreatedAt); len(c) > 0 && !bytes.Equal(c, []byte("null")) {
		var s string
		if err := unmarshal(c, &s); err != nil {
			return ev, fieldErr("created_at", "must be an RFC 3339 time in a JSON string")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return ev, fieldErr("created_at", "must be an RFC 3339 time")
		}
		ev.CreatedAt = t
	}
	return ev, ev.Validate()
}

// JSONKind names the JSON kind a Go kind (reflect.Kind's String) decodes
// from, for error messages: "string", "number", "boolean", "array",
// "object".
func JSONKind(goKind string) string {
	switch goKind {
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	case "bool":
		return "boolean"
	case "string":
		return "string"
	}
	return "number"
}

// Validate checks every field of an event. An empty ID is allowed: it is
// generated before the event is used.
func (ev *Event) Validate() error {
	if err := ev.ValidateFields(); err != nil {
		return err
	}
	d := bytes.TrimSpace(ev.Data)
	if len(d) == 0 {
		return fieldErr("data", "is required")
	}
	if bytes.Equal(d, []byte("null")) {
		return fieldErr("data", "must not be null")
	}
	if !utf8.Valid(d) {
		return fieldErr("data", "must be valid UTF-8")
	}
	if jsonDepth(d) > MaxDataDepth {
		return fieldErr("data", "must not nest arrays and objects more than %d levels deep", MaxDataDepth)
	}
	return nil
}

// ValidateFields checks the id, tenant and type of an event, not its data
// (Validate does both): what a stage checks again cheaply, on every
// attempt, of an event that was validated whole once.
func (ev *Event) ValidateFields() error {
	if ev.ID != "" {
		if err := checkText("id", ev.ID, MaxIDLen); err != nil {
			return err
		}
	}
	if ev.OrderingKey != "" {
		if err := checkText("ordering_key", ev.OrderingKey, MaxOrderingKeyLen); err != nil {
			return err
		}
	}
	if ev.EndpointID != "" && (len(ev.EndpointID) > MaxIDLen || !isName(ev.EndpointID, false)) {
		return fieldErr("endpoint_id", "must be an endpoint id")
	}
	if ev.Tenant == "" {
		return fieldErr("tenant", "is required")
	}
	if len(ev.Tenant) > MaxTenantLen || !isName(ev.Tenant, false) {
		return fieldErr("tenant", "must be 1 to %d letters, digits, '_', '-' or '.'", MaxTenantLen)
	}
	return ValidateType(ev.Type)
}

// ValidateType checks an event type: dot-separated segments of letters,
// digits, '_' and '-'.
func ValidateType(t string) error {
	if t == "" {
		return fieldErr("type", "is required")
	}
	if len(t) > MaxTypeLen || !isName(t, true) {
		return fieldErr("type", "must be 1 to %d letters, digits, '_' or '-', in segments separated by '.'", MaxTypeLen)
	}
	return nil
}

func isName(s string, dotted bool) bool {
	prevDot := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			prevDot = false
		case c == '.':
			if dotted && prevDot {
				return false // empty segment
			}
			prevDot = true
		default:
			return false
		}
	}
	return !(dotted && prevDot)
}

func checkText(field, s string, max int) error {
	if len(s) > max {
		return fieldErr(field, "must be at most %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return fieldErr(field, "must be valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fieldErr(field, "must not contain control characters")
		}
	}
	return nil
}

// OrderKey is the key an event's deliveries are ordered by: its ordering
// key when set, else its type.
func (ev *Event) OrderKey() string {
	if ev.OrderingKey != "" {
		return ev.OrderingKey
	}
	return ev.Type
}

// RecordOrderingKey is the ordering key a Kafka record key gives an event
// of tenant that sets none: "" for no key, or for a key equal to the tenant
// (hookstream's producer and API key records by tenant, for partitioning);
// the key itself when it is clean text of at most MaxOrderingKeyLen bytes;
// otherwise "sha256:" and the hex of its hash, so that any bytes make a
// bounded, printable key and distinct keys stay distinct.
func RecordOrderingKey(key []byte, tenant string) string {
	if len(key) == 0 || string(key) == tenant {
		return ""
	}
	if checkText("key", string(key), MaxOrderingKeyLen) == nil {
		return string(key)
	}
	sum := sha256.Sum256(key)
	return "sha256:" + hex.EncodeToString(sum[:])
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns prefix + 26 characters of crypto-random base32.
func NewID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand.Read panics rather than erring
	return prefix + idEncoding.EncodeToString(b[:])
}

// DerivedEventID names an event published to the topic without an id after
// its position, so that re-reading the record after a crash yields the same
// id and the dedupe gate recognises it.
func DerivedEventID(topic string, partition int32, offset int64) string {
	return StableID("evt_", topic, strconv.Itoa(int(partition)), strconv.FormatInt(offset, 10))
}

// DeliveryID is the stable id of the delivery of one event to one endpoint:
// the webhook-id a receiver sees on every attempt, retry and replay.
func DeliveryID(tenant, eventID, endpointID string) string {
	return StableID("msg_", tenant, eventID, endpointID)
}

// StableID returns prefix + 26 base32 characters of a hash of the parts:
// the same parts always give the same id.
func StableID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + idEncoding.EncodeToString(h.Sum(nil)[:16])
}

// Claim is an event with the position of the record it was read from, as
// the dispatcher hands it to the dedupe gate.
type Claim struct {
	Event Event
	// Topic is the source topic the record was read from; "" for the
	// events topic (and its bulk lane).
	Topic     string
	Partition int32
	Offset    int64
}

// StoredEvent is an event as the dedupe gate recorded it.
type StoredEvent struct {
	Event
	ReceivedAt time.Time
}

// EventFilter selects events of a tenant; empty fields match all. Results
// come newest first (by created_at, then id); Before continues a listing.
type EventFilter struct {
	Tenant       string
	Type         string
	Since, Until *time.Time // Since <= created_at < Until
	Before       *Cursor
	Limit        int
	// MaxBytes, when positive, bounds a page by its data too: an event is
	// listed only while the data of those before it holds less than
	// MaxBytes, so a page holds at most MaxBytes plus one event's data,
	// and at least one event.
	MaxBytes int
}

package schema

import (
	"encoding/json"
	"time"
)

// SharedTenant is the Tenant of a shared event type: one the administrator
// declared for every tenant. A tenant's own type of the same name takes
// its place for that tenant.
const SharedTenant = ""

// Limits of the event-type catalog.
const (
	// MaxTypeSchemaBytes bounds an event type's JSON Schema, and
	// MaxTypeExampleBytes its example payload.
	MaxTypeSchemaBytes  = 32 << 10
	MaxTypeExampleBytes = 32 << 10
	// MaxTypeSchemaDepth bounds how deep a schema nests objects and arrays.
	MaxTypeSchemaDepth = 32
	// MaxTypeDescription bounds a description, in bytes.
	MaxTypeDescription = 1024
)

// EventType is an entry of the event-type catalog: a name events are
// published under, what it means, and optionally the JSON Schema its data
// follows.
type EventType struct {
	Tenant      string // SharedTenant for a shared type
	Name        string
	Description string
	// Schema is a JSON Schema (draft 2020-12 unless it says otherwise) for
	// the events' data; nil when the type has none.
	Schema json.RawMessage
	// Example is an example of the data, valid against Schema; nil when
	// there is none.
	Example    json.RawMessage
	Deprecated bool
	// Validate makes events of this type be checked against Schema even
	// where validation is not on for every type.
	Validate  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Shared reports whether the type is shared by every tenant.
func (t *EventType) Shared() bool { return t.Tenant == SharedTenant }

// EventTypeUpdate changes the fields of an event type that are set.
// ClearSchema and ClearExample remove them.
type EventTypeUpdate struct {
	Description  *string
	Schema       json.RawMessage
	ClearSchema  bool
	Example      json.RawMessage
	ClearExample bool
	Deprecated   *bool
	Validate     *bool
}

// Apply returns t with u applied.
func (u EventTypeUpdate) Apply(t EventType) EventType {
	if u.Description != nil {
		t.Description = *u.Description
	}
	switch {
	case u.ClearSchema:
		t.Schema = nil
	case u.Schema != nil:
		t.Schema = u.Schema
	}
	switch {
	case u.ClearExample:
		t.Example = nil
	case u.Example != nil:
		t.Example = u.Example
	}
	if u.Deprecated != nil {
		t.Deprecated = *u.Deprecated
	}
	if u.Validate != nil {
		t.Validate = *u.Validate
	}
	return t
}

// SchemaError is an event's data failing its type's JSON Schema: where
// (a JSON Pointer into the data, "" for the whole value) and why.
type SchemaError struct {
	Type    string
	Pointer string
	Reason  string
}

func (e *SchemaError) Error() string {
	at := e.Pointer
	if at == "" {
		at = "/"
	}
	return "data: does not match the schema of event type " + quote(e.Type) + " at " + quote(at) + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalidEvent) hold.
func (e *SchemaError) Unwrap() error { return ErrInvalidEvent }

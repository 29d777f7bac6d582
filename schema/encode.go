package schema

import (
	"encoding/json"
	"time"
)

// encoding/json compacts and HTML-escapes a json.RawMessage it writes, which
// would change the bytes an endpoint receives. Events and tasks are
// therefore encoded with their data spliced in verbatim; decoding into a
// json.RawMessage keeps the bytes as they are.

type eventHead struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
}

// EncodeEvent returns the JSON of an event with its data byte for byte.
func EncodeEvent(ev Event) []byte {
	head, _ := json.Marshal(eventHead{ID: ev.ID, Tenant: ev.Tenant, Type: ev.Type, CreatedAt: ev.CreatedAt})
	return spliceField(head, "data", ev.Data)
}

type taskHead struct {
	V          int    `json:"v"`
	DeliveryID string `json:"delivery_id"`
	EndpointID string `json:"endpoint_id"`
	Attempt    int    `json:"attempt"`
	Tier       int    `json:"tier,omitempty"`
	// EndpointVersion as in Task.
	EndpointVersion time.Time `json:"endpoint_version,omitzero"`
}

// EncodeTask returns the JSON of a task, its event's data byte for byte.
func EncodeTask(t Task) []byte {
	head, _ := json.Marshal(taskHead{V: t.V, DeliveryID: t.DeliveryID, EndpointID: t.EndpointID, Attempt: t.Attempt, Tier: t.Tier,
		EndpointVersion: t.EndpointVersion})
	return spliceField(head, "event", EncodeEvent(t.Event))
}

// spliceField appends "name":raw to the JSON object obj. raw must be valid
// JSON (events are validated before they are encoded).
func spliceField(obj []byte, name string, raw []byte) []byte {
	if len(raw) == 0 {
		raw = []byte("null")
	}
	out := make([]byte, 0, len(obj)+len(name)+len(raw)+4)
	out = append(out, obj[:len(obj)-1]...)
	out = append(out, `,"`...)
	out = append(out, name...)
	out = append(out, `":`...)
	out = append(out, raw...)
	return append(out, '}')
}

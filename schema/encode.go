package schema

import (
	"encoding/json"
)

// encoding/json compacts and HTML-escapes a json.RawMessage it writes, which
// would change the bytes an endpoint receives. Events and tasks are
// therefore encoded with their data spliced in verbatim; decoding into a
// json.RawMessage keeps the bytes as they are.

// EncodeEvent returns the JSON of an event with its data byte for byte.
func EncodeEvent(ev Event) []byte {
	head, _ := json.Marshal(struct {
		Event
		Data *struct{} `json:"data,omitempty"` // hides Event.Data: spliced in below
	}{Event: ev})
	return spliceField(head, "data", ev.Data)
}

// EncodeTask returns the JSON of a task, its event's data byte for byte.
func EncodeTask(t Task) []byte {
	head, _ := json.Marshal(struct {
		Task
		Event *struct{} `json:"event,omitempty"` // hides Task.Event: spliced in below
	}{Task: t})
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

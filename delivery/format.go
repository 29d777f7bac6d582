package delivery

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
)

// Payload formats: what the body (and, for CloudEvents binary mode, some
// headers) of a webhook request look like. Every format's body is signed
// as it is sent.
const (
	// FormatData sends the event's data as the body, byte for byte.
	FormatData = "data"
	// FormatStandardWebhooks sends the payload structure the Standard
	// Webhooks specification recommends: {"type", "timestamp", "data"},
	// timestamp being when the event occurred.
	FormatStandardWebhooks = "standard-webhooks"
	// FormatCloudEventsBinary is the CloudEvents 1.0 HTTP binding's binary
	// mode: the context attributes in ce-* headers, the data as the body
	// (Content-Type: its datacontenttype).
	FormatCloudEventsBinary = "cloudevents-binary"
	// FormatCloudEventsStructured is the HTTP binding's structured mode:
	// the whole event in the JSON event format, Content-Type
	// application/cloudevents+json.
	FormatCloudEventsStructured = "cloudevents-structured"
)

// Formats lists the payload formats, FormatData (the default) first.
var Formats = []string{FormatData, FormatStandardWebhooks, FormatCloudEventsBinary, FormatCloudEventsStructured}

// ValidFormat reports whether f is one of Formats.
func ValidFormat(f string) bool { return slices.Contains(Formats, f) }

// Message is an event as a webhook carries it, before a payload format
// shapes it. The CloudEvents formats use every field; the others ID, Type,
// Time and Data.
type Message struct {
	ID   string    // CloudEvents id
	Type string    // the event type; CloudEvents type
	Time time.Time // when the event occurred; CloudEvents time
	Data []byte    // JSON
	// Source is the CloudEvents source (a URI-reference); with ID it
	// identifies the event.
	Source string
	// Subject and DataSchema are the optional CloudEvents attributes of
	// those names; empty when absent.
	Subject    string
	DataSchema string
	// DataContentType is the data's media type; "" means
	// application/json.
	DataContentType string
	// Extensions are CloudEvents extension attributes, by name (lower-case
	// letters and digits), as strings.
	Extensions map[string]string
}

// Header is one HTTP header a payload format sets.
type Header struct{ Name, Value string }

// Payload is a message shaped by a payload format: the exact bytes sent,
// their Content-Type, and headers of the format (CloudEvents binary mode's
// ce-* ones).
type Payload struct {
	Body        []byte
	ContentType string
	Headers     []Header
}

// CloudEvents media types.
const (
	contentTypeJSON       = "application/json"
	contentTypeCloudEvent = "application/cloudevents+json; charset=UTF-8"
	ceSpecVersion         = "1.0"
)

// Encode shapes m in format f (an unknown format is FormatData). It
// assumes m.Data is valid JSON: the formats that embed it do not check.
func Encode(f string, m Message) Payload {
	ct := m.DataContentType
	if ct == "" {
		ct = contentTypeJSON
	}
	switch f {
	case FormatStandardWebhooks:
		b := make([]byte, 0, len(m.Data)+len(m.Type)+64)
		b = append(b, `{"type":`...)
		b = appendString(b, m.Type)
		b = append(b, `,"timestamp":`...)
		b = appendString(b, m.Time.UTC().Format(time.RFC3339Nano))
		b = append(b, `,"data":`...)
		b = append(b, m.Data...)
		b = append(b, '}')
		return Payload{Body: b, ContentType: contentTypeJSON}
	case FormatCloudEventsStructured:
		b := make([]byte, 0, len(m.Data)+256)
		b = append(b, `{"specversion":"`+ceSpecVersion+`"`...)
		for _, a := range m.attributes(ct) {
			b = append(b, ',')
			b = appendString(b, a.Name)
			b = append(b, ':')
			b = appendString(b, a.Value)
		}
		b = append(b, `,"data":`...)
		b = append(b, m.Data...)
		b = append(b, '}')
		return Payload{Body: b, ContentType: contentTypeCloudEvent}
	case FormatCloudEventsBinary:
		attrs := m.attributes("")
		h := make([]Header, 0, len(attrs)+1)
		h = append(h, Header{"ce-specversion", ceSpecVersion})
		for _, a := range attrs {
			h = append(h, Header{"ce-" + a.Name, percentEncode(a.Value)})
		}
		return Payload{Body: m.Data, ContentType: ct, Headers: h}
	}
	return Payload{Body: m.Data, ContentType: contentTypeJSON}
}

// Attributes returns m's CloudEvents context attributes and extensions by
// name, as the CloudEvents formats send them (specversion included, data
// not).
func (m Message) Attributes() map[string]string {
	ct := m.DataContentType
	if ct == "" {
		ct = contentTypeJSON
	}
	attrs := m.attributes(ct)
	out := make(map[string]string, len(attrs)+1)
	out["specversion"] = ceSpecVersion
	for _, a := range attrs {
		out[a.Name] = a.Value
	}
	return out
}

// attributes lists m's CloudEvents context attributes but specversion and
// data, in a fixed order: the required ones, the optional ones present,
// then the extensions by name. datacontenttype is listed when ct is not
// "" (binary mode carries it in Content-Type instead).
func (m Message) attributes(ct string) []Header {
	out := make([]Header, 0, 8+len(m.Extensions))
	out = append(out, Header{"id", m.ID}, Header{"source", m.Source}, Header{"type", m.Type})
	if !m.Time.IsZero() {
		out = append(out, Header{"time", m.Time.UTC().Format(time.RFC3339Nano)})
	}
	if ct != "" {
		out = append(out, Header{"datacontenttype", ct})
	}
	if m.Subject != "" {
		out = append(out, Header{"subject", m.Subject})
	}
	if m.DataSchema != "" {
		out = append(out, Header{"dataschema", m.DataSchema})
	}
	for _, k := range slices.Sorted(maps.Keys(m.Extensions)) {
		switch k {
		case "specversion", "id", "source", "type", "time", "datacontenttype", "subject", "dataschema", "data", "data_base64":
			continue // never let an extension pass for a context attribute
		}
		out = append(out, Header{k, m.Extensions[k]})
	}
	return out
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// percentEncode encodes a CloudEvents attribute value for an HTTP header,
// as the HTTP binding says (3.1.3.2): space, '"', '%' and every byte
// outside printable ASCII as %XX of its UTF-8 bytes.
func percentEncode(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

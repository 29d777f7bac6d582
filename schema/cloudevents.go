package schema

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// CloudEvent holds the context attributes of an event that arrived as a
// CloudEvent (https://cloudevents.io, version 1.0), so that what goes out
// can carry them again. The event's Type is the CloudEvent's type, its
// CreatedAt the time attribute when present, its Data the data; its ID is
// derived from Source and ID (CloudEventID), and its Tenant comes from the
// extension attribute "tenant" or from the rules of the source that read
// it. Every field is the attribute's canonical string encoding.
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time,omitzero"`
	DataContentType string    `json:"datacontenttype,omitempty"`
	DataSchema      string    `json:"dataschema,omitempty"`
	// Extensions are the extension attributes, by name (lower-case
	// letters and digits), tenant and traceparent among them.
	Extensions map[string]string `json:"extensions,omitempty"`
}

// The CloudEvents Kafka protocol binding, version 1.0.
const (
	// CloudEventsVersion is the only specversion hookstream reads.
	CloudEventsVersion = "1.0"
	// CloudEventsHeaderPrefix starts the header of each attribute in
	// binary mode: ce_id, ce_source, ce_tenant...
	CloudEventsHeaderPrefix = "ce_"
	// CloudEventsMediaType starts the content-type of a record in
	// structured mode; hookstream reads the JSON event format
	// (application/cloudevents+json).
	CloudEventsMediaType = "application/cloudevents"
	// HeaderContentType is the record header that tells the modes apart
	// and, in binary mode, holds datacontenttype.
	HeaderContentType = "content-type"
	// TenantAttribute is the extension attribute that names an event's
	// tenant (header ce_tenant in binary mode).
	TenantAttribute = "tenant"
)

// Limits on a CloudEvent's attributes, which travel with each of its
// delivery tasks.
const (
	MaxAttributeLen      = 2048 // bytes of one attribute's value
	MaxAttributeNameLen  = 64   // bytes of an extension attribute's name
	MaxCloudEventExtends = 32   // extension attributes of one event
)

// CloudEventMode is how a record carries a CloudEvent, if it does.
type CloudEventMode int

// The content modes of the Kafka protocol binding (§1.3).
const (
	NotCloudEvent  CloudEventMode = iota
	BinaryMode                    // attributes in ce_ headers, data in the value
	StructuredMode                // the whole event in the value, in an event format
)

// CloudEventModeOf tells the content mode of a record by its headers (§3):
// a content-type that starts with application/cloudevents (in any case) is
// structured mode; otherwise a ce_specversion header is binary mode (the
// binding's "probably a CloudEvent": the other attributes are then
// required); otherwise the record is not a CloudEvent.
func CloudEventModeOf(headers []Header) CloudEventMode {
	binary := false
	for _, h := range headers {
		switch h.Key {
		case HeaderContentType:
			if len(h.Value) >= len(CloudEventsMediaType) && strings.EqualFold(string(h.Value[:len(CloudEventsMediaType)]), CloudEventsMediaType) {
				return StructuredMode
			}
		case CloudEventsHeaderPrefix + "specversion":
			binary = true
		}
	}
	if binary {
		return BinaryMode
	}
	return NotCloudEvent
}

// CloudEventID is the id hookstream gives the event of a CloudEvent: the
// same source and id always give the same id, so that a CloudEvent
// published twice is delivered once (per tenant), wherever it was read.
func CloudEventID(source, id string) string {
	// "cloudevents/1.0" can be no topic's name ('/' is not allowed
	// there): no CloudEvent shares an id with an event named after its
	// position (DerivedEventID).
	return StableID("evt_", "cloudevents/1.0", source, id)
}

// DecodeCloudEvent reads the CloudEvent a record carries in the given mode
// (CloudEventModeOf). It checks the binding's and the specification's
// rules and hookstream's (the type is a valid event type; data is JSON)
// and returns the event with ID, Type, Data, CreatedAt (zero without a
// time attribute) and CloudEvent set, and Tenant from the tenant extension
// attribute (empty without one: the caller fills it or refuses the
// event, see Event.Validate).
func DecodeCloudEvent(mode CloudEventMode, headers []Header, value []byte) (Event, error) {
	var (
		ce   CloudEvent
		typ  string
		data []byte
		err  error
	)
	switch mode {
	case BinaryMode:
		typ, data, err = readBinary(&ce, headers, value)
	case StructuredMode:
		typ, data, err = readStructured(&ce, headers, value)
	default:
		return Event{}, fieldErr("value", "not a CloudEvent")
	}
	if err != nil {
		return Event{}, err
	}
	ev := Event{ID: CloudEventID(ce.Source, ce.ID), Type: typ, Data: data, CreatedAt: ce.Time, Tenant: ce.Extensions[TenantAttribute]}
	if len(ce.Extensions) == 0 {
		ce.Extensions = nil
	}
	ev.CloudEvent = &ce
	return ev, nil
}

// attrs gathers a CloudEvent's attributes, each once, by name.
type attrs struct {
	ce     *CloudEvent
	typ    string
	field  func(name string) string // how errors name an attribute
	seen   map[string]bool
	nExt   int
	hasCT  bool
	ctName string
}

func (a *attrs) set(name, v string) error {
	f := a.field(name)
	if a.seen[name] {
		return fieldErr(f, "appears more than once (a context attribute MUST appear at most once)")
	}
	a.seen[name] = true
	if !validAttributeName(name) {
		return fieldErr(f, "is not a CloudEvents attribute name (lower-case letters a-z and digits, at most %d)", MaxAttributeNameLen)
	}
	if err := checkAttribute(f, v); err != nil {
		return err
	}
	switch name {
	case "specversion":
		if v != CloudEventsVersion {
			return fieldErr(f, "unsupported version %q: hookstream reads CloudEvents %s", v, CloudEventsVersion)
		}
		a.ce.SpecVersion = v
	case "id":
		a.ce.ID = v
	case "source":
		if _, err := url.Parse(v); err != nil {
			return fieldErr(f, "must be a URI-reference")
		}
		a.ce.Source = v
	case "type":
		a.typ = v
	case "subject":
		a.ce.Subject = v
	case "time":
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return fieldErr(f, "must be an RFC 3339 time")
		}
		a.ce.Time = t
	case "datacontenttype":
		if _, _, err := mime.ParseMediaType(v); err != nil {
			return fieldErr(f, "must be a media type (RFC 2046)")
		}
		a.ce.DataContentType = v
	case "dataschema":
		if u, err := url.Parse(v); err != nil || !u.IsAbs() {
			return fieldErr(f, "must be an absolute URI")
		}
		a.ce.DataSchema = v
	case "data", "data_base64":
		return fieldErr(f, "is not an attribute: the name is reserved for the event's data")
	default:
		a.nExt++
		if a.nExt > MaxCloudEventExtends {
			return fieldErr(f, "one extension attribute too many: at most %d", MaxCloudEventExtends)
		}
		if a.ce.Extensions == nil {
			a.ce.Extensions = map[string]string{}
		}
		a.ce.Extensions[name] = v
	}
	return nil
}

// done checks that the required attributes are there.
func (a *attrs) done() error {
	for _, req := range []string{"specversion", "id", "source", "type"} {
		if !a.seen[req] {
			return fieldErr(a.field(req), "is required")
		}
	}
	if err := ValidateType(a.typ); err != nil {
		return fieldErr(a.field("type"), "%s", err.(*FieldError).Reason)
	}
	if t := a.ce.Extensions[TenantAttribute]; t != "" && (len(t) > MaxTenantLen || !isName(t, false)) {
		return fieldErr(a.field(TenantAttribute), "must be 1 to %d letters, digits, '_', '-' or '.'", MaxTenantLen)
	}
	return nil
}

func validAttributeName(n string) bool {
	if n == "" || len(n) > MaxAttributeNameLen {
		return false
	}
	if n == "data_base64" {
		return true // refused by name in set, with a better reason
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// checkAttribute applies the type system's String rules (§Type System):
// non-empty (every attribute hookstream reads must be), UTF-8, no control
// characters, no noncharacters; and hookstream's bound on its size.
func checkAttribute(field, v string) error {
	if v == "" {
		return fieldErr(field, "must not be empty")
	}
	if len(v) > MaxAttributeLen {
		return fieldErr(field, "must be at most %d bytes", MaxAttributeLen)
	}
	if !utf8.ValidString(v) {
		return fieldErr(field, "must be valid UTF-8")
	}
	for _, r := range v {
		switch {
		case r < 0x20, r >= 0x7f && r <= 0x9f:
			return fieldErr(field, "must not contain control characters")
		case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
			return fieldErr(field, "must not contain Unicode noncharacters")
		}
	}
	return nil
}

// readBinary reads binary mode (§3.2): every attribute from its ce_
// header, datacontenttype from content-type, data from the value.
func readBinary(ce *CloudEvent, headers []Header, value []byte) (typ string, data []byte, err error) {
	a := attrs{ce: ce, seen: map[string]bool{}, field: func(n string) string { return CloudEventsHeaderPrefix + n }}
	var contentType *Header
	for i := range headers {
		h := &headers[i]
		if h.Key == HeaderContentType {
			if contentType != nil {
				return "", nil, fieldErr(HeaderContentType, "appears more than once")
			}
			contentType = h
			continue
		}
		name, ok := strings.CutPrefix(h.Key, CloudEventsHeaderPrefix)
		if !ok {
			continue
		}
		if !utf8.ValidString(h.Key) {
			return "", nil, fieldErr("header "+CleanText(h.Key), "name must be valid UTF-8")
		}
		if name == "datacontenttype" {
			// content-type is datacontenttype in binary mode (§3.2.1);
			// a ce_datacontenttype header counts only without it.
			if err := checkAttribute(h.Key, string(h.Value)); err != nil {
				return "", nil, err
			}
			continue
		}
		if err := a.set(name, string(h.Value)); err != nil {
			return "", nil, err
		}
	}
	if err := a.done(); err != nil {
		return "", nil, err
	}
	ct := ""
	if contentType != nil {
		ct = string(contentType.Value)
		if err := checkAttribute(HeaderContentType, ct); err != nil {
			return "", nil, err
		}
	} else {
		for _, h := range headers {
			if h.Key == CloudEventsHeaderPrefix+"datacontenttype" {
				ct = string(h.Value)
			}
		}
	}
	if ct != "" {
		if err := a.set("datacontenttype", ct); err != nil {
			if contentType != nil {
				return "", nil, fieldErr(HeaderContentType, "%s", err.(*FieldError).Reason)
			}
			return "", nil, err
		}
		if !jsonMediaType(ct) {
			return "", nil, fieldErr(HeaderContentType, "%q is not JSON: hookstream delivers JSON data (application/json, */json or */*+json)", ct)
		}
	}
	if len(bytes.TrimSpace(value)) == 0 {
		return "", nil, fieldErr("value", "is empty: hookstream delivers the event's data, and a CloudEvent without data has none")
	}
	if !jsontext.Value(value).IsValid() {
		return "", nil, fieldErr("value", "not valid JSON (binary mode: the value is the data)")
	}
	return a.typ, value, nil
}

// readStructured reads structured mode (§3.3) in the JSON event format:
// the value is the whole event; ce_ headers, which the binding lets a
// publisher add, are ignored. Other event formats are refused.
func readStructured(ce *CloudEvent, headers []Header, value []byte) (typ string, data []byte, err error) {
	for _, h := range headers {
		if h.Key != HeaderContentType {
			continue
		}
		mt, _, err := mime.ParseMediaType(string(h.Value))
		if err != nil {
			return "", nil, fieldErr(HeaderContentType, "must be a media type (RFC 2046)")
		}
		if mt != CloudEventsMediaType+"+json" {
			return "", nil, fieldErr(HeaderContentType, "%q: hookstream reads the JSON event format (application/cloudevents+json), in structured mode only", CleanText(mt))
		}
	}
	var members map[string]jsontext.Value
	// json/v2's defaults: duplicate names and invalid UTF-8 are errors.
	if err := jsonv2.Unmarshal(value, &members); err != nil || members == nil {
		return "", nil, fieldErr("value", "must be a JSON object (structured mode: application/cloudevents+json)")
	}
	a := attrs{ce: ce, seen: map[string]bool{}, field: func(n string) string { return n }}
	var raw, raw64 jsontext.Value
	for name, v := range members {
		switch name {
		case "data":
			raw = v
			continue
		case "data_base64":
			raw64 = v
			continue
		}
		if v.Kind() == 'n' {
			continue // null: unset (JSON format §2.2)
		}
		if coreAttribute(name) && v.Kind() != '"' {
			return "", nil, fieldErr(name, "must be a JSON string")
		}
		s, err := canonical(v)
		if err != nil {
			return "", nil, fieldErr(CleanText(name), "%s", err)
		}
		if err := a.set(name, s); err != nil {
			return "", nil, err
		}
	}
	if err := a.done(); err != nil {
		return "", nil, err
	}
	if ct := ce.DataContentType; ct != "" && !jsonMediaType(ct) {
		return "", nil, fieldErr("datacontenttype", "%q is not JSON: hookstream delivers JSON data (application/json, */json or */*+json)", ct)
	}
	switch {
	case raw != nil && raw64 != nil:
		return "", nil, fieldErr("data", "data and data_base64 are mutually exclusive")
	case raw64 != nil:
		var s string
		if err := jsonv2.Unmarshal(raw64, &s); err != nil {
			return "", nil, fieldErr("data_base64", "must be a JSON string")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", nil, fieldErr("data_base64", "must be base64 (RFC 4648)")
		}
		if !jsontext.Value(b).IsValid() {
			return "", nil, fieldErr("data_base64", "the data is not valid JSON: hookstream delivers JSON data")
		}
		return a.typ, b, nil
	case raw == nil || raw.Kind() == 'n':
		return "", nil, fieldErr("data", "is required: hookstream delivers the event's data, and a CloudEvent without data has none")
	}
	return a.typ, bytes.TrimSpace(raw), nil
}

func coreAttribute(name string) bool {
	switch name {
	case "specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema":
		return true
	}
	return false
}

// canonical returns an attribute's canonical string encoding from its JSON
// value: a string as it is, an Integer's digits, a Boolean's true or false.
func canonical(v jsontext.Value) (string, error) {
	switch v.Kind() {
	case '"':
		var s string
		if err := jsonv2.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("must be a valid JSON string")
		}
		return s, nil
	case '0':
		n, err := strconv.ParseInt(string(v), 10, 32)
		if err != nil {
			return "", fmt.Errorf("must be a string, a boolean or an integer from -2147483648 to 2147483647")
		}
		return strconv.FormatInt(n, 10), nil
	case 't':
		return "true", nil
	case 'f':
		return "false", nil
	}
	return "", fmt.Errorf("must be a string, a boolean or an integer, not a JSON %s", map[jsontext.Kind]string{'{': "object", '[': "array"}[v.Kind()])
}

// jsonMediaType reports whether a media type declares JSON: */json or
// */*+json, parameters aside (JSON event format §3.1).
func jsonMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	_, sub, ok := strings.Cut(mt, "/")
	return ok && (sub == "json" || strings.HasSuffix(sub, "+json"))
}

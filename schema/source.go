package schema

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Source is a topic (or the topics a pattern matches) that hookstream reads
// as it is: each record becomes an event by the source's rules, and goes
// through the same dedupe gate and fan-out as the events topic. A source
// is read by a consumer group of its own (named after its id), from the
// start of its topics or from their end (Start). Sources do not change:
// to change one, delete it and create another.
type Source struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Topic is the one topic read, or TopicPattern a regular expression
	// (RE2, matched against whole topic names) of the topics read:
	// exactly one is set.
	Topic        string `json:"topic,omitempty"`
	TopicPattern string `json:"topic_pattern,omitempty"`
	// The rules that read an event off a record (see SourceRule). A
	// record that is a CloudEvent (CloudEventModeOf) is read as one
	// instead: its type, id and data are its own; Tenant, when set, gives
	// its tenant, else its tenant extension attribute does.
	Tenant *SourceRule `json:"tenant,omitempty"`
	Type   *SourceRule `json:"type,omitempty"`
	// EventID defaults to the record's position (topic, partition,
	// offset), Data to the whole value.
	EventID *SourceRule `json:"event_id,omitempty"`
	Data    *SourceRule `json:"data,omitempty"`
	// OrderingKey, when set, gives the event's ordering key (see
	// docs/ordering.md), CloudEvents included; without it the record key
	// does, as on the events topic.
	OrderingKey *SourceRule `json:"ordering_key,omitempty"`
	// Start is where a new source starts reading: "earliest" (every
	// record the topics hold) or "latest" (records published from now).
	Start     string    `json:"start"`
	CreatedAt time.Time `json:"created_at"`
}

// SourceRule says where one field of the event is read from a record.
type SourceRule struct {
	// From is one of the SourceFrom values; each field allows some.
	From SourceFrom `json:"from"`
	// Value is the fixed value (From "fixed").
	Value string `json:"value,omitempty"`
	// Header names the record header (From "header").
	Header string `json:"header,omitempty"`
	// Pointer is an RFC 6901 JSON pointer into the record's value (From
	// "pointer"), "" for the whole value.
	Pointer string `json:"pointer,omitempty"`
}

// SourceFrom is where a rule reads its field.
type SourceFrom string

// Where rules read.
const (
	FromFixed    SourceFrom = "fixed"    // a value in the rule: tenant, type
	FromHeader   SourceFrom = "header"   // a record header: tenant, type, id
	FromPointer  SourceFrom = "pointer"  // a JSON pointer into the value: tenant, type, id, data
	FromKey      SourceFrom = "key"      // the record key: id
	FromPosition SourceFrom = "position" // topic/partition/offset: id
	FromValue    SourceFrom = "value"    // the whole value: data
)

// Source starts.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Limits of a source's definition.
const (
	MaxTopicLen   = 249 // Kafka's own limit
	MaxPatternLen = 1024
	MaxHeaderName = 256
	MaxPointerLen = 1024
	MaxNameLen    = 200
)

var sourceFields = []struct {
	name  string
	get   func(*Source) *SourceRule
	allow []SourceFrom
}{
	{"tenant", func(s *Source) *SourceRule { return s.Tenant }, []SourceFrom{FromFixed, FromHeader, FromPointer}},
	{"type", func(s *Source) *SourceRule { return s.Type }, []SourceFrom{FromFixed, FromHeader, FromPointer}},
	{"event_id", func(s *Source) *SourceRule { return s.EventID }, []SourceFrom{FromHeader, FromKey, FromPointer, FromPosition}},
	{"data", func(s *Source) *SourceRule { return s.Data }, []SourceFrom{FromValue, FromPointer}},
	{"ordering_key", func(s *Source) *SourceRule { return s.OrderingKey }, []SourceFrom{FromFixed, FromHeader, FromPointer}},
}

// maxFixedValue bounds a rule's fixed value (the API's SourceRule.value).
const maxFixedValue = 128

// Validate checks a source's definition; the error is a *FieldError naming
// the field ("topic", "tenant.pointer", ...). reserved, when not empty, is
// the prefix of hookstream's own topics, which no source may name.
func (s *Source) Validate(reserved string) error {
	if len(s.Name) > MaxNameLen || CleanText(s.Name) != s.Name {
		return fieldErr("name", "must be at most %d bytes of UTF-8 text", MaxNameLen)
	}
	switch {
	case s.Topic == "" && s.TopicPattern == "":
		return fieldErr("topic", "one of topic and topic_pattern is required")
	case s.Topic != "" && s.TopicPattern != "":
		return fieldErr("topic_pattern", "topic and topic_pattern are mutually exclusive")
	case s.Topic != "":
		if !validTopic(s.Topic) {
			return fieldErr("topic", "must be a Kafka topic name: 1 to %d letters, digits, '.', '_' or '-'", MaxTopicLen)
		}
		if reserved != "" && strings.HasPrefix(s.Topic, reserved) {
			return fieldErr("topic", "names one of hookstream's own topics (prefix %q)", reserved)
		}
	default:
		if len(s.TopicPattern) > MaxPatternLen || !utf8.ValidString(s.TopicPattern) {
			return fieldErr("topic_pattern", "must be at most %d bytes of UTF-8", MaxPatternLen)
		}
		if _, err := regexp.Compile(s.TopicPattern); err != nil {
			return fieldErr("topic_pattern", "not a regular expression (RE2): %s", CleanText(err.Error()))
		}
		if reserved != "" && regexp.MustCompile(s.TopicRegexp()).MatchString(reserved+"events") {
			return fieldErr("topic_pattern", "matches hookstream's own topics (prefix %q)", reserved)
		}
	}
	switch s.Start {
	case StartEarliest, StartLatest:
	default:
		return fieldErr("start", "must be %q or %q", StartEarliest, StartLatest)
	}
	for _, f := range sourceFields {
		r := f.get(s)
		if r == nil {
			continue
		}
		ok := false
		for _, a := range f.allow {
			ok = ok || r.From == a
		}
		if !ok {
			names := make([]string, len(f.allow))
			for i, a := range f.allow {
				names[i] = strconv.Quote(string(a))
			}
			return fieldErr(f.name+".from", "must be one of %s", strings.Join(names, ", "))
		}
		if err := r.validate(f.name); err != nil {
			return err
		}
	}
	return nil
}

func (r *SourceRule) validate(field string) error {
	set := map[string]bool{"value": r.Value != "", "header": r.Header != "", "pointer": r.Pointer != ""}
	need := map[SourceFrom]string{FromFixed: "value", FromHeader: "header", FromPointer: "pointer"}[r.From]
	for name, isSet := range set {
		if isSet && name != need {
			return fieldErr(field+"."+name, "does not go with from %q", r.From)
		}
	}
	switch r.From {
	case FromFixed:
		ev := Event{Tenant: "t", Type: "t"}
		switch field {
		case "tenant":
			ev.Tenant = r.Value
		case "ordering_key":
			if len(r.Value) > maxFixedValue {
				return fieldErr(field+".value", "must be at most %d bytes", maxFixedValue)
			}
			ev.OrderingKey = r.Value
		default:
			ev.Type = r.Value
		}
		if err := ev.ValidateFields(); err != nil {
			return fieldErr(field+".value", "%s", err.(*FieldError).Reason)
		}
	case FromHeader:
		if r.Header == "" || len(r.Header) > MaxHeaderName || CleanText(r.Header) != r.Header {
			return fieldErr(field+".header", "must be 1 to %d bytes of UTF-8 text", MaxHeaderName)
		}
	case FromPointer:
		// "" points at the whole value: a pointer is required for
		// tenant, type and id, which cannot be the whole value.
		if r.Pointer == "" && field != "data" {
			return fieldErr(field+".pointer", "is required")
		}
		if len(r.Pointer) > MaxPointerLen || !utf8.ValidString(r.Pointer) || !jsontext.Pointer(r.Pointer).IsValid() {
			return fieldErr(field+".pointer", "must be a JSON pointer (RFC 6901), such as /customer/tenant, at most %d bytes", MaxPointerLen)
		}
	}
	return nil
}

func validTopic(t string) bool {
	if t == "" || len(t) > MaxTopicLen || t == "." || t == ".." {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// TopicRegexp returns the pattern of the topics a source reads, anchored
// to whole names (franz-go's ConsumeRegex matches anywhere in a name).
func (s *Source) TopicRegexp() string { return "^(?:" + s.TopicPattern + ")$" }

// Record is a Kafka record as a source reads it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// Read turns a record into an event by the source's rules (a CloudEvent by
// the binding, see Source) and validates it. The error says which rule a
// record does not fit: "tenant: header x-tenant: missing".
func (s *Source) Read(r Record) (Event, error) {
	if mode := CloudEventModeOf(r.Headers); mode != NotCloudEvent {
		ev, err := DecodeCloudEvent(mode, r.Headers, r.Value)
		if err != nil {
			return ev, err
		}
		if s.Tenant != nil {
			if ev.Tenant, err = s.Tenant.text("tenant", r); err != nil {
				return ev, err
			}
		}
		if ev.Tenant == "" {
			return ev, fieldErr("tenant", "is required: the source has no tenant rule, and the CloudEvent no %s extension attribute", TenantAttribute)
		}
		if ev.CreatedAt.IsZero() {
			ev.CreatedAt = r.Timestamp.UTC()
		}
		if err := s.orderingKey(&ev, r); err != nil {
			return ev, err
		}
		return ev, ev.Validate()
	}
	var (
		ev  = Event{CreatedAt: r.Timestamp.UTC()}
		err error
	)
	if s.Tenant == nil {
		return ev, fieldErr("tenant", "is required: the source has no tenant rule (and the record is not a CloudEvent)")
	}
	if s.Type == nil {
		return ev, fieldErr("type", "is required: the source has no type rule (and the record is not a CloudEvent)")
	}
	if ev.Tenant, err = s.Tenant.text("tenant", r); err != nil {
		return ev, err
	}
	if ev.Type, err = s.Type.text("type", r); err != nil {
		return ev, err
	}
	id := &SourceRule{From: FromPosition}
	if s.EventID != nil {
		id = s.EventID
	}
	if ev.ID, err = id.text("id", r); err != nil {
		return ev, err
	}
	data := &SourceRule{From: FromValue}
	if s.Data != nil {
		data = s.Data
	}
	switch data.From {
	case FromValue:
		if len(bytes.TrimSpace(r.Value)) == 0 {
			return ev, fieldErr("data", "the value is empty")
		}
		if !jsontext.Value(r.Value).IsValid() {
			return ev, fieldErr("data", "the value is not valid JSON")
		}
		ev.Data = r.Value
	case FromPointer:
		v, err := pointerValue("data", r.Value, data.Pointer)
		if err != nil {
			return ev, err
		}
		ev.Data = []byte(v)
	}
	if err := s.orderingKey(&ev, r); err != nil {
		return ev, err
	}
	return ev, ev.Validate()
}

// orderingKey sets the event's ordering key by the source's rule, if it
// has one.
func (s *Source) orderingKey(ev *Event, r Record) error {
	if s.OrderingKey == nil {
		return nil
	}
	k, err := s.OrderingKey.text("ordering_key", r)
	if err != nil {
		return err
	}
	if k == "" {
		return fieldErr("ordering_key", "is empty")
	}
	ev.OrderingKey = k
	return nil
}

// text reads a rule's field as text.
func (rule *SourceRule) text(field string, r Record) (string, error) {
	switch rule.From {
	case FromFixed:
		return rule.Value, nil
	case FromHeader:
		var v []byte
		n := 0
		for _, h := range r.Headers {
			if h.Key == rule.Header {
				v, n = h.Value, n+1
			}
		}
		switch {
		case n == 0:
			return "", fieldErr(field, "header %s: missing", rule.Header)
		case n > 1:
			return "", fieldErr(field, "header %s: appears %d times", rule.Header, n)
		case !utf8.Valid(v):
			return "", fieldErr(field, "header %s: not valid UTF-8", rule.Header)
		}
		return string(v), nil
	case FromKey:
		if r.Key == nil {
			return "", fieldErr(field, "the record has no key")
		}
		if !utf8.Valid(r.Key) {
			return "", fieldErr(field, "the record key is not valid UTF-8")
		}
		return string(r.Key), nil
	case FromPosition:
		return DerivedEventID(r.Topic, r.Partition, r.Offset), nil
	case FromPointer:
		v, err := pointerValue(field, r.Value, rule.Pointer)
		if err != nil {
			return "", err
		}
		switch v.Kind() {
		case '"':
			var s string
			if err := unmarshal(v, &s); err != nil {
				return "", fieldErr(field, "pointer %s: not a valid JSON string", rule.Pointer)
			}
			return s, nil
		case '0':
			if field == "id" || field == "ordering_key" {
				return string(v), nil // an order or account number, say
			}
		}
		return "", fieldErr(field, "pointer %s: a JSON %s, want a string", rule.Pointer, kindName(v.Kind()))
	}
	return "", fieldErr(field, "unknown rule %q", rule.From)
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "string"
}

// pointerValue returns the JSON value the pointer names in the record's
// value, its bytes as they are.
func pointerValue(field string, value []byte, ptr string) (jsontext.Value, error) {
	if len(bytes.TrimSpace(value)) == 0 {
		return nil, fieldErr(field, "pointer %s: the value is empty", ptr)
	}
	v, found, err := LookupPointer(value, ptr)
	if err != nil {
		return nil, fieldErr(field, "pointer %s: the value is not valid JSON", ptr)
	}
	if !found {
		return nil, fieldErr(field, "pointer %s: nothing there", ptr)
	}
	return v, nil
}

// LookupPointer returns the value the JSON pointer (RFC 6901) names in the
// JSON document doc, byte for byte, and whether there is one. The error
// says doc is not valid JSON (json/v2's rules: UTF-8, no duplicate
// names). jsontext parses and unescapes the pointer; the walk is here, so
// that the value found is the document's own bytes.
func LookupPointer(doc []byte, ptr string) (jsontext.Value, bool, error) {
	if !jsontext.Value(doc).IsValid() {
		return nil, false, fmt.Errorf("not valid JSON")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(doc))
	for tok := range jsontext.Pointer(ptr).Tokens() {
		switch dec.PeekKind() {
		case '{':
			if _, err := dec.ReadToken(); err != nil {
				return nil, false, err
			}
			found := false
			for dec.PeekKind() != '}' {
				name, err := dec.ReadToken()
				if err != nil {
					return nil, false, err
				}
				if name.String() == tok {
					found = true
					break
				}
				if err := dec.SkipValue(); err != nil {
					return nil, false, err
				}
			}
			if !found {
				return nil, false, nil
			}
		case '[':
			idx, ok := arrayIndex(tok)
			if !ok {
				return nil, false, nil
			}
			if _, err := dec.ReadToken(); err != nil {
				return nil, false, err
			}
			for i := 0; i < idx; i++ {
				if dec.PeekKind() == ']' {
					return nil, false, nil
				}
				if err := dec.SkipValue(); err != nil {
					return nil, false, err
				}
			}
			if dec.PeekKind() == ']' {
				return nil, false, nil
			}
		default:
			return nil, false, nil
		}
	}
	v, err := dec.ReadValue()
	if err != nil {
		return nil, false, err
	}
	return v.Clone(), true, nil
}

// arrayIndex reads an RFC 6901 array index: "0", or digits without a
// leading zero ("-", past the end, is never there).
func arrayIndex(tok string) (int, bool) {
	if tok == "" || len(tok) > 9 || len(tok) > 1 && tok[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, false
		}
		n = n*10 + int(tok[i]-'0')
	}
	return n, true
}

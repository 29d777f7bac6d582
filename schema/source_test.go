package schema

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLookupPointer(t *testing.T) {
	doc := []byte(`{"a":{"b":[10,{"c":"x"}, 30]},"":1,"a/b":2,"m~n":3,"d":{"e": [ 1 , 2 ] },"s":"\u00e9"}`)
	tests := []struct {
		ptr   string
		want  string
		found bool
	}{
		{"", string(doc), true},
		{"/a/b/0", `10`, true},
		{"/a/b/1/c", `"x"`, true},
		{"/a/b/2", `30`, true},
		{"/a/b/3", ``, false},
		{"/a/b/-", ``, false},
		{"/a/b/01", ``, false},
		{"/a/b/x", ``, false},
		{"/", `1`, true},
		{"/a~1b", `2`, true},
		{"/m~0n", `3`, true},
		{"/d", `{"e": [ 1 , 2 ] }`, true}, // the document's own bytes
		{"/s", `"\u00e9"`, true},
		{"/nowhere", ``, false},
		{"/a/b/0/deeper", ``, false},
	}
	for _, tt := range tests {
		v, found, err := LookupPointer(doc, tt.ptr)
		if err != nil || found != tt.found || string(v) != tt.want {
			t.Errorf("LookupPointer(%q) = %q, %v, %v; want %q, %v", tt.ptr, v, found, err, tt.want, tt.found)
		}
	}
	for _, bad := range []string{`{"a":`, `{"a":1,"a":2}`, "{\"a\":\"\xff\"}", `not json`} {
		if _, _, err := LookupPointer([]byte(bad), "/a"); err == nil {
			t.Errorf("LookupPointer(%q): no error", bad)
		}
	}
}

func TestSourceValidate(t *testing.T) {
	ok := func() Source {
		return Source{Topic: "orders", Start: StartEarliest,
			Tenant: &SourceRule{From: FromHeader, Header: "x-tenant"}, Type: &SourceRule{From: FromPointer, Pointer: "/type"}}
	}
	if s := ok(); s.Validate("hookstream.") != nil {
		t.Fatalf("a valid source: %v", s.Validate("hookstream."))
	}
	tests := []struct {
		name  string
		edit  func(*Source)
		field string
	}{
		{"no topic", func(s *Source) { s.Topic = "" }, "topic"},
		{"topic and pattern", func(s *Source) { s.TopicPattern = "o.*" }, "topic_pattern"},
		{"a bad topic name", func(s *Source) { s.Topic = "a b" }, "topic"},
		{"hookstream's own topic", func(s *Source) { s.Topic = "hookstream.events" }, "topic"},
		{"a bad pattern", func(s *Source) { s.Topic, s.TopicPattern = "", "(" }, "topic_pattern"},
		{"a pattern over hookstream's own topics", func(s *Source) { s.Topic, s.TopicPattern = "", ".*" }, "topic_pattern"},
		{"a bad start", func(s *Source) { s.Start = "now" }, "start"},
		{"tenant from the key", func(s *Source) { s.Tenant = &SourceRule{From: FromKey} }, "tenant.from"},
		{"data from a header", func(s *Source) { s.Data = &SourceRule{From: FromHeader, Header: "h"} }, "data.from"},
		{"a fixed tenant that is no tenant", func(s *Source) { s.Tenant = &SourceRule{From: FromFixed, Value: "a b"} }, "tenant.value"},
		{"a fixed type that is no type", func(s *Source) { s.Type = &SourceRule{From: FromFixed, Value: "a..b"} }, "type.value"},
		{"a header rule without a header", func(s *Source) { s.Tenant = &SourceRule{From: FromHeader} }, "tenant.header"},
		{"a header rule with a pointer", func(s *Source) { s.Tenant = &SourceRule{From: FromHeader, Header: "h", Pointer: "/a"} }, "tenant.pointer"},
		{"a pointer that is none", func(s *Source) { s.Type = &SourceRule{From: FromPointer, Pointer: "type"} }, "type.pointer"},
		{"a bad escape", func(s *Source) { s.Type = &SourceRule{From: FromPointer, Pointer: "/a~2"} }, "type.pointer"},
		{"an empty pointer for the id", func(s *Source) { s.EventID = &SourceRule{From: FromPointer} }, "event_id.pointer"},
		{"NUL in a header name", func(s *Source) { s.Tenant = &SourceRule{From: FromHeader, Header: "a\x00"} }, "tenant.header"},
		{"an ordering key from the position", func(s *Source) { s.OrderingKey = &SourceRule{From: FromPosition} }, "ordering_key.from"},
		{"a fixed ordering key with a control character", func(s *Source) { s.OrderingKey = &SourceRule{From: FromFixed, Value: "a\x01"} }, "ordering_key.value"},
		{"a fixed ordering key too long", func(s *Source) { s.OrderingKey = &SourceRule{From: FromFixed, Value: strings.Repeat("k", 129)} }, "ordering_key.value"},
		{"an empty pointer for the ordering key", func(s *Source) { s.OrderingKey = &SourceRule{From: FromPointer} }, "ordering_key.pointer"},
	}
	for _, tt := range tests {
		s := ok()
		tt.edit(&s)
		var fe *FieldError
		if err := s.Validate("hookstream."); !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: %v, want an error on %s", tt.name, err, tt.field)
		}
	}
	// The whole value is a valid data pointer.
	s := ok()
	s.Data = &SourceRule{From: FromPointer}
	if err := s.Validate(""); err != nil {
		t.Errorf("data from pointer \"\": %v", err)
	}
}

func TestSourceRead(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	rec := func(key, value string, kv ...string) Record {
		r := Record{Topic: "orders", Partition: 2, Offset: 7, Value: []byte(value), Headers: hdrs(kv...), Timestamp: at}
		if key != "" {
			r.Key = []byte(key)
		}
		return r
	}
	header := &SourceRule{From: FromHeader, Header: "x-tenant"}
	typePtr := &SourceRule{From: FromPointer, Pointer: "/kind"}
	src := Source{Topic: "orders", Start: StartEarliest, Tenant: header, Type: typePtr}

	ev, err := src.Read(rec("k1", `{"kind":"order.placed","order":{"n":1}}`, "x-tenant", "acme"))
	if err != nil || ev.Tenant != "acme" || ev.Type != "order.placed" || ev.ID != DerivedEventID("orders", 2, 7) ||
		string(ev.Data) != `{"kind":"order.placed","order":{"n":1}}` || !ev.CreatedAt.Equal(at) || ev.CloudEvent != nil {
		t.Errorf("header tenant, pointer type, position id: %v %+v", err, ev)
	}

	s2 := src
	s2.Tenant = &SourceRule{From: FromFixed, Value: "globex"}
	s2.Type = &SourceRule{From: FromHeader, Header: "event-type"}
	s2.EventID = &SourceRule{From: FromKey}
	s2.Data = &SourceRule{From: FromPointer, Pointer: "/order"}
	ev, err = s2.Read(rec("k1", `{"order": {"n": 1} }`, "event-type", "order.paid", "x-tenant", "acme"))
	if err != nil || ev.Tenant != "globex" || ev.Type != "order.paid" || ev.ID != "k1" || string(ev.Data) != `{"n": 1}` {
		t.Errorf("fixed tenant, header type, key id, pointer data: %v %+v", err, ev)
	}
	s3 := src
	s3.EventID = &SourceRule{From: FromPointer, Pointer: "/n"}
	ev, err = s3.Read(rec("", `{"kind":"a","n":12345}`, "x-tenant", "acme"))
	if err != nil || ev.ID != "12345" {
		t.Errorf("a number as the id: %v %+v", err, ev)
	}

	ce := rec("", `{"n":1}`, "ce_specversion", "1.0", "ce_id", "1", "ce_source", "/s", "ce_type", "ce.type", "ce_tenant", "other", "x-tenant", "acme")
	// An ordering key rule: a header, a pointer (a string, or a number
	// such as an account number), a fixed value; without one, the record
	// key stays for the dispatcher to use (OrderingKey empty).
	s4 := src
	s4.OrderingKey = &SourceRule{From: FromPointer, Pointer: "/account"}
	if ev, err = s4.Read(rec("k1", `{"kind":"a","account":"acct-7"}`, "x-tenant", "acme")); err != nil || ev.OrderingKey != "acct-7" {
		t.Errorf("ordering key from a pointer: %v %+v", err, ev)
	}
	if ev, err = s4.Read(rec("k1", `{"kind":"a","account":42}`, "x-tenant", "acme")); err != nil || ev.OrderingKey != "42" {
		t.Errorf("ordering key from a number: %v %+v", err, ev)
	}
	s5 := src
	s5.OrderingKey = &SourceRule{From: FromHeader, Header: "x-account"}
	if ev, err = s5.Read(rec("k1", `{"kind":"a"}`, "x-tenant", "acme", "x-account", "acct-9")); err != nil || ev.OrderingKey != "acct-9" {
		t.Errorf("ordering key from a header: %v %+v", err, ev)
	}
	if ev, err = s5.Read(ce); err == nil {
		t.Errorf("a CloudEvent without the ordering key's header: read as %+v", ev)
	}
	s6 := src
	s6.OrderingKey = &SourceRule{From: FromFixed, Value: "all"}
	if ev, err = s6.Read(ce); err != nil || ev.OrderingKey != "all" {
		t.Errorf("a fixed ordering key on a CloudEvent: %v %+v", err, ev)
	}
	if ev, err = src.Read(rec("k1", `{"kind":"a"}`, "x-tenant", "acme")); err != nil || ev.OrderingKey != "" {
		t.Errorf("no ordering key rule: %v, ordering key %q", err, ev.OrderingKey)
	}

	// A CloudEvent on a source: its own type, id and data; the source's
	// tenant rule wins over its tenant attribute.
	ev, err = src.Read(ce)
	if err != nil || ev.Tenant != "acme" || ev.Type != "ce.type" || ev.ID != CloudEventID("/s", "1") || ev.CloudEvent == nil || !ev.CreatedAt.Equal(at) {
		t.Errorf("a CloudEvent on a source: %v %+v", err, ev)
	}
	noTenant := Source{Topic: "orders", Start: StartEarliest}
	if ev, err = noTenant.Read(ce); err != nil || ev.Tenant != "other" {
		t.Errorf("a CloudEvent on a source without a tenant rule: %v %+v", err, ev)
	}

	bad := []struct {
		name string
		src  Source
		rec  Record
		want string
	}{
		{"no tenant header", src, rec("", `{"kind":"a"}`), "tenant: header x-tenant: missing"},
		{"the tenant header twice", src, rec("", `{"kind":"a"}`, "x-tenant", "a", "x-tenant", "b"), "tenant: header x-tenant: appears 2 times"},
		{"a tenant header not UTF-8", src, rec("", `{"kind":"a"}`, "x-tenant", "\xff"), "tenant: header x-tenant: not valid UTF-8"},
		{"a tenant that is no tenant", src, rec("", `{"kind":"a"}`, "x-tenant", "a/b"), "tenant: must be"},
		{"a pointer to nowhere", src, rec("", `{"type":"a"}`, "x-tenant", "acme"), "type: pointer /kind: nothing there"},
		{"a pointer to an object", src, rec("", `{"kind":{}}`, "x-tenant", "acme"), "type: pointer /kind: a JSON object, want a string"},
		{"a value that is not JSON", src, rec("", `kind=a`, "x-tenant", "acme"), "type: pointer /kind: the value is not valid JSON"},
		{"an empty value", src, rec("", ``, "x-tenant", "acme"), "type: pointer /kind: the value is empty"},
		{"no key", s2, rec("", `{"order":1}`, "event-type", "a"), "id: the record has no key"},
		{"data pointer to nowhere", s2, rec("k", `{"x":1}`, "event-type", "a"), "data: pointer /order: nothing there"},
		{"data pointer to null", s2, rec("k", `{"order":null}`, "event-type", "a"), "data: must not be null"},
		{"no type rule", Source{Tenant: header}, rec("", `{}`, "x-tenant", "acme"), "type: is required"},
		{"no tenant rule", Source{}, rec("", `{}`), "tenant: is required"},
		{"a CloudEvent without tenant", noTenant, rec("", `{}`, "ce_specversion", "1.0", "ce_id", "1", "ce_source", "/s", "ce_type", "t"), "tenant: is required"},
		{"a bad CloudEvent", src, rec("", `{}`, "ce_specversion", "2.0", "x-tenant", "acme"), "ce_specversion: unsupported version"},
		{"no ordering key header", s5, rec("", `{"kind":"a"}`, "x-tenant", "acme"), "ordering_key: header x-account: missing"},
		{"an ordering key pointer to an object", s4, rec("", `{"kind":"a","account":{}}`, "x-tenant", "acme"), "ordering_key: pointer /account: a JSON object"},
		{"an empty ordering key", s4, rec("", `{"kind":"a","account":""}`, "x-tenant", "acme"), "ordering_key: is empty"},
		{"an ordering key too long", s4, rec("", `{"kind":"a","account":"`+strings.Repeat("k", 256)+`"}`, "x-tenant", "acme"), "ordering_key: must be"},
		{"an ordering key with NUL", s5, rec("", `{"kind":"a"}`, "x-tenant", "acme", "x-account", "a\x00b"), "ordering_key: must not contain control characters"},
	}
	for _, tt := range bad {
		_, err := tt.src.Read(tt.rec)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

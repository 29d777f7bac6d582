package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/schema"
)

const invoicePaidSchema = `{"type":"object","required":["invoice","amount"],"properties":{"invoice":{"type":"string"},"amount":{"type":"integer","minimum":0}}}`

// With HOOKSTREAM_VALIDATE_EVENTS, an event that fails its type's schema
// is refused by the API (422, the reason and the pointer) and, published
// straight to the topic, goes to the invalid topic with the same reason;
// the events that match, and those of types without a schema, are
// delivered.
func TestSchemaViolationOnTheTopic(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_VALIDATE_EVENTS": "true"})
	rcv := newReceiver(t, nil)
	ep := s.endpoint(rcv.URL, "invoice.*")
	if code, raw := s.call("POST", "/v1/event-types", `{"name":"invoice.paid","schema":`+invoicePaidSchema+`}`, nil); code != http.StatusCreated {
		t.Fatalf("create event type: %d %s", code, raw)
	}
	code, raw := s.call("POST", "/v1/events", `{"type":"invoice.paid","data":{"invoice":"in_1","amount":"4200"}}`, nil)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(raw), `"pointer":"/amount"`) {
		t.Errorf("API: %d %s, want 422 with the pointer /amount", code, raw)
	}
	cl := s.kafka()
	events := s.prefix + "events"
	testenv.Must(t, cl.ProduceSync(context.Background(),
		&kgo.Record{Topic: events, Value: []byte(`{"tenant":"default","type":"invoice.paid","data":{"invoice":"in_2","amount":-5}}`)},
		&kgo.Record{Topic: events, Value: []byte(`{"tenant":"default","type":"invoice.paid","data":{"invoice":"in_3","amount":5}}`)},
		&kgo.Record{Topic: events, Value: []byte(`{"tenant":"default","type":"invoice.voided","data":"anything"}`)},
	).FirstErr(), "produce")
	s.waitStatus(ep.ID, 2, "succeeded", 30*time.Second)
	inv := readN(t, s, s.prefix+"events.invalid", 1)
	if len(inv) != 1 {
		t.Fatalf("invalid topic holds %d records, want 1", len(inv))
	}
	reason := header(inv[0], schema.HeaderError)
	if !strings.Contains(reason, `"invoice.paid"`) || !strings.Contains(reason, `"/amount"`) || !strings.Contains(reason, "minimum") {
		t.Errorf("invalid topic's reason %q, want the type, the pointer and the schema's reason", reason)
	}
	for _, r := range rcv.requests() {
		if strings.Contains(string(r.Body), "in_2") {
			t.Errorf("the invalid event was delivered: %s", r.Body)
		}
	}
}

// Schemas are tenant input: each of these is refused when saved (422
// naming the schema), nothing is fetched, and events go on being
// delivered meanwhile.
func TestHostileSchemas(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_VALIDATE_EVENTS": "true"})
	calm := newWellBehaved(s)
	fetched := 0
	srv := newReceiver(t, nil) // counts any request made to it
	var defs []string
	for i := range 30 {
		defs = append(defs, `"d`+strconv.Itoa(i)+`":{"anyOf":[{"$ref":"#/$defs/d`+strconv.Itoa(i+1)+`"},{"$ref":"#/$defs/d`+strconv.Itoa(i+1)+`"}]}`)
	}
	for name, sch := range map[string]string{
		"a remote $ref":                  `{"$ref":"` + srv.URL + `/schema.json"}`,
		"a remote $schema":               `{"$schema":"` + srv.URL + `/meta.json"}`,
		"a file $ref":                    `{"$ref":"file:///etc/passwd"}`,
		"2^30 evaluations through $refs": `{"$ref":"#/$defs/d0","$defs":{` + strings.Join(defs, ",") + `,"d30":{}}}`,
		"100 levels deep":                strings.Repeat(`{"items":`, 100) + `{}` + strings.Repeat(`}`, 100),
		"40 KiB":                         `{"description":"` + strings.Repeat("x", 40<<10) + `"}`,
		"invalid UTF-8":                  "{\"description\":\"\xff\"}",
	} {
		code, raw := s.call("POST", "/v1/event-types", `{"name":"hostile.schema","schema":`+sch+`}`, nil)
		if code != http.StatusUnprocessableEntity && code != http.StatusRequestEntityTooLarge && code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want it refused", name, code, raw)
		}
		t.Logf("schema with %s: %d %s", name, code, raw)
	}
	fetched += len(srv.requests())
	if fetched != 0 {
		t.Errorf("%d requests reached the schema's server: nothing may be fetched", fetched)
	}
	// A $ref loop every value meets is refused; one under a property
	// compiles, and an event that meets it fails, alone.
	if code, raw := s.call("POST", "/v1/event-types", `{"name":"calm.tick","schema":{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}}}}`, nil); code != http.StatusUnprocessableEntity {
		t.Errorf("a schema that loops at the root: %d %s, want 422", code, raw)
	}
	if code, raw := s.call("POST", "/v1/event-types", `{"name":"calm.tick","schema":{"properties":{"i":{"$ref":"#/$defs/a"}},"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}}}}`, nil); code != http.StatusCreated {
		t.Fatalf("a schema with a $ref loop: %d %s", code, raw)
	}
	code, raw := s.call("POST", "/v1/events", `{"type":"calm.tick","data":{"i":0}}`, nil)
	t.Logf("an event of a type whose schema loops in place: %d %s", code, raw)
	if code != http.StatusUnprocessableEntity {
		t.Errorf("an event of a type whose schema loops: %d, want 422", code)
	}
	code, raw = s.call("DELETE", "/v1/event-types/calm.tick", nil, nil)
	if code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, raw)
	}
	calm.check("hostile schemas", 3)
}

// The catalog from the command line: create with a schema from a file,
// ls, get, update, a refused schema's exit code and reason, delete.
func TestCLIEventTypes(t *testing.T) {
	s := startSystem(t, nil)
	file := t.TempDir() + "/schema.json"
	testenv.Must(t, os.WriteFile(file, []byte(invoicePaidSchema), 0o600), "write schema")
	var et eventTypeAnswer
	s.okJSON(&et, "event-types", "create", "invoice.paid", "--description", "An invoice was paid.",
		"--schema", "@"+file, "--example", `{"invoice":"in_1","amount":1}`, "--validate")
	var compact bytes.Buffer
	_ = json.Compact(&compact, et.Schema)
	if et.Name != "invoice.paid" || !et.Validate || compact.String() != invoicePaidSchema {
		t.Fatalf("created %+v", et)
	}
	s.ok("event-types", "create", "order.shipped", "--deprecated")
	out := s.ok("event-types", "ls")
	if !strings.Contains(out, "invoice.paid") || !strings.Contains(out, "validate") || !strings.Contains(out, "An invoice was paid.") ||
		!strings.Contains(out, "order.shipped") || !strings.Contains(out, "deprecated") {
		t.Errorf("ls:\n%s", out)
	}
	if out := s.ok("event-types", "get", "invoice.paid"); !strings.Contains(out, `"minimum": 0`) || !strings.Contains(out, "example:") {
		t.Errorf("get:\n%s", out)
	}
	et = eventTypeAnswer{}
	s.okJSON(&et, "event-types", "update", "invoice.paid", "--schema", "null", "--validate=false")
	if et.Schema != nil || et.Validate {
		t.Errorf("after update: %+v", et)
	}
	r := s.hs("event-types", "update", "invoice.paid", "--schema", `{"$ref":"https://example.com/s.json"}`)
	if r.code != exitRefused || !strings.Contains(r.stderr, "only references within the schema") {
		t.Errorf("a remote $ref: exit %d, stderr %q", r.code, r.stderr)
	}
	s.ok("event-types", "delete", "order.shipped")
	if r := s.hs("event-types", "get", "order.shipped"); r.code != exitNotFound {
		t.Errorf("get after delete: exit %d", r.code)
	}
}

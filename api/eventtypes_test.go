package api_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

type eventTypeView struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Example     json.RawMessage `json:"example"`
	Deprecated  bool            `json:"deprecated"`
	Validate    bool            `json:"validate"`
	Shared      bool            `json:"shared"`
}

const invoiceSchema = `{"type":"object","required":["invoice","amount"],"properties":{"invoice":{"type":"string"},"amount":{"type":"integer","minimum":0}}}`

// TestSchemaViolationRejected: an event whose data fails its type's schema
// is answered 422 with the schema's reason and the pointer at fault, and
// is not published; one that matches is.
func TestSchemaViolationRejected(t *testing.T) {
	base, e := newServer(t)
	var et eventTypeView
	decodeJSON(t, call(t, "POST", base+"/v1/event-types", `{"name":"invoice.paid","description":"Paid.","validate":true,
		"schema":`+invoiceSchema+`,"example":{"invoice":"in_1","amount":4200}}`), http.StatusCreated, &et)
	if et.Name != "invoice.paid" || !et.Validate || et.Shared || string(et.Example) != `{"invoice":"in_1","amount":4200}` {
		t.Fatalf("created %+v", et)
	}
	r := call(t, "POST", base+"/v1/events", `{"type":"invoice.paid","data":{"invoice":"in_1","amount":"4200"}}`)
	p := assertProblem(t, r, http.StatusUnprocessableEntity, "data")
	var ptr struct {
		Pointer *string `json:"pointer"`
	}
	_ = json.Unmarshal(r.body, &ptr)
	if ptr.Pointer == nil || *ptr.Pointer != "/amount" || !strings.Contains(p.Detail, "got string, want integer") || !strings.Contains(p.Detail, `"invoice.paid"`) {
		t.Errorf("problem %s, want the pointer /amount and the schema's reason", r.body)
	}
	r = call(t, "POST", base+"/v1/events", `{"type":"invoice.paid","data":{"invoice":"in_1"}}`)
	_ = json.Unmarshal(r.body, &ptr)
	if p := assertProblem(t, r, http.StatusUnprocessableEntity, "data"); ptr.Pointer == nil || *ptr.Pointer != "" || !strings.Contains(p.Detail, "amount") {
		t.Errorf("problem %s, want the whole data named and the missing property", r.body)
	}
	ok := publish(t, base, `{"type":"invoice.paid","data":{"invoice":"in_2","amount":1}}`)
	// Only the valid event reached the topic.
	if got := e.topicEvents(t, 1); len(got) != 1 || got[0].ID != ok.ID {
		t.Errorf("topic holds %+v, want only %s", got, ok.ID)
	}

	// Without "validate" (and HOOKSTREAM_VALIDATE_EVENTS off) the schema
	// documents and does not gate.
	decodeJSON(t, call(t, "PATCH", base+"/v1/event-types/invoice.paid", `{"validate":false}`), http.StatusOK, &et)
	publish(t, base, `{"type":"invoice.paid","data":{"invoice":"in_3","amount":"x"}}`)
	// Removing the schema removes the check too.
	et = eventTypeView{}
	decodeJSON(t, call(t, "PATCH", base+"/v1/event-types/invoice.paid", `{"validate":true,"schema":null,"example":null}`), http.StatusOK, &et)
	if et.Schema != nil || et.Example != nil || !et.Validate {
		t.Errorf("after PATCH: %+v", et)
	}
	publish(t, base, `{"type":"invoice.paid","data":{"anything":true}}`)
}

func TestEventTypeCatalog(t *testing.T) {
	base, _ := newServer(t)
	key := tenantWithKey(t, base, "acme")
	asAcme := func(method, path, body string) response {
		return callAuth(t, "Bearer "+key, method, base+path, body)
	}
	// A shared type, by the admin; a tenant's key may not make one.
	decodeJSON(t, call(t, "POST", base+"/v1/event-types", `{"name":"user.created","description":"Everyone's.","shared":true}`), http.StatusCreated, &eventTypeView{})
	assertProblem(t, asAcme("POST", "/v1/event-types", `{"name":"user.deleted","shared":true}`), http.StatusForbidden, "")
	// acme's own.
	r := asAcme("POST", "/v1/event-types", `{"name":"order.shipped","description":"Shipped.","deprecated":true}`)
	if r.header.Get("Location") != "/v1/event-types/order.shipped" {
		t.Errorf("Location = %q", r.header.Get("Location"))
	}
	decodeJSON(t, r, http.StatusCreated, &eventTypeView{})
	assertProblem(t, asAcme("POST", "/v1/event-types", `{"name":"order.shipped"}`), http.StatusConflict, "")

	// acme sees its own and the shared ones; the default tenant does not
	// see acme's.
	var page struct {
		Data       []eventTypeView `json:"data"`
		NextCursor string          `json:"next_cursor"`
	}
	decodeJSON(t, asAcme("GET", "/v1/event-types", ""), http.StatusOK, &page)
	if len(page.Data) != 2 || page.Data[0].Name != "order.shipped" || !page.Data[0].Deprecated || page.Data[0].Shared ||
		page.Data[1].Name != "user.created" || !page.Data[1].Shared {
		t.Errorf("acme's catalog = %+v", page.Data)
	}
	decodeJSON(t, call(t, "GET", base+"/v1/event-types", ""), http.StatusOK, &page)
	if len(page.Data) != 1 || page.Data[0].Name != "user.created" {
		t.Errorf("the default tenant's catalog = %+v", page.Data)
	}
	assertProblem(t, call(t, "GET", base+"/v1/event-types/order.shipped", ""), http.StatusNotFound, "")
	// Pages.
	decodeJSON(t, asAcme("GET", "/v1/event-types?limit=1", ""), http.StatusOK, &page)
	if len(page.Data) != 1 || page.NextCursor != "order.shipped" {
		t.Fatalf("first page = %+v", page)
	}
	decodeJSON(t, asAcme("GET", "/v1/event-types?limit=1&cursor="+page.NextCursor, ""), http.StatusOK, &page)
	if len(page.Data) != 1 || page.Data[0].Name != "user.created" {
		t.Errorf("second page = %+v", page)
	}

	// A tenant changes its own types, not the shared ones; its own type
	// of a shared name takes the shared one's place for it alone.
	assertProblem(t, asAcme("PATCH", "/v1/event-types/user.created", `{"description":"mine"}`), http.StatusForbidden, "")
	assertProblem(t, asAcme("DELETE", "/v1/event-types/user.created", ""), http.StatusForbidden, "")
	decodeJSON(t, asAcme("POST", "/v1/event-types", `{"name":"user.created","description":"acme's own"}`), http.StatusCreated, &eventTypeView{})
	var et eventTypeView
	decodeJSON(t, asAcme("GET", "/v1/event-types/user.created", ""), http.StatusOK, &et)
	if et.Shared || et.Description != "acme's own" {
		t.Errorf("acme's user.created = %+v", et)
	}
	decodeJSON(t, call(t, "GET", base+"/v1/event-types/user.created", ""), http.StatusOK, &et)
	if !et.Shared || et.Description != "Everyone's." {
		t.Errorf("the default tenant's user.created = %+v", et)
	}
	if r := asAcme("DELETE", "/v1/event-types/user.created", ""); r.status != http.StatusNoContent {
		t.Errorf("DELETE = %d %s", r.status, r.body)
	}
	decodeJSON(t, asAcme("GET", "/v1/event-types/user.created", ""), http.StatusOK, &et)
	if !et.Shared {
		t.Errorf("after deleting its own, acme sees %+v, want the shared one", et)
	}

	// The tenant's limit (5 in these tests).
	for i := range 4 { // order.shipped and these: 5
		decodeJSON(t, asAcme("POST", "/v1/event-types", `{"name":"t.`+strconv.Itoa(i)+`"}`), http.StatusCreated, &eventTypeView{})
	}
	assertProblem(t, asAcme("POST", "/v1/event-types", `{"name":"t.9"}`), http.StatusConflict, "")
}

// TestEventTypeRejects: every bad field is a 4xx naming it, the hostile
// schemas among them.
func TestEventTypeRejects(t *testing.T) {
	base, _ := newServer(t)
	deep := strings.Repeat(`{"not":`, 40) + `{}` + strings.Repeat(`}`, 40)
	var defs []string
	for i := range 12 {
		defs = append(defs, `"d`+strconv.Itoa(i)+`":{"anyOf":[{"$ref":"#/$defs/d`+strconv.Itoa(i+1)+`"},{"$ref":"#/$defs/d`+strconv.Itoa(i+1)+`"}]}`)
	}
	doubling := `{"$ref":"#/$defs/d0","$defs":{` + strings.Join(defs, ",") + `,"d12":{}}}`
	for _, tc := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"no name", `{"description":"x"}`, 422, "name"},
		{"bad name", `{"name":"a..b"}`, 422, "name"},
		{"reserved name", `{"name":"hookstream.x"}`, 422, "name"},
		{"long description", `{"name":"a.b","description":"` + strings.Repeat("x", 1025) + `"}`, 422, "description"},
		{"remote $ref", `{"name":"a.b","schema":{"$ref":"http://127.0.0.1:1/s.json"}}`, 422, "schema"},
		{"file $ref", `{"name":"a.b","schema":{"$ref":"file:///etc/passwd"}}`, 422, "schema"},
		{"deep schema", `{"name":"a.b","schema":` + deep + `}`, 422, "schema"},
		{"doubling $refs", `{"name":"a.b","schema":` + doubling + `}`, 422, "schema"},
		{"not a schema", `{"name":"a.b","schema":{"type":"strnig"}}`, 422, "schema"},
		{"a string schema", `{"name":"a.b","schema":"x"}`, 422, "schema"},
		{"example against the schema", `{"name":"a.b","schema":` + invoiceSchema + `,"example":{"invoice":1,"amount":1}}`, 422, "example"},
		{"null example", `{"name":"a.b","example":null}`, 201, ""},
		{"huge body", `{"name":"a.c","schema":{"description":"` + strings.Repeat("x", 80<<10) + `"}}`, 413, ""},
		{"unknown field", `{"name":"a.d","tenant":"x"}`, 400, "tenant"},
		{"null name", `{"name":null}`, 400, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, "POST", base+"/v1/event-types", tc.body)
			if tc.status == 201 {
				decodeJSON(t, r, 201, &eventTypeView{})
				return
			}
			assertProblem(t, r, tc.status, tc.field)
		})
	}
	assertProblem(t, call(t, "GET", base+"/v1/event-types/no.such", ""), http.StatusNotFound, "")
	assertProblem(t, call(t, "PATCH", base+"/v1/event-types/a.b", `{"schema":{"$ref":"https://example.com/s"}}`), http.StatusUnprocessableEntity, "schema")
	assertProblem(t, call(t, "GET", base+"/v1/event-types?cursor=a..b", ""), http.StatusBadRequest, "cursor")
}

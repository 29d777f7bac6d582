package api_test

import (
	"net/http"
	"strings"
	"testing"
)

type sourceView struct {
	ID           string `json:"id"`
	Topic        string `json:"topic"`
	TopicPattern string `json:"topic_pattern"`
	Start        string `json:"start"`
	Tenant       *struct {
		From   string `json:"from"`
		Header string `json:"header"`
	} `json:"tenant"`
}

// Sources: declared, checked when saved (each field named), listed, shown
// and deleted, by the admin only.
func TestSources(t *testing.T) {
	base, _ := newServer(t)
	key := tenantWithKey(t, base, "acme")
	def := `{"id":"orders","topic":"orders.v1","tenant":{"from":"header","header":"x-tenant"},
		"type":{"from":"pointer","pointer":"/kind"},"event_id":{"from":"key"},"data":{"from":"pointer","pointer":"/payload"}}`
	assertProblem(t, callAuth(t, "Bearer "+key, "POST", base+"/v1/sources", def), http.StatusForbidden, "")

	r := call(t, "POST", base+"/v1/sources", def)
	var s sourceView
	decodeJSON(t, r, http.StatusCreated, &s)
	if s.ID != "orders" || s.Topic != "orders.v1" || s.Start != "earliest" || s.Tenant == nil || s.Tenant.Header != "x-tenant" ||
		r.header.Get("Location") != "/v1/sources/orders" {
		t.Errorf("created %+v, Location %q", s, r.header.Get("Location"))
	}
	var gen sourceView
	decodeJSON(t, call(t, "POST", base+"/v1/sources", `{"topic_pattern":"audit\\..*","start":"latest","tenant":{"from":"fixed","value":"acme"}}`),
		http.StatusCreated, &gen)
	if !strings.HasPrefix(gen.ID, "src_") || gen.Start != "latest" {
		t.Errorf("generated %+v", gen)
	}
	assertProblem(t, call(t, "POST", base+"/v1/sources", def), http.StatusConflict, "id")
	for body, field := range map[string]string{
		`{"topic":"a","tenant":{"from":"key"}}`:                               "tenant.from",
		`{"topic":"a","type":{"from":"pointer","pointer":"kind"}}`:            "type.pointer",
		`{"topic":"a","data":{"from":"header","header":"h"}}`:                 "data.from",
		`{"topic":"a","tenant":{"from":"fixed","value":"a b"}}`:               "tenant.value",
		`{"topic":"a","topic_pattern":"b"}`:                                   "topic_pattern",
		`{"topic_pattern":"("}`:                                               "topic_pattern",
		`{}`:                                                                  "topic",
		`{"topic":"a b"}`:                                                     "topic",
		`{"topic":"a","start":"now"}`:                                         "start",
		`{"id":"a b","topic":"a"}`:                                            "id",
		`{"topic":"a","event_id":{"from":"header","header":"h","value":"v"}}`: "event_id.value",
	} {
		assertProblem(t, call(t, "POST", base+"/v1/sources", body), http.StatusUnprocessableEntity, field)
	}
	assertProblem(t, call(t, "POST", base+"/v1/sources", `{"topic":"a","tenant":{"from":"fixed","value":"a","extra":1}}`), http.StatusBadRequest, "")

	var list struct{ Data []sourceView }
	decodeJSON(t, call(t, "GET", base+"/v1/sources", ""), http.StatusOK, &list)
	if len(list.Data) != 2 {
		t.Errorf("listed %+v", list.Data)
	}
	var one sourceView
	decodeJSON(t, call(t, "GET", base+"/v1/sources/orders", ""), http.StatusOK, &one)
	if one.ID != "orders" {
		t.Errorf("GET %+v", one)
	}
	if r := call(t, "DELETE", base+"/v1/sources/orders", ""); r.status != http.StatusNoContent {
		t.Errorf("DELETE: %d", r.status)
	}
	assertProblem(t, call(t, "GET", base+"/v1/sources/orders", ""), http.StatusNotFound, "")
	assertProblem(t, call(t, "DELETE", base+"/v1/sources/orders", ""), http.StatusNotFound, "")
}

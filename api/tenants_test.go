package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

type tenantView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type keyView struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Name      string     `json:"name"`
	Key       string     `json:"key"`
	RevokedAt *time.Time `json:"revoked_at"`
	LastUsed  *time.Time `json:"last_used_at"`
}

// tenantWithKey creates a tenant and an API key for it.
func tenantWithKey(t *testing.T, base, id string) string {
	t.Helper()
	var tn tenantView
	decodeJSON(t, call(t, "POST", base+"/v1/tenants", `{"id":"`+id+`","name":"Tenant `+id+`"}`), http.StatusCreated, &tn)
	var k keyView
	decodeJSON(t, call(t, "POST", base+"/v1/tenants/"+id+"/keys", `{"name":"ci"}`), http.StatusCreated, &k)
	if !strings.HasPrefix(k.Key, "hsk_") || k.Tenant != id || k.Name != "ci" {
		t.Fatalf("created key = %+v", k)
	}
	return k.Key
}

func TestTenantsAndKeys(t *testing.T) {
	base, _ := newServer(t)
	r := call(t, "POST", base+"/v1/tenants", `{"id":"acme","name":"Acme"}`)
	var tn tenantView
	decodeJSON(t, r, http.StatusCreated, &tn)
	if tn.ID != "acme" || tn.Name != "Acme" || r.header.Get("Location") != "/v1/tenants/acme" {
		t.Errorf("created tenant = %+v, Location %q", tn, r.header.Get("Location"))
	}
	var gen tenantView
	decodeJSON(t, call(t, "POST", base+"/v1/tenants", `{"name":"generated"}`), http.StatusCreated, &gen)
	if !strings.HasPrefix(gen.ID, "tn_") {
		t.Errorf("generated tenant id = %q, want tn_…", gen.ID)
	}
	assertProblem(t, call(t, "POST", base+"/v1/tenants", `{"id":"acme"}`), http.StatusConflict, "id")
	assertProblem(t, call(t, "POST", base+"/v1/tenants", `{"id":"a b"}`), http.StatusUnprocessableEntity, "id")
	assertProblem(t, call(t, "POST", base+"/v1/tenants", `{"id":"x","plan":"gold"}`), http.StatusBadRequest, "plan")

	var one tenantView
	decodeJSON(t, call(t, "GET", base+"/v1/tenants/acme", ""), http.StatusOK, &one)
	if one.ID != "acme" {
		t.Errorf("GET tenant = %+v", one)
	}
	assertProblem(t, call(t, "GET", base+"/v1/tenants/nope", ""), http.StatusNotFound, "")
	var tenants struct {
		Data       []tenantView `json:"data"`
		NextCursor string       `json:"next_cursor"`
	}
	decodeJSON(t, call(t, "GET", base+"/v1/tenants?limit=2", ""), http.StatusOK, &tenants)
	if len(tenants.Data) != 2 || tenants.NextCursor == "" {
		t.Errorf("first page of tenants = %+v, want 2 and a cursor (acme, default, tn_…)", tenants)
	}
	var second struct {
		Data       []tenantView `json:"data"`
		NextCursor string       `json:"next_cursor"`
	}
	decodeJSON(t, call(t, "GET", base+"/v1/tenants?limit=2&cursor="+tenants.NextCursor, ""), http.StatusOK, &second)
	if len(second.Data) != 1 || second.NextCursor != "" {
		t.Errorf("second page of tenants = %+v", second)
	}

	var k keyView
	decodeJSON(t, call(t, "POST", base+"/v1/tenants/acme/keys", ""), http.StatusCreated, &k)
	if !strings.HasPrefix(k.Key, "hsk_") || !strings.HasPrefix(k.ID, "key_") {
		t.Fatalf("created key = %+v", k)
	}
	assertProblem(t, call(t, "POST", base+"/v1/tenants/nope/keys", `{"name":"x"}`), http.StatusNotFound, "")
	var keys struct{ Data []keyView }
	r = call(t, "GET", base+"/v1/tenants/acme/keys", "")
	decodeJSON(t, r, http.StatusOK, &keys)
	if len(keys.Data) != 1 || keys.Data[0].ID != k.ID || keys.Data[0].Key != "" || strings.Contains(string(r.body), "hsk_") {
		t.Errorf("keys = %s, want the key without its secret", r.body)
	}
	assertProblem(t, call(t, "GET", base+"/v1/tenants/nope/keys", ""), http.StatusNotFound, "")

	// The key works as the tenant, and records its use.
	decodeJSON(t, callAuth(t, "Bearer "+k.Key, "GET", base+"/v1/endpoints", ""), http.StatusOK, &struct{}{})
	decodeJSON(t, call(t, "GET", base+"/v1/tenants/acme/keys", ""), http.StatusOK, &keys)
	if keys.Data[0].LastUsed == nil {
		t.Errorf("last_used_at not set after use")
	}
	// ...but not as the admin.
	assertProblem(t, callAuth(t, "Bearer "+k.Key, "GET", base+"/v1/tenants", ""), http.StatusForbidden, "")
	assertProblem(t, callAuth(t, "Bearer "+k.Key, "POST", base+"/v1/tenants/acme/keys", ""), http.StatusForbidden, "")

	// Revoked: refused at once (this instance forgets its cache).
	var rev keyView
	decodeJSON(t, call(t, "POST", base+"/v1/tenants/acme/keys/"+k.ID+"/revoke", ""), http.StatusOK, &rev)
	if rev.RevokedAt == nil {
		t.Errorf("revoked key = %+v, want revoked_at", rev)
	}
	assertProblem(t, callAuth(t, "Bearer "+k.Key, "GET", base+"/v1/endpoints", ""), http.StatusUnauthorized, "")
	decodeJSON(t, call(t, "POST", base+"/v1/tenants/acme/keys/"+k.ID+"/revoke", ""), http.StatusOK, &rev)
	assertProblem(t, call(t, "POST", base+"/v1/tenants/default/keys/"+k.ID+"/revoke", ""), http.StatusNotFound, "")
}

func TestKeyRevocationReachesOtherInstances(t *testing.T) {
	e := newEnv(t)
	a, b := e.serve(t, loopback), e.serve(t, loopback)
	key := tenantWithKey(t, a, "acme")
	decodeJSON(t, callAuth(t, "Bearer "+key, "GET", b+"/v1/endpoints", ""), http.StatusOK, &struct{}{}) // cached on b
	var keys struct{ Data []keyView }
	decodeJSON(t, call(t, "GET", a+"/v1/tenants/acme/keys", ""), http.StatusOK, &keys)
	decodeJSON(t, call(t, "POST", a+"/v1/tenants/acme/keys/"+keys.Data[0].ID+"/revoke", ""), http.StatusOK, &struct{}{})
	start := time.Now()
	for callAuth(t, "Bearer "+key, "GET", b+"/v1/endpoints", "").status != http.StatusUnauthorized {
		if time.Since(start) > 10*time.Second {
			t.Fatal("a key revoked on another instance still works after 10s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestBadKeys(t *testing.T) {
	base, _ := newServer(t)
	key := tenantWithKey(t, base, "acme")
	id, _, _ := strings.Cut(strings.TrimPrefix(key, "hsk_"), "_")
	for _, bad := range []string{
		"hsk_", "hsk_x", "hsk__", "hsk_" + id, "hsk_" + id + "_", "hsk_" + id + "_wrong",
		key + "x", key[:len(key)-1], "hsk_nokey_" + strings.Repeat("a", 43),
	} {
		assertProblem(t, callAuth(t, "Bearer "+bad, "GET", base+"/v1/endpoints", ""), http.StatusUnauthorized, "")
	}
}

func TestTenantIsolation(t *testing.T) {
	base, _ := newServer(t)
	acme, globex := tenantWithKey(t, base, "acme"), tenantWithKey(t, base, "globex")
	var ep endpointView
	decodeJSON(t, callAuth(t, "Bearer "+acme, "POST", base+"/v1/endpoints", `{"url":"http://127.0.0.1:9/a","event_types":["*"]}`),
		http.StatusCreated, &ep)
	if ep.Tenant != "acme" {
		t.Errorf("endpoint tenant = %q, want acme", ep.Tenant)
	}

	missing := callAuth(t, "Bearer "+globex, "GET", base+"/v1/endpoints/ep_doesnotexist", "")
	assertProblem(t, missing, http.StatusNotFound, "")
	routes := []struct{ method, path, body string }{
		{"GET", "/v1/endpoints/" + ep.ID, ""},
		{"PATCH", "/v1/endpoints/" + ep.ID, `{"description":"mine now"}`},
		{"DELETE", "/v1/endpoints/" + ep.ID, ""},
		{"POST", "/v1/endpoints/" + ep.ID + "/rotate-secret", ""},
		{"POST", "/v1/endpoints/" + ep.ID + "/enable", ""},
		{"POST", "/v1/endpoints/" + ep.ID + "/disable", ""},
		{"POST", "/v1/endpoints/" + ep.ID + "/recover", `{"since":"2024-01-01T00:00:00Z"}`},
	}
	for _, rt := range routes {
		r := callAuth(t, "Bearer "+globex, rt.method, base+rt.path, rt.body)
		p := assertProblem(t, r, http.StatusNotFound, "")
		if p.Detail != "no such endpoint" {
			t.Errorf("%s %s: detail %q tells another tenant's endpoint apart from a missing one", rt.method, rt.path, p.Detail)
		}
	}
	var page endpointPage
	decodeJSON(t, callAuth(t, "Bearer "+globex, "GET", base+"/v1/endpoints", ""), http.StatusOK, &page)
	if len(page.Data) != 0 {
		t.Errorf("globex lists %d endpoints, want 0", len(page.Data))
	}
	// The admin sees the default tenant unless it names another.
	decodeJSON(t, call(t, "GET", base+"/v1/endpoints", ""), http.StatusOK, &page)
	if len(page.Data) != 0 {
		t.Errorf("admin (default tenant) lists %d endpoints, want 0", len(page.Data))
	}
	decodeJSON(t, call(t, "GET", base+"/v1/endpoints", "", "X-Hookstream-Tenant", "acme"), http.StatusOK, &page)
	if len(page.Data) != 1 || page.Data[0].ID != ep.ID {
		t.Errorf("admin as acme lists %+v, want acme's endpoint", page.Data)
	}
	assertProblem(t, call(t, "GET", base+"/v1/endpoints", "", "X-Hookstream-Tenant", "nope"), http.StatusNotFound, "")
	// A key cannot name another tenant.
	assertProblem(t, callAuth(t, "Bearer "+globex, "GET", base+"/v1/endpoints", "", "X-Hookstream-Tenant", "acme"), http.StatusForbidden, "")
	decodeJSON(t, callAuth(t, "Bearer "+acme, "GET", base+"/v1/endpoints/"+ep.ID, "", "X-Hookstream-Tenant", "acme"), http.StatusOK, &ep)

	// Events published with a key belong to its tenant.
	var ev eventView
	decodeJSON(t, callAuth(t, "Bearer "+acme, "POST", base+"/v1/events", `{"type":"a.b","data":{}}`), http.StatusAccepted, &ev)
	if ev.Tenant != "acme" {
		t.Errorf("event tenant = %q, want acme", ev.Tenant)
	}
}

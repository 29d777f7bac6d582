package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/console"
)

type portalView struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	URL       string     `json:"url"`
	Token     string     `json:"token"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// servePortals starts an API server whose portal sessions the console
// keeps.
func (e *env) servePortals(t *testing.T) string {
	t.Helper()
	c := &console.Server{Store: e.db, Sessions: e.db, AdminToken: token}
	s := &api.Server{Store: e.db, Publisher: e.pub, Tasks: e.queue, Guard: loopback, AdminToken: token,
		Portals: c, PublicURLs: []string{"https://hooks.example.com"}, Log: slog.New(slog.DiscardHandler)}
	c.API = s.Handler()
	mux := http.NewServeMux()
	mux.Handle("/portal/", c.Handler())
	mux.Handle("/", c.API)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPortalSessions(t *testing.T) {
	e := newEnv(t)
	base := e.servePortals(t)
	keyA := tenantWithKey(t, base, "acme")
	tenantWithKey(t, base, "globex")

	// An API key opens sessions of its own tenant, for an hour by default.
	start := time.Now()
	var ps portalView
	decodeJSON(t, callAuth(t, "Bearer "+keyA, "POST", base+"/v1/portal-sessions", ""), http.StatusCreated, &ps)
	if ps.Tenant != "acme" || !strings.HasPrefix(ps.ID, "ps_") || !strings.HasPrefix(ps.Token, "hsp_") ||
		ps.URL != "https://hooks.example.com/portal/start?token="+ps.Token {
		t.Errorf("session = %+v", ps)
	}
	if d := ps.ExpiresAt.Sub(start); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("session expires in %v, want an hour", d)
	}
	decodeJSON(t, callAuth(t, "Bearer "+keyA, "POST", base+"/v1/portal-sessions", `{"tenant":"acme","ttl_seconds":60}`),
		http.StatusCreated, &ps)
	if d := ps.ExpiresAt.Sub(start); d > 2*time.Minute {
		t.Errorf("a 60 s session expires in %v", d)
	}
	// Never of another tenant.
	assertProblem(t, callAuth(t, "Bearer "+keyA, "POST", base+"/v1/portal-sessions", `{"tenant":"globex"}`), http.StatusForbidden, "")

	// The admin names the tenant in the body.
	var pg portalView
	decodeJSON(t, call(t, "POST", base+"/v1/portal-sessions", `{"tenant":"globex"}`), http.StatusCreated, &pg)
	if pg.Tenant != "globex" {
		t.Errorf("admin's session = %+v, want globex's", pg)
	}
	assertProblem(t, call(t, "POST", base+"/v1/portal-sessions", `{"tenant":"nope"}`), http.StatusNotFound, "")
	assertProblem(t, call(t, "POST", base+"/v1/portal-sessions", `{"ttl_seconds":10}`), http.StatusUnprocessableEntity, "ttl_seconds")
	assertProblem(t, call(t, "POST", base+"/v1/portal-sessions", `{"ttl_seconds":86401}`), http.StatusUnprocessableEntity, "ttl_seconds")
	assertProblem(t, call(t, "POST", base+"/v1/portal-sessions", `{"tenant":"a b"}`), http.StatusUnprocessableEntity, "tenant")
	assertProblem(t, call(t, "POST", base+"/v1/portal-sessions", `{"tenant":""}`), http.StatusUnprocessableEntity, "tenant")
	assertProblem(t, callAuth(t, "", "POST", base+"/v1/portal-sessions", ""), http.StatusUnauthorized, "")

	// The portal opens with the token, and not once it is revoked (by the
	// tenant's key; another tenant's cannot).
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	open := func() int {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", base+"/portal/start?token="+ps.Token, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := open(); code != http.StatusSeeOther {
		t.Errorf("opening the portal: %d, want 303 to the portal", code)
	}
	assertProblem(t, call(t, "POST", base+"/v1/portal-sessions/"+ps.ID+"/revoke", "", "X-Hookstream-Tenant", "globex"),
		http.StatusNotFound, "")
	var revoked portalView
	decodeJSON(t, callAuth(t, "Bearer "+keyA, "POST", base+"/v1/portal-sessions/"+ps.ID+"/revoke", ""), http.StatusOK, &revoked)
	if revoked.RevokedAt == nil || revoked.Token != "" || revoked.URL != "" {
		t.Errorf("revoked session = %+v", revoked)
	}
	if code := open(); code != http.StatusUnauthorized {
		t.Errorf("opening a revoked session's portal: %d, want 401", code)
	}
}

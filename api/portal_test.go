package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
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

func TestPortalSettings(t *testing.T) {
	base, _ := newServer(t)
	acme := tenantWithKey(t, base, "acme")
	tenantWithKey(t, base, "globex")
	type settings struct {
		FrameAncestors []string `json:"frame_ancestors"`
	}
	var got settings
	decodeJSON(t, callAuth(t, "Bearer "+acme, "GET", base+"/v1/portal-settings", ""), http.StatusOK, &got)
	if got.FrameAncestors == nil || len(got.FrameAncestors) != 0 {
		t.Errorf("a new tenant's frame_ancestors = %#v, want []", got.FrameAncestors)
	}
	// The tenant's own key sets them; another tenant does not see them.
	decodeJSON(t, callAuth(t, "Bearer "+acme, "PUT", base+"/v1/portal-settings",
		`{"frame_ancestors":["https://app.acme.example","http://localhost:3000"]}`), http.StatusOK, &got)
	decodeJSON(t, callAuth(t, "Bearer "+acme, "GET", base+"/v1/portal-settings", ""), http.StatusOK, &got)
	if !slices.Equal(got.FrameAncestors, []string{"https://app.acme.example", "http://localhost:3000"}) {
		t.Errorf("acme's frame_ancestors = %q", got.FrameAncestors)
	}
	decodeJSON(t, call(t, "GET", base+"/v1/portal-settings", "", "X-Hookstream-Tenant", "globex"), http.StatusOK, &got)
	if len(got.FrameAncestors) != 0 {
		t.Errorf("globex sees frame_ancestors %q", got.FrameAncestors)
	}
	assertProblem(t, callAuth(t, "Bearer "+acme, "PUT", base+"/v1/portal-settings", `{"frame_ancestors":[]}`,
		"X-Hookstream-Tenant", "globex"), http.StatusForbidden, "")

	many := `["` + strings.TrimSuffix(strings.Repeat(`https://a.example","`, 21), `","`) + `"]`
	for _, bad := range []string{
		`{}`, `{"frame_ancestors":null}`, `{"frame_ancestors":` + many + `}`,
		`{"frame_ancestors":["https://a.example/path"]}`, `{"frame_ancestors":["https://a.example?q"]}`,
		`{"frame_ancestors":["https://user@a.example"]}`, `{"frame_ancestors":["javascript:alert(1)"]}`,
		`{"frame_ancestors":["https://a.example; script-src *"]}`, `{"frame_ancestors":["'self'"]}`,
		`{"frame_ancestors":["*"]}`, `{"frame_ancestors":["https://a.exa\u0000mple"]}`,
	} {
		r := callAuth(t, "Bearer "+acme, "PUT", base+"/v1/portal-settings", bad)
		if r.status != http.StatusUnprocessableEntity && r.status != http.StatusBadRequest {
			t.Errorf("PUT %s: %d %s, want 422 or 400", bad, r.status, r.body)
		}
	}
	decodeJSON(t, callAuth(t, "Bearer "+acme, "GET", base+"/v1/portal-settings", ""), http.StatusOK, &got)
	if len(got.FrameAncestors) != 2 {
		t.Errorf("refused changes changed the settings to %q", got.FrameAncestors)
	}
}

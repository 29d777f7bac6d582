package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// portalPrefix starts every portal token: hsp_<session id>_<secret>.
const portalPrefix = "hsp_"

var errBadToken = errors.New("console: unknown, expired or revoked portal token")

// CreateSession opens a portal session of a tenant for ttl. It returns
// the session with its token (the store keeps its hash) and the path that
// opens the portal with it.
func (s *Server) CreateSession(ctx context.Context, tenant string, ttl time.Duration) (schema.PortalSession, string, error) {
	s.init()
	id := schema.NewID("ps_")
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	hash := sha256.Sum256([]byte(secret))
	ps, err := s.Sessions.CreatePortalSession(ctx, id, tenant, hash[:], s.Now().Add(ttl))
	if err != nil {
		return ps, "", fmt.Errorf("console: create portal session: %w", err)
	}
	ps.Token = portalPrefix + strings.TrimPrefix(id, "ps_") + "_" + secret
	return ps, "/portal/start?token=" + url.QueryEscape(ps.Token), nil
}

// RevokeSession ends a tenant's portal session at once.
func (s *Server) RevokeSession(ctx context.Context, tenant, id string) (schema.PortalSession, error) {
	ps, err := s.Sessions.RevokePortalSession(ctx, tenant, id)
	if err != nil {
		return ps, fmt.Errorf("console: revoke portal session: %w", err)
	}
	return ps, nil
}

// checkPortalToken returns the live session a token opens, errBadToken
// when it opens none.
func (s *Server) checkPortalToken(r *http.Request, token string) (schema.PortalSession, error) {
	rest, ok := strings.CutPrefix(token, portalPrefix)
	idPart, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || idPart == "" || secret == "" || len(token) > 200 {
		return schema.PortalSession{}, errBadToken
	}
	ps, err := s.Sessions.PortalSession(r.Context(), "ps_"+idPart)
	if errors.Is(err, schema.ErrNotFound) {
		return ps, errBadToken
	}
	if err != nil {
		return ps, err
	}
	got := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(got[:], ps.Hash) != 1 || ps.RevokedAt != nil || !s.Now().Before(ps.ExpiresAt) {
		return ps, errBadToken
	}
	return ps, nil
}

// openSession checks a portal token and sets the frame headers of its
// tenant; when it cannot, it has answered (401 for a token that opens
// nothing).
func (s *Server) openSession(w http.ResponseWriter, r *http.Request, token string) (schema.PortalSession, bool) {
	ps, err := s.checkPortalToken(r, token)
	if errors.Is(err, errBadToken) {
		s.fail(w, r, scope{}, http.StatusUnauthorized,
			"This portal session has ended or was revoked: open the portal again from the application that sent you here.")
		return ps, false
	}
	if err != nil {
		s.internal(w, r, scope{}, "portal session", err)
		return ps, false
	}
	return ps, s.frameHeaders(w, r, ps.Tenant)
}

// portalStart exchanges the token of a portal URL for the session's
// cookie, and sends the browser on to the portal (the token leaves the
// address bar, and is never sent on as a Referer).
func (s *Server) portalStart(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	ps, ok := s.openSession(w, r, token)
	if !ok {
		return
	}
	s.setCookie(w, r, portalCookie, token, ps.ExpiresAt)
	http.Redirect(w, r, "/portal/", http.StatusSeeOther)
}

// openPortal lets an operator open a tenant's portal (for an hour), to see
// what its customers see.
func (s *Server) openPortal(w http.ResponseWriter, r *http.Request, sc scope) {
	_, path, err := s.CreateSession(r.Context(), sc.Tenant, time.Hour)
	if err != nil {
		s.internal(w, r, sc, "open portal", err)
		return
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

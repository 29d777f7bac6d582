package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// Portals issues and revokes the sessions of the tenants' portals (package
// console). CreateSession returns the session with its token, and the
// portal's path that exchanges the token for a cookie (the token in its
// query). Both answer schema.ErrNotFound when the tenant, or its session,
// does not exist.
type Portals interface {
	CreateSession(ctx context.Context, tenant string, ttl time.Duration) (s schema.PortalSession, path string, err error)
	RevokeSession(ctx context.Context, tenant, id string) (schema.PortalSession, error)
}

// Lifetimes of a portal session.
const (
	defaultPortalTTL = time.Hour
	minPortalTTL     = time.Minute
	maxPortalTTL     = 24 * time.Hour
)

type portalRequest struct {
	Tenant     *string      `json:"tenant"`
	TTLSeconds *wholeNumber `json:"ttl_seconds"`
}

type portalJSON struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	URL       string     `json:"url,omitempty"`
	Token     string     `json:"token,omitempty"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// portalURL makes a session's path absolute with the first public URL,
// when one is configured.
func (s *Server) portalURL(path string) string {
	if len(s.PublicURLs) == 0 {
		return path
	}
	return strings.TrimSuffix(s.PublicURLs[0], "/") + path
}

// createPortalSession opens a portal session of a tenant: an API key's own
// (the body may name it, no other), or the one the body names for the
// admin token (default: the default tenant). It answers 201 with the URL
// to open (or embed) and the token it carries, both shown once.
func (s *Server) createPortalSession(w http.ResponseWriter, r *http.Request) {
	c, ok := s.identify(w, r)
	if !ok {
		return
	}
	if s.Portals == nil {
		writeProblem(w, problem(http.StatusNotFound, "the portal is not served by this instance"))
		return
	}
	var req portalRequest
	if p := decodeOptional(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	tenant := ""
	if req.Tenant != nil {
		tenant = *req.Tenant
	}
	switch {
	case req.Tenant != nil && !validTenantID(tenant):
		writeProblem(w, fieldProblem("tenant", "must be a tenant id"))
		return
	case !c.admin && tenant != "" && tenant != c.tenant:
		writeProblem(w, problem(http.StatusForbidden, "an API key opens portal sessions of its own tenant only"))
		return
	case !c.admin:
		tenant = c.tenant
	case tenant == "":
		tenant = schema.DefaultTenant
	}
	ttl := defaultPortalTTL
	if req.TTLSeconds != nil {
		ttl = time.Duration(*req.TTLSeconds) * time.Second
		if ttl < minPortalTTL || ttl > maxPortalTTL {
			writeProblem(w, fieldProblem("ttl_seconds", "must be from "+strconv.Itoa(int(minPortalTTL.Seconds()))+
				" to "+strconv.Itoa(int(maxPortalTTL.Seconds()))))
			return
		}
	}
	s.limited(&s.calls, "calls", func(w http.ResponseWriter, r *http.Request, tenant string) {
		ps, path, err := s.Portals.CreateSession(r.Context(), tenant, ttl)
		if errors.Is(err, schema.ErrNotFound) {
			writeProblem(w, problem(http.StatusNotFound, "no such tenant"))
			return
		}
		if err != nil {
			s.internal(w, r, "create portal session", err)
			return
		}
		writeJSON(w, http.StatusCreated, portalJSON{ID: ps.ID, Tenant: ps.Tenant, URL: s.portalURL(path), Token: ps.Token,
			ExpiresAt: ps.ExpiresAt})
	})(w, r, tenant)
}

// revokePortalSession ends a tenant's portal session at once.
func (s *Server) revokePortalSession(w http.ResponseWriter, r *http.Request, tenant string) {
	if s.Portals == nil {
		writeProblem(w, problem(http.StatusNotFound, "the portal is not served by this instance"))
		return
	}
	ps, err := s.Portals.RevokeSession(r.Context(), tenant, r.PathValue("id"))
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such portal session"))
		return
	}
	if err != nil {
		s.internal(w, r, "revoke portal session", err)
		return
	}
	writeJSON(w, http.StatusOK, portalJSON{ID: ps.ID, Tenant: ps.Tenant, ExpiresAt: ps.ExpiresAt, RevokedAt: ps.RevokedAt})
}

// PortalSettingsStore keeps each tenant's portal settings: the origins that
// may embed its portal in a frame (its Content-Security-Policy's
// frame-ancestors). Both answer schema.ErrNotFound for an unknown tenant.
type PortalSettingsStore interface {
	PortalFrameAncestors(ctx context.Context, tenant string) ([]string, error)
	SetPortalFrameAncestors(ctx context.Context, tenant string, origins []string) error
}

// maxFrameAncestors bounds the origins of a tenant's frame allow-list.
const maxFrameAncestors = 20

type portalSettingsJSON struct {
	FrameAncestors []string `json:"frame_ancestors"`
}

// getPortalSettings returns the tenant's portal settings.
func (s *Server) getPortalSettings(w http.ResponseWriter, r *http.Request, tenant string) {
	origins, err := s.Store.PortalFrameAncestors(r.Context(), tenant)
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such tenant"))
		return
	}
	if err != nil {
		s.internal(w, r, "portal settings", err)
		return
	}
	writeJSON(w, http.StatusOK, portalSettingsJSON{FrameAncestors: append([]string{}, origins...)})
}

// putPortalSettings replaces the tenant's portal settings: the origins
// that may frame its portal, each an http(s) origin and nothing else
// (scheme, host, optional port), at most maxFrameAncestors; an empty list
// forbids every frame.
func (s *Server) putPortalSettings(w http.ResponseWriter, r *http.Request, tenant string) {
	var req struct {
		FrameAncestors *[]string `json:"frame_ancestors"`
	}
	if p := decode(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	if req.FrameAncestors == nil {
		writeProblem(w, fieldProblem("frame_ancestors", "is required (an empty list forbids every frame)"))
		return
	}
	origins := *req.FrameAncestors
	if len(origins) > maxFrameAncestors {
		writeProblem(w, fieldProblem("frame_ancestors", "must hold at most "+strconv.Itoa(maxFrameAncestors)+" origins"))
		return
	}
	for _, o := range origins {
		if !ValidOrigin(o) {
			writeProblem(w, fieldProblem("frame_ancestors", "each must be an origin like https://app.example.com "+
				"(a scheme, a host, an optional port; nothing else)"))
			return
		}
	}
	err := s.Store.SetPortalFrameAncestors(r.Context(), tenant, origins)
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such tenant"))
		return
	}
	if err != nil {
		s.internal(w, r, "set portal settings", err)
		return
	}
	writeJSON(w, http.StatusOK, portalSettingsJSON{FrameAncestors: append([]string{}, origins...)})
}

// originPattern is an http(s) origin as the API takes it: a scheme, a
// host name or IPv4 address, an optional port (api/openapi.json says the
// same).
var originPattern = regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$`)

// ValidOrigin reports whether o is an http(s) origin and nothing else, so
// that it can stand in a Content-Security-Policy source list.
func ValidOrigin(o string) bool {
	if len(o) > 2048 || !originPattern.MatchString(o) {
		return false
	}
	u, err := url.Parse(o)
	return err == nil && u.Hostname() != ""
}

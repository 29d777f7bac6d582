package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// TenantStore holds the tenants.
type TenantStore interface {
	CreateTenant(ctx context.Context, id, name string) (schema.Tenant, error)
	Tenant(ctx context.Context, id string) (schema.Tenant, error)
	Tenants(ctx context.Context, after string, limit int) ([]schema.Tenant, error)
}

// KeyStore holds the tenants' API keys, by the hashes of their secrets.
type KeyStore interface {
	CreateAPIKey(ctx context.Context, id, tenant, name string, hash []byte) (schema.APIKey, error)
	APIKeys(ctx context.Context, tenant, after string, limit int) ([]schema.APIKey, error)
	RevokeAPIKey(ctx context.Context, tenant, id string) (schema.APIKey, error)
	ActiveAPIKey(ctx context.Context, id string) (tenant string, hash []byte, err error)
	TouchAPIKey(ctx context.Context, id string) error
}

// maxTenantID is the longest tenant id, as events allow.
const maxTenantID = 64

type tenantRequest struct {
	ID   *string `json:"id"` // nil: generated
	Name string  `json:"name"`
}

type tenantJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type keyRequest struct {
	Name string `json:"name"`
}

type keyJSON struct {
	ID         string     `json:"id"`
	Tenant     string     `json:"tenant"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// Key is set only in the response that creates it.
	Key string `json:"key,omitempty"`
}

func toKeyJSON(k schema.APIKey) keyJSON {
	return keyJSON{ID: k.ID, Tenant: k.Tenant, Name: k.Name, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

// validTenantID reports whether id is 1 to 64 letters, digits, '_', '-'
// or '.', not starting with '.' (a path segment "." or ".." is not one).
func validTenantID(id string) bool {
	if id == "" || len(id) > maxTenantID || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func validateTenant(req tenantRequest) *Problem {
	if req.ID != nil && !validTenantID(*req.ID) {
		return fieldProblem("id", "must be 1 to "+strconv.Itoa(maxTenantID)+" letters, digits, '_', '-' or '.', not starting with '.'")
	}
	if textLen(req.Name) > maxDescription {
		return fieldProblem("name", "at most "+strconv.Itoa(maxDescription)+" characters")
	}
	return nil
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) {
	var req tenantRequest
	if p := decode(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	if p := validateTenant(req); p != nil {
		writeProblem(w, p)
		return
	}
	id := schema.NewID("tn_")
	if req.ID != nil {
		id = *req.ID
	}
	t, err := s.Store.CreateTenant(r.Context(), id, req.Name)
	if errors.Is(err, schema.ErrConflict) {
		p := problem(http.StatusConflict, "tenant "+strconv.Quote(id)+" already exists")
		p.Field = "id"
		writeProblem(w, p)
		return
	}
	if err != nil {
		s.internal(w, r, "create tenant", err)
		return
	}
	w.Header().Set("Location", "/v1/tenants/"+t.ID)
	writeJSON(w, http.StatusCreated, tenantJSON(t))
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) {
	limit, p := pageLimit(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	after, p := idCursor(r.URL.Query(), validTenantID)
	if p != nil {
		writeProblem(w, p)
		return
	}
	ts, err := s.Store.Tenants(r.Context(), after, limit+1)
	if err != nil {
		s.internal(w, r, "list tenants", err)
		return
	}
	writeJSON(w, http.StatusOK, page(ts, limit, func(t schema.Tenant) string { return t.ID },
		func(t schema.Tenant) tenantJSON { return tenantJSON(t) }))
}

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.Store.Tenant(r.Context(), r.PathValue("id"))
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such tenant"))
		return
	}
	if err != nil {
		s.internal(w, r, "get tenant", err)
		return
	}
	writeJSON(w, http.StatusOK, tenantJSON(t))
}

// createKey makes an API key for a tenant; the response is the only place
// the key is ever shown.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	var req keyRequest
	if p := decodeOptional(w, r, s.MaxBodyBytes, &req); p != nil {
		writeProblem(w, p)
		return
	}
	if textLen(req.Name) > maxDescription {
		writeProblem(w, fieldProblem("name", "at most "+strconv.Itoa(maxDescription)+" characters"))
		return
	}
	key, id, hash := newKey()
	k, err := s.Store.CreateAPIKey(r.Context(), id, r.PathValue("id"), req.Name, hash)
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such tenant"))
		return
	}
	if err != nil {
		s.internal(w, r, "create key", err)
		return
	}
	out := toKeyJSON(k)
	out.Key = key
	w.Header().Set("Location", "/v1/tenants/"+k.Tenant+"/keys/"+k.ID)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	limit, p := pageLimit(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	after, p := idCursor(r.URL.Query(), func(c string) bool { return validID("key_", c) })
	if p != nil {
		writeProblem(w, p)
		return
	}
	tenant := r.PathValue("id")
	if _, err := s.Store.Tenant(r.Context(), tenant); errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such tenant"))
		return
	} else if err != nil {
		s.internal(w, r, "list keys", err)
		return
	}
	ks, err := s.Store.APIKeys(r.Context(), tenant, after, limit+1)
	if err != nil {
		s.internal(w, r, "list keys", err)
		return
	}
	writeJSON(w, http.StatusOK, page(ks, limit, func(k schema.APIKey) string { return k.ID }, toKeyJSON))
}

// revokeKey revokes a key at once on this instance, and within the key
// cache's lifetime on the others. Revoking it again changes nothing.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	k, err := s.Store.RevokeAPIKey(r.Context(), r.PathValue("id"), r.PathValue("key_id"))
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such key"))
		return
	}
	if err != nil {
		s.internal(w, r, "revoke key", err)
		return
	}
	s.keys.forget(k.ID)
	writeJSON(w, http.StatusOK, toKeyJSON(k))
}

// page makes a listing page of up to limit items out of rows (which holds
// limit+1 when there is a next page), with cursor naming the last one.
func page[R, J any](rows []R, limit int, cursor func(R) string, conv func(R) J) listJSON[J] {
	out := listJSON[J]{Data: []J{}}
	for i, row := range rows {
		if i == limit {
			out.NextCursor = cursor(rows[i-1])
			break
		}
		out.Data = append(out.Data, conv(row))
	}
	return out
}

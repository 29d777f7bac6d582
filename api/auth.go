package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// TenantHeader names the tenant an admin-token request acts on (default:
// the default tenant). API keys act on their own tenant only.
const TenantHeader = "X-Hookstream-Tenant"

// keyPrefix starts every API key: hsk_<key id>_<secret>.
const keyPrefix = "hsk_"

// handlerFunc is a handler that knows its tenant.
type handlerFunc func(w http.ResponseWriter, r *http.Request, tenant string)

// caller is who made a request.
type caller struct {
	admin  bool
	tenant string // for a key; "" for the admin token
	keyID  string
}

var errUnauthorized = errors.New("unauthorized")

// authenticate checks the bearer token: the admin token (compared in
// constant time, as hashes, so that its length does not leak either) or
// an API key that is not revoked.
func (s *Server) authenticate(r *http.Request) (caller, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return caller{}, errUnauthorized
	}
	if strings.HasPrefix(token, keyPrefix) {
		return s.keys.verify(r.Context(), s.Store, token)
	}
	got := sha256.Sum256([]byte(token))
	if s.AdminToken == "" || subtle.ConstantTimeCompare(got[:], s.adminHash[:]) != 1 {
		return caller{}, errUnauthorized
	}
	return caller{admin: true}, nil
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="hookstream"`)
	writeProblem(w, problem(http.StatusUnauthorized, "missing or invalid bearer token"))
}

// identify authenticates a request, then checks its parameters (see
// checkInput); when it cannot, it has answered (401, 400, or 500 when the
// key store fails) and ok is false.
func (s *Server) identify(w http.ResponseWriter, r *http.Request) (c caller, ok bool) {
	c, err := s.authenticate(r)
	if errors.Is(err, errUnauthorized) {
		unauthorized(w)
		return c, false
	}
	if err != nil {
		s.internal(w, r, "authenticate", err)
		return c, false
	}
	if p := checkInput(r); p != nil {
		writeProblem(w, p)
		return c, false
	}
	return c, true
}

// auth serves a tenant's resources: an API key acts on its tenant, the
// admin token on the tenant named by X-Hookstream-Tenant (default: the
// default tenant).
func (s *Server) auth(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.identify(w, r)
		if !ok {
			return
		}
		named := r.Header.Get(TenantHeader)
		if named != "" && !validTenantID(named) {
			writeProblem(w, headerProblem(TenantHeader, "must be a tenant id, or empty for the default tenant"))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
		if !c.admin {
			if named != "" && named != c.tenant {
				writeProblem(w, problem(http.StatusForbidden, "an API key acts on its own tenant only: drop "+TenantHeader))
				return
			}
			h(w, r, c.tenant)
			return
		}
		if named == "" || named == schema.DefaultTenant {
			h(w, r, schema.DefaultTenant)
			return
		}
		if _, err := s.Store.Tenant(r.Context(), named); errors.Is(err, schema.ErrNotFound) {
			writeProblem(w, problem(http.StatusNotFound, "no such tenant: "+TenantHeader+" names none"))
			return
		} else if err != nil {
			s.internal(w, r, "authenticate", err)
			return
		}
		h(w, r, named)
	})
}

// callerKey holds the caller in the context of a request auth lets
// through.
type callerKey struct{}

// isAdmin reports whether the admin token made a request auth let through.
func isAdmin(r *http.Request) bool {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c.admin
}

// admin serves routes only the admin token may use.
func (s *Server) admin(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.identify(w, r)
		if !ok {
			return
		}
		if !c.admin {
			writeProblem(w, problem(http.StatusForbidden, "this route needs the admin token"))
			return
		}
		h(w, r)
	})
}

// newKey returns a new API key (shown once), its id and the hash stored.
func newKey() (key, id string, hash []byte) {
	id = schema.NewID("key_")
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(secret))
	return keyPrefix + strings.TrimPrefix(id, "key_") + "_" + secret, id, h[:]
}

// parseKey splits hsk_<id>_<secret>.
func parseKey(token string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(token, keyPrefix)
	if !ok {
		return "", "", false
	}
	idPart, secret, ok := strings.Cut(rest, "_")
	if !ok || idPart == "" || secret == "" || len(idPart) > 64 {
		return "", "", false
	}
	return "key_" + idPart, secret, true
}

// keyCache remembers verified keys for ttl, so that a busy client costs
// one Postgres query per ttl. A key revoked through this instance is
// forgotten at once; through another, within ttl.
type keyCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[[32]byte]cachedKey
}

type cachedKey struct {
	tenant, keyID string
	until         time.Time
}

// maxCachedKeys bounds the cache; when full, it starts over.
const maxCachedKeys = 10000

func (kc *keyCache) verify(ctx context.Context, store Store, token string) (caller, error) {
	sum := sha256.Sum256([]byte(token))
	now := time.Now()
	kc.mu.Lock()
	if e, ok := kc.m[sum]; ok && now.Before(e.until) {
		kc.mu.Unlock()
		return caller{tenant: e.tenant, keyID: e.keyID}, nil
	}
	kc.mu.Unlock()

	id, secret, ok := parseKey(token)
	if !ok {
		return caller{}, errUnauthorized
	}
	tenant, hash, err := store.ActiveAPIKey(ctx, id)
	if errors.Is(err, schema.ErrNotFound) {
		return caller{}, errUnauthorized
	}
	if err != nil {
		return caller{}, err
	}
	got := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(got[:], hash) != 1 {
		return caller{}, errUnauthorized
	}
	_ = store.TouchAPIKey(ctx, id) // last_used_at is informative: a failure must not refuse the request
	kc.mu.Lock()
	if kc.m == nil || len(kc.m) >= maxCachedKeys {
		kc.m = make(map[[32]byte]cachedKey)
	}
	kc.m[sum] = cachedKey{tenant: tenant, keyID: id, until: now.Add(kc.ttl)}
	kc.mu.Unlock()
	return caller{tenant: tenant, keyID: id}, nil
}

// forget drops a key from the cache.
func (kc *keyCache) forget(keyID string) {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	for k, e := range kc.m {
		if e.keyID == keyID {
			delete(kc.m, k)
		}
	}
}

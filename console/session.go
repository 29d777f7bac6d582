package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// Cookie names. Over TLS they take the __Host- prefix, which browsers
// accept only from a secure origin with Path=/ and no Domain.
const (
	operatorCookie = "hookstream_console"
	portalCookie   = "hookstream_portal"
)

// maxFormBytes bounds a form's body.
const maxFormBytes = 64 << 10

// scope is who looks at a tenant's pages, and where they live.
type scope struct {
	Admin  bool
	Tenant string
	// Base is the path of the tenant's pages: /console/t/<tenant> for an
	// operator, /portal for a portal session.
	Base string
	// CSRF is the token every form of the session carries.
	CSRF string
}

type tenantHandler func(w http.ResponseWriter, r *http.Request, sc scope)

// operatorKey derives the key that signs operator sessions from the admin
// token.
func operatorKey(adminToken string) []byte {
	m := hmac.New(sha256.New, []byte(adminToken))
	m.Write([]byte("hookstream console session v1"))
	return m.Sum(nil)
}

// csrfToken is the CSRF token of a session: a hash of its cookie, which a
// page of another origin can neither read nor compute.
func csrfToken(cookie string) string {
	sum := sha256.Sum256([]byte("hookstream csrf v1\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *Server) secure(r *http.Request) bool { return s.Secure || r.TLS != nil }

// cookieName is name, with the __Host- prefix over TLS.
func (s *Server) cookieName(r *http.Request, name string) string {
	if s.secure(r) {
		return "__Host-" + name
	}
	return name
}

// setCookie sets a session cookie until expires (deleting it when expires
// is zero). Cookies are SameSite=Lax, so that a link to a page (in an
// alert, a chat) opens it signed in; forms are guarded by their CSRF
// tokens and the cross-origin check, not by the cookie. A portal's cookie
// is SameSite=None and Partitioned over TLS, so that it works in the frame
// of the tenant's own pages.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	c := &http.Cookie{Name: s.cookieName(r, name), Value: value, Path: "/", HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteLaxMode}
	if name == portalCookie && c.Secure {
		c.SameSite, c.Partitioned = http.SameSiteNoneMode, true
	}
	if expires.IsZero() {
		c.MaxAge = -1
	} else {
		c.Expires = expires
		c.MaxAge = max(1, int(time.Until(expires).Seconds()))
	}
	w.Header().Add("Set-Cookie", c.String())
}

func (s *Server) cookie(r *http.Request, name string) string {
	c, err := r.Cookie(s.cookieName(r, name))
	if err != nil {
		return ""
	}
	return c.Value
}

// newOperatorSession returns the cookie value of a new operator session:
// nonce.expiry.signature.
func (s *Server) newOperatorSession(expires time.Time) string {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	body := base64.RawURLEncoding.EncodeToString(nonce[:]) + "." + strconv.FormatInt(expires.Unix(), 10)
	return body + "." + s.sign(body)
}

func (s *Server) sign(body string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// operatorSession checks an operator's cookie: signed with this admin
// token's key and not expired.
func (s *Server) operatorSession(r *http.Request) (string, bool) {
	v := s.cookie(r, operatorCookie)
	i := strings.LastIndexByte(v, '.')
	if s.AdminToken == "" || i < 0 {
		return "", false
	}
	body, sig := v[:i], v[i+1:]
	if subtle.ConstantTimeCompare([]byte(sig), []byte(s.sign(body))) != 1 {
		return "", false
	}
	_, exp, _ := strings.Cut(body, ".")
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !s.Now().Before(time.Unix(unix, 0)) {
		return "", false
	}
	return v, true
}

// checkForm reads a POST's form (bounded) and checks its CSRF token; when
// it fails it has answered.
func (s *Server) checkForm(w http.ResponseWriter, r *http.Request, sc scope) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, sc, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(sc.CSRF)) != 1 {
		s.fail(w, r, sc, http.StatusForbidden, "This form has expired (its CSRF token does not match the session): reload the page and try again.")
		return false
	}
	return true
}

// operator serves a page of the operator's console: without a session, a
// GET goes to the login page and anything else is refused.
func (s *Server) operator(h tenantHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.operatorSession(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, scope{}, http.StatusUnauthorized, "Your session has ended: sign in again.")
			return
		}
		sc := scope{Admin: true, CSRF: csrfToken(v)}
		if r.Method == http.MethodPost && !s.checkForm(w, r, sc) {
			return
		}
		h(w, r, sc)
	})
}

// operatorTenant serves the operator's pages of the tenant the path names.
func (s *Server) operatorTenant(h tenantHandler) http.Handler {
	return s.operator(func(w http.ResponseWriter, r *http.Request, sc scope) {
		tenant := r.PathValue("tenant")
		_, err := s.Store.Tenant(r.Context(), tenant)
		if errors.Is(err, schema.ErrNotFound) {
			s.fail(w, r, sc, http.StatusNotFound, "There is no such tenant.")
			return
		}
		if err != nil {
			s.internal(w, r, sc, "tenant", err)
			return
		}
		sc.Tenant, sc.Base = tenant, "/console/t/"+tenant
		h(w, r, sc)
	})
}

// portalTenant serves a portal's pages for the tenant of its session,
// whatever the URL says.
func (s *Server) portalTenant(h tenantHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := s.cookie(r, portalCookie)
		ps, ok := s.openSession(w, r, token)
		if !ok {
			return
		}
		sc := scope{Tenant: ps.Tenant, Base: "/portal", CSRF: csrfToken(token)}
		if r.Method == http.MethodPost && !s.checkForm(w, r, sc) {
			return
		}
		h(w, r, sc)
	})
}

// frameHeaders lets the origins the tenant allows frame its portal's
// pages (and only those pages).
func (s *Server) frameHeaders(w http.ResponseWriter, r *http.Request, tenant string) bool {
	origins, err := s.Store.PortalFrameAncestors(r.Context(), tenant)
	if err != nil && !errors.Is(err, schema.ErrNotFound) {
		s.internal(w, r, scope{}, "portal frame ancestors", err)
		return false
	}
	if len(origins) > 0 {
		w.Header().Set("Content-Security-Policy", csp("frame-ancestors "+strings.Join(origins, " ")))
		w.Header().Del("X-Frame-Options")
	}
	return true
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.operatorSession(r); ok {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	s.render(w, r, scope{}, "login", http.StatusOK, "Sign in", loginData{Next: next(r.URL.Query().Get("next"))})
}

// loginData is what the login page shows.
type loginData struct {
	Next  string // the page to go to once signed in
	Error string
}

// next is where to go after signing in: a page of the console, else its
// home (never another site).
func next(path string) string {
	if !strings.HasPrefix(path, "/console/") || strings.ContainsAny(path, "\\\x00\r\n") {
		return "/console/"
	}
	return path
}

// login exchanges the admin token for a session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, scope{}, http.StatusBadRequest, "The form could not be read.")
		return
	}
	got := sha256.Sum256([]byte(r.PostForm.Get("token")))
	want := sha256.Sum256([]byte(s.AdminToken))
	if s.AdminToken == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		s.render(w, r, scope{}, "login", http.StatusUnauthorized, "Sign in",
			loginData{Next: next(r.PostForm.Get("next")), Error: "That is not the admin token."})
		return
	}
	expires := s.Now().Add(s.OperatorTTL)
	s.setCookie(w, r, operatorCookie, s.newOperatorSession(expires), expires)
	http.Redirect(w, r, next(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.setCookie(w, r, operatorCookie, "", time.Time{})
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

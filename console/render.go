package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// csp is the Content-Security-Policy of every page, with the frame
// ancestors given: no inline script or style, nothing from elsewhere.
func csp(frameAncestors string) string {
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"form-action 'self'; base-uri 'none'; " + frameAncestors
}

// protect sets the headers every response of the console carries, and
// refuses cross-origin POSTs (Sec-Fetch-Site, then Origin against Host)
// before any handler reads them.
func protect(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp("frame-ancestors 'none'"))
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	}))
}

// view is what every page's template gets.
type view struct {
	Scope  scope
	Title  string
	Notice string
	Data   any
}

// notices are the messages a redirect after an action may ask for (by
// code: a URL cannot put words on the page).
var notices = map[string]string{
	"retried":  "Retry queued: the new attempt appears below when it is made.",
	"skipped":  "Skipped: the next delivery of its ordering key goes on.",
	"enabled":  "Endpoint enabled: its parked deliveries are sent again.",
	"disabled": "Endpoint disabled: its deliveries are parked until it is enabled.",
	"paused":   "Endpoint paused: its deliveries park, without spending attempts, until the pause ends.",
	"resumed":  "Endpoint resumed: its parked deliveries are sent again.",
	"updated":  "Endpoint saved.",
	"deleted":  "Endpoint deleted.",
	"sent":     "Test event published: its deliveries appear below.",
	"saved":    "Settings saved.",
	"redriven": "Record put back on its topic.",
	"created":  "Tenant created.",
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, sc scope, page string, status int, title string, data any) {
	t := s.pages[page]
	if t == nil {
		panic("console: no page " + page)
	}
	v := view{Scope: sc, Title: title, Data: data, Notice: notices[r.URL.Query().Get("done")]}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.Log.Error("console page failed", "page", page, "err", err)
		http.Error(w, "the page could not be rendered; see the server log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail answers a page that says what went wrong.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sc scope, status int, msg string) {
	s.render(w, r, sc, "error", status, http.StatusText(status), msg)
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, sc scope, op string, err error) {
	s.Log.Error("console request failed", "op", op, "path", r.URL.Path, "err", err)
	s.fail(w, r, sc, http.StatusInternalServerError, "Something failed on our side ("+op+"); the server log says what.")
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, scope{}, http.StatusNotFound, "There is no such page.")
}

// parsePages parses each page with the layout and the shared partials.
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/partials.html", n))
	}
	return pages
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"ago":      ago,
	"ms":       millis,
	"pct":      percent,
	"pretty":   prettyJSON,
	"join":     strings.Join,
	"add":      func(a, b int) int { return a + b },
	"micros":   func(us int64) string { return millis(time.Duration(us) * time.Microsecond) },
	"cursorAt": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"deref":    func(t *time.Time) time.Time { return *t },
	"rows":     func(sc scope, ds []schema.Delivery) rowsData { return rowsData{Scope: sc, Deliveries: ds} },
	// base is where a delivery's tenant's pages are: the scope's, or an
	// operator's of that tenant in a search of every tenant.
	"base": func(sc scope, tenant string) string {
		if sc.Admin && sc.Tenant == "" {
			return "/console/t/" + url.PathEscape(tenant)
		}
		return sc.Base
	},
}

// rowsData is what the deliveryRows partial gets.
type rowsData struct {
	Scope      scope
	Deliveries []schema.Delivery
}

func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "in " + short(-d)
	case d < 2*time.Second:
		return "just now"
	}
	return short(d) + " ago"
}

func short(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}

func millis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms == 0:
		return "—"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
}

func percent(ok, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(ok)/float64(n))
}

// prettyJSON indents JSON for reading; what is not JSON stays as it is.
// The template escapes the result either way.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// documented is a path of the OpenAPI document and the methods it
// documents there.
type documented struct {
	segments []string // "" stands for a {parameter}
	allow    []string // as the Allow header lists them
}

// documentedPaths reads the paths of the embedded document once.
var documentedPaths = sync.OnceValue(func() []documented {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		panic("api: the embedded OpenAPI document: " + err.Error())
	}
	var out []documented
	for path, item := range doc.Paths {
		d := documented{segments: strings.Split(path, "/")}
		for i, seg := range d.segments {
			if strings.HasPrefix(seg, "{") {
				d.segments[i] = ""
			}
		}
		for m := range item {
			switch m := strings.ToUpper(m); m {
			case "GET":
				d.allow = append(d.allow, m, "HEAD") // ServeMux serves HEAD with GET
			case "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE":
				d.allow = append(d.allow, m)
			}
		}
		slices.Sort(d.allow)
		out = append(out, d)
	}
	return out
})

// allowed returns the methods the document allows on an (escaped) path,
// or nil when it does not document the path.
func allowed(path string) []string {
	segs := strings.Split(path, "/")
	for _, d := range documentedPaths() {
		if len(d.segments) != len(segs) {
			continue
		}
		if matches(d.segments, segs) {
			return d.allow
		}
	}
	return nil
}

// matches reports whether the segments of a path fit those of a template,
// a parameter matching any segment but an empty one.
func matches(template, segs []string) bool {
	for i := 1; i < len(template); i++ { // 0 is before the leading slash
		if template[i] == "" && segs[i] == "" || template[i] != "" && template[i] != segs[i] {
			return false
		}
	}
	return true
}

// noRoute answers what no route took: 405 Method Not Allowed, with Allow,
// on a documented path with a method the document does not list there;
// 404 otherwise.
func noRoute(w http.ResponseWriter, r *http.Request) {
	if allow := allowed(r.URL.EscapedPath()); allow != nil && !slices.Contains(allow, r.Method) {
		list := strings.Join(allow, ", ")
		w.Header().Set("Allow", list)
		writeProblem(w, problem(http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+": use "+list))
		return
	}
	writeProblem(w, problem(http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path))
}

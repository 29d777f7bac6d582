package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/hookstream/hookstream/api"
)

// The OpenAPI document is the contract: every exchange the suite makes
// through call/callAuth is checked against it (responses always, requests
// when the server accepted them: the suite sends bad requests on purpose),
// and every operation it documents must be exercised.

var contract struct {
	once  sync.Once
	v     validator.Validator
	model *v3.Document
	err   error

	mu        sync.Mutex
	exercised map[string]bool // "METHOD /path/template"
	// responses holds every response body the suite received, in order,
	// with the secrets it revealed (see TestMain's secret scan).
	responses []recorded
	// neverShown are secrets the suite sent (URL credentials, header
	// values): no response may contain them.
	neverShown map[string]string
}

type recorded struct {
	what     string
	body     string
	revealed []string
}

func openapiValidator(t testing.TB) (validator.Validator, *v3.Document) {
	t.Helper()
	contract.once.Do(func() {
		doc, err := libopenapi.NewDocument(api.OpenAPI())
		if err != nil {
			contract.err = err
			return
		}
		m, err := doc.BuildV3Model()
		if err != nil {
			contract.err = err
			return
		}
		contract.model = &m.Model
		v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
		if len(errs) > 0 {
			contract.err = fmt.Errorf("%v", errs)
			return
		}
		contract.v = v
		contract.exercised = map[string]bool{}
		contract.neverShown = map[string]string{}
	})
	if contract.err != nil {
		t.Fatalf("OpenAPI document: %v", contract.err)
	}
	return contract.v, contract.model
}

// checkExchange validates one exchange against the document, failing t on
// any mismatch, and records it for the coverage and secret checks.
func checkExchange(t testing.TB, req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) {
	t.Helper()
	for _, err := range exchangeErrors(t, req, reqBody, status, header, respBody) {
		t.Errorf("OpenAPI: %s %s → %d: %s", req.Method, req.URL.Path, status, err)
	}
	record(req, reqBody, respBody)
}

// exchangeErrors returns how an exchange departs from the document.
func exchangeErrors(t testing.TB, req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) []string {
	t.Helper()
	v, model := openapiValidator(t)
	clone := func() *http.Request {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		if len(reqBody) > 0 && r.Header.Get("Content-Type") == "" {
			r.Header.Set("Content-Type", "application/json") // the API reads any body as JSON
		}
		return r
	}
	item, _, tmpl := paths.FindPath(clone(), model, nil)
	if item == nil {
		// Not a documented path: only a problem+json 404 may answer it.
		if status != http.StatusNotFound || header.Get("Content-Type") != "application/problem+json" {
			return []string{fmt.Sprintf("undocumented route answered %d %s", status, header.Get("Content-Type"))}
		}
		return nil
	}
	if item.GetOperations().GetOrZero(strings.ToLower(req.Method)) == nil {
		// A method the document does not list on a documented path: 405,
		// problem+json, with Allow naming exactly the documented methods.
		var allow []string
		for m := range item.GetOperations().KeysFromOldest() {
			allow = append(allow, strings.ToUpper(m))
			if m == "get" {
				allow = append(allow, "HEAD")
			}
		}
		sort.Strings(allow)
		if status != http.StatusMethodNotAllowed || header.Get("Content-Type") != "application/problem+json" ||
			header.Get("Allow") != strings.Join(allow, ", ") {
			return []string{fmt.Sprintf("undocumented method answered %d %s, Allow %q; want 405 problem+json, Allow %q",
				status, header.Get("Content-Type"), header.Get("Allow"), strings.Join(allow, ", "))}
		}
		return nil
	}
	contract.mu.Lock()
	contract.exercised[req.Method+" "+tmpl] = true
	contract.mu.Unlock()

	var out []string
	if status < 300 {
		if ok, errs := v.ValidateHttpRequest(clone()); !ok {
			for _, e := range errs {
				out = append(out, "request: "+e.Message+": "+e.Reason)
			}
		}
	}
	resp := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(respBody)), Request: req}
	if ok, errs := v.ValidateHttpResponse(clone(), resp); !ok {
		for _, e := range errs {
			msg := "response: " + e.Message + ": " + e.Reason
			for _, se := range e.SchemaValidationErrors {
				msg += " [" + se.FieldPath + ": " + se.Reason + "]"
			}
			out = append(out, msg)
		}
	}
	return out
}

var secretPattern = regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+|whsk_[A-Za-z0-9+/=]+|hsk_[A-Za-z0-9_-]+|hsp_[A-Za-z0-9_-]+`)

// record keeps a response for the secret scan: the secrets it reveals
// (whsec_… and hsk_… values), and any credentials the request sent.
func record(req *http.Request, reqBody, respBody []byte) {
	contract.mu.Lock()
	defer contract.mu.Unlock()
	what := req.Method + " " + req.URL.Path
	var body struct {
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	}
	if json.Unmarshal(reqBody, &body) == nil {
		if u := body.URL; u != "" {
			if at := strings.Index(u, "@"); at > 0 {
				if i := strings.Index(u, "://"); i > 0 && i < at {
					contract.neverShown[u[i+3:at]] = what
				}
			}
			if _, q, ok := strings.Cut(u, "?"); ok && len(q) >= 8 {
				contract.neverShown[q] = what
			}
		}
		for _, v := range body.Headers {
			if len(v) >= 8 {
				contract.neverShown[v] = what
			}
		}
	}
	if req.URL.Path == "/openapi.json" {
		return // the document itself: examples, no secrets
	}
	contract.responses = append(contract.responses, recorded{what: what, body: string(respBody),
		revealed: secretPattern.FindAllString(string(respBody), -1)})
}

// TestMain runs the suite, then two checks over all of it: every
// documented operation was exercised, and no secret appears in any
// response but the one that revealed it.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && contract.model != nil && !testing.Short() && runAll() {
		if missing := unexercised(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: OpenAPI operations no test exercised: %v\n", missing)
			code = 1
		}
	}
	if leaks := secretLeaks(); len(leaks) > 0 {
		for _, l := range leaks {
			fmt.Fprintln(os.Stderr, "FAIL: secret leak:", l)
		}
		code = 1
	}
	os.Exit(code)
}

// runAll reports whether the whole suite ran (no -run filter).
func runAll() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.run") {
			return false
		}
	}
	return true
}

func unexercised() []string {
	var missing []string
	for p, item := range contract.model.Paths.PathItems.FromOldest() {
		for m := range item.GetOperations().KeysFromOldest() {
			if key := strings.ToUpper(m) + " " + p; !contract.exercised[key] {
				missing = append(missing, key)
			}
		}
	}
	sort.Strings(missing)
	return missing
}

// secretLeaks finds secrets (whsec_…, hsk_…) in more than one response,
// and credentials sent in requests in any response.
func secretLeaks() []string {
	contract.mu.Lock()
	defer contract.mu.Unlock()
	seen := map[string]string{}
	var leaks []string
	for _, r := range contract.responses {
		for _, s := range r.revealed {
			if strings.HasPrefix(s, "whsk_") {
				// An Ed25519 private key is never shown, not even once.
				leaks = append(leaks, fmt.Sprintf("an Ed25519 private key (whsk_…) in the response of %s", r.what))
				continue
			}
			if first, ok := seen[s]; ok && first != r.what+"#"+r.body {
				leaks = append(leaks, fmt.Sprintf("%s… first shown by %s, shown again by %s", s[:10], strings.SplitN(first, "#", 2)[0], r.what))
				continue
			}
			seen[s] = r.what + "#" + r.body
		}
		for s, from := range contract.neverShown {
			if strings.Contains(r.body, s) {
				leaks = append(leaks, fmt.Sprintf("a credential sent by %s appears in the response of %s", from, r.what))
			}
		}
	}
	return leaks
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	v, _ := openapiValidator(t)
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("document: %s: %s", e.Message, e.Reason)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	base, _ := newServer(t)
	r := callAuth(t, "", "GET", base+"/openapi.json", "")
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	decodeJSON(t, r, http.StatusOK, &doc)
	if doc.OpenAPI != "3.1.0" || !bytes.Equal(r.body, api.OpenAPI()) {
		t.Errorf("GET /openapi.json served %d bytes of OpenAPI %q, want the embedded 3.1 document", len(r.body), doc.OpenAPI)
	}
}

// TestOpenAPICatchesMismatches proves the contract check can fail.
func TestOpenAPICatchesMismatches(t *testing.T) {
	get := httptest.NewRequest("GET", "http://127.0.0.1/v1/endpoints/ep_1", nil)
	post := httptest.NewRequest("POST", "http://127.0.0.1/v1/endpoints", nil)
	js := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name    string
		req     *http.Request
		reqBody string
		status  int
		header  http.Header
		body    string
	}{
		{"field of the wrong type", get, "", 200, js, `{"id":1}`},
		{"required field missing", get, "", 200, js, `{"id":"ep_1","tenant":"default"}`},
		{"undocumented status", get, "", 418, js, `{}`},
		{"error that is not a problem", get, "", 404, js, `{"error":"nope"}`},
		{"accepted request the document refuses", post, `{"url":"https://x.example","event_types":[]}`, 201, js,
			`{"id":"ep_1","tenant":"default","url":"https://x.example","description":"","event_types":["*"],"header_names":[],"timeout_ms":1,"state":"enabled","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`},
		{"undocumented route answered 200", httptest.NewRequest("GET", "http://127.0.0.1/v1/nope", nil), "", 200, js, `{}`},
		{"undocumented method answered 404", httptest.NewRequest("PUT", "http://127.0.0.1/v1/endpoints/ep_1", nil), "", 404,
			http.Header{"Content-Type": {"application/problem+json"}}, `{"type":"about:blank","title":"Not Found","status":404}`},
		{"405 without Allow", httptest.NewRequest("PUT", "http://127.0.0.1/v1/endpoints/ep_1", nil), "", 405,
			http.Header{"Content-Type": {"application/problem+json"}}, `{"type":"about:blank","title":"Method Not Allowed","status":405}`},
		{"405 with a wrong Allow", httptest.NewRequest("PUT", "http://127.0.0.1/v1/tenants", nil), "", 405,
			http.Header{"Content-Type": {"application/problem+json"}, "Allow": {"GET, POST"}}, `{"type":"about:blank","title":"Method Not Allowed","status":405}`},
		{"path parameter the document refuses, served", httptest.NewRequest("GET", "http://127.0.0.1/v1/tenants/.x", nil), "", 200, js,
			`{"id":".x","name":"","created_at":"2026-01-01T00:00:00Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if errs := exchangeErrors(t, tt.req, []byte(tt.reqBody), tt.status, tt.header, []byte(tt.body)); len(errs) == 0 {
				t.Error("the exchange passed the contract check")
			}
		})
	}
}

// docJSON is the document as plain JSON, with $ref resolved by ref.
type docJSON map[string]any

func loadDoc(t *testing.T) docJSON {
	t.Helper()
	var d docJSON
	if err := json.Unmarshal(api.OpenAPI(), &d); err != nil {
		t.Fatalf("OpenAPI document: %v", err)
	}
	return d
}

// ref follows a local $ref, if v is one.
func (d docJSON) ref(v any) map[string]any {
	m, _ := v.(map[string]any)
	r, ok := m["$ref"].(string)
	if !ok {
		return m
	}
	var cur any = map[string]any(d)
	for _, part := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
		cur = cur.(map[string]any)[part]
	}
	return d.ref(cur)
}

// operations calls fn for every operation of the document.
func (d docJSON) operations(fn func(path, method string, op map[string]any)) {
	for path, item := range d["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			fn(path, method, op.(map[string]any))
		}
	}
}

// strings calls fn with every string schema under s, with where it is.
func (d docJSON) strings(where string, s any, fn func(where string, s map[string]any)) {
	m := d.ref(s)
	if m == nil {
		return
	}
	if m["type"] == "string" {
		fn(where, m)
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for name, p := range props {
			d.strings(where+"."+name, p, fn)
		}
	}
	for _, key := range []string{"items", "additionalProperties", "propertyNames"} {
		if sub, ok := m[key].(map[string]any); ok {
			d.strings(where+"."+key, sub, fn)
		}
	}
}

// Every string a request carries (parameters, body fields) has a pattern,
// an enum or a format in the document, so that the document, like the
// API, refuses a NUL (which Postgres cannot store) wherever it refuses
// anything: a plain "type": "string" would promise that any text is fine.
func TestOpenAPIRequestStringsAreConstrained(t *testing.T) {
	d := loadDoc(t)
	d.operations(func(path, method string, op map[string]any) {
		check := func(where string, s map[string]any) {
			if s["pattern"] == nil && s["enum"] == nil && s["format"] == nil {
				t.Errorf("%s %s: %s is a string without pattern, enum or format", strings.ToUpper(method), path, where)
			}
		}
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			pm := d.ref(p)
			d.strings(pm["in"].(string)+" "+pm["name"].(string), pm["schema"], check)
		}
		if body := d.ref(op["requestBody"]); body != nil {
			d.strings("body", body["content"].(map[string]any)["application/json"].(map[string]any)["schema"], check)
		}
	})
}

// Every link names an operation, parameters that operation has, and
// fields of the response it starts from.
func TestOpenAPILinks(t *testing.T) {
	d := loadDoc(t)
	ops := map[string]map[string]any{}
	d.operations(func(_, _ string, op map[string]any) { ops[op["operationId"].(string)] = op })
	links := 0
	d.operations(func(path, method string, op map[string]any) {
		for status, r := range op["responses"].(map[string]any) {
			resp := d.ref(r)
			ls, _ := resp["links"].(map[string]any)
			for name, l := range ls {
				links++
				where := fmt.Sprintf("%s %s → %s %s", strings.ToUpper(method), path, status, name)
				link := l.(map[string]any)
				target, ok := ops[link["operationId"].(string)]
				if !ok {
					t.Errorf("%s: no operation %v", where, link["operationId"])
					continue
				}
				for key, expr := range link["parameters"].(map[string]any) {
					in, pname, _ := strings.Cut(key, ".")
					found := false
					params, _ := target["parameters"].([]any)
					for _, p := range params {
						pm := d.ref(p)
						found = found || pm["in"] == in && pm["name"] == pname
					}
					if !found {
						t.Errorf("%s: %s has no parameter %s", where, link["operationId"], key)
					}
					field, ok := strings.CutPrefix(expr.(string), "$response.body#/")
					if !ok {
						continue
					}
					schema := d.ref(resp["content"].(map[string]any)["application/json"].(map[string]any)["schema"])
					for _, part := range strings.Split(field, "/") {
						if _, err := strconv.Atoi(part); err == nil {
							schema = d.ref(schema["items"])
							continue
						}
						props, _ := schema["properties"].(map[string]any)
						schema = d.ref(props[part])
						if schema == nil {
							t.Errorf("%s: the response has no field %s", where, field)
							break
						}
					}
				}
			}
		}
	})
	if links == 0 {
		t.Error("the document has no links")
	}
}

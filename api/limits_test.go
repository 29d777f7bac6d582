package api_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/testenv"
)

// serveWith starts an API server on the env, set up by set, which gets the
// address the server listens on.
func (e *env) serveWith(t *testing.T, set func(s *api.Server, addr string)) string {
	t.Helper()
	s := &api.Server{Store: e.db, Publisher: e.pub, Tasks: e.queue, Guard: loopback, AdminToken: token,
		Log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewUnstartedServer(nil)
	set(s, srv.Listener.Addr().String())
	srv.Config.Handler = s.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// clock is a clock that moves only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// asTenant names the tenant an admin-token call acts on.
func asTenant(id string) []string { return []string{api.TenantHeader, id} }

func createTenant(t *testing.T, base, id string) {
	t.Helper()
	var tn tenantView
	decodeJSON(t, call(t, "POST", base+"/v1/tenants", `{"id":"`+id+`"}`), http.StatusCreated, &tn)
}

func TestEndpointLimit(t *testing.T) {
	e := newEnv(t)
	base := e.serveWith(t, func(s *api.Server, _ string) { s.MaxEndpoints = 3 })
	createTenant(t, base, "other")
	const body = `{"url":"http://127.0.0.1:9/hook","event_types":["*"]}`

	var ids []string
	for range 3 {
		ids = append(ids, createEndpoint(t, base, body).ID)
	}
	p := assertProblem(t, call(t, "POST", base+"/v1/endpoints", body), http.StatusConflict, "")
	if !strings.Contains(p.Detail, "3 endpoints") {
		t.Errorf("detail %q does not say the limit", p.Detail)
	}
	if n := len(listEndpoints(t, base, "").Data); n != 3 {
		t.Errorf("%d endpoints after a refused creation, want 3", n)
	}
	// The limit is per tenant.
	var ep endpointView
	decodeJSON(t, call(t, "POST", base+"/v1/endpoints", body, asTenant("other")...), http.StatusCreated, &ep)
	// Deleting one makes room for one.
	if r := call(t, "DELETE", base+"/v1/endpoints/"+ids[0], ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	createEndpoint(t, base, body)
	assertProblem(t, call(t, "POST", base+"/v1/endpoints", body), http.StatusConflict, "")
}

// TestEndpointLimitConcurrent races many creations of one tenant: no more
// than the limit may pass, whatever the interleaving.
func TestEndpointLimitConcurrent(t *testing.T) {
	const limit, racers = 5, 24
	e := newEnv(t)
	base := e.serveWith(t, func(s *api.Server, _ string) { s.MaxEndpoints = limit })
	body := []byte(`{"url":"http://127.0.0.1:9/hook","event_types":["*"]}`)

	type result struct {
		req    *http.Request
		status int
		header http.Header
		body   []byte
		err    error
	}
	results := make([]result, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", base+"/v1/endpoints", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results[i] = result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results[i] = result{req: req, status: resp.StatusCode, header: resp.Header, body: b, err: err}
		})
	}
	close(start)
	wg.Wait()

	counts := map[int]int{}
	for _, r := range results {
		testenv.Must(t, r.err, "create endpoint")
		checkExchange(t, r.req, body, r.status, r.header, r.body)
		counts[r.status]++
	}
	if counts[http.StatusCreated] != limit || counts[http.StatusConflict] != racers-limit {
		t.Errorf("answers %v, want %d × 201 and %d × 409", counts, limit, racers-limit)
	}
	if n := len(listEndpoints(t, base, "").Data); n != limit {
		t.Errorf("%d endpoints stored, want %d", n, limit)
	}
}

func TestFanoutLimit(t *testing.T) {
	e := newEnv(t)
	base := e.serveWith(t, func(s *api.Server, _ string) { s.MaxFanout = 2 })
	createTenant(t, base, "small")
	ep := func(types string, headers ...string) string {
		var v endpointView
		decodeJSON(t, call(t, "POST", base+"/v1/endpoints", `{"url":"http://127.0.0.1:9/h","event_types":`+types+`}`, headers...),
			http.StatusCreated, &v)
		return v.ID
	}
	// default: three endpoints, more than the limit, so types are counted.
	ep(`["invoice.*"]`)
	ep(`["invoice.paid","invoice.created"]`)
	third := ep(`["invoice.paid"]`)
	// small: two endpoints for everything, no more than the limit.
	ep(`["*"]`, asTenant("small")...)
	ep(`["*"]`, asTenant("small")...)

	tests := []struct {
		tenant, typ string
		want        int
	}{
		{"default", "invoice.paid", http.StatusUnprocessableEntity}, // all three
		{"default", "invoice.created", http.StatusAccepted},         // two
		{"default", "invoice.voided", http.StatusAccepted},          // one
		{"default", "order.shipped", http.StatusAccepted},           // none
		{"small", "invoice.paid", http.StatusAccepted},
		{"small", "anything.at.all", http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.tenant+"/"+tt.typ, func(t *testing.T) {
			r := call(t, "POST", base+"/v1/events", `{"type":"`+tt.typ+`","data":{}}`, asTenant(tt.tenant)...)
			if tt.want == http.StatusAccepted {
				var ev eventView
				decodeJSON(t, r, http.StatusAccepted, &ev)
				return
			}
			p := assertProblem(t, r, tt.want, "type")
			if !strings.Contains(p.Detail, "more than 2 endpoints") {
				t.Errorf("detail %q does not say the limit", p.Detail)
			}
		})
	}

	// A deletion through this instance is seen at once.
	if r := call(t, "DELETE", base+"/v1/endpoints/"+third, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	publish(t, base, `{"type":"invoice.paid","data":{}}`)
	// So is a change of event types.
	if r := call(t, "PATCH", base+"/v1/endpoints/"+ep(`["order.*"]`), `{"event_types":["invoice.paid"]}`); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	assertProblem(t, call(t, "POST", base+"/v1/events", `{"type":"invoice.paid","data":{}}`), http.StatusUnprocessableEntity, "type")
}

// publishN publishes n events as the tenant and returns the answers' status
// codes, checking every 429.
func publishN(t *testing.T, base, tenant string, n int, retryAfter string) map[int]int {
	t.Helper()
	counts := map[int]int{}
	for range n {
		r := call(t, "POST", base+"/v1/events", `{"type":"invoice.paid","data":{}}`, asTenant(tenant)...)
		counts[r.status]++
		if r.status == http.StatusTooManyRequests {
			assertProblem(t, r, http.StatusTooManyRequests, "")
			if got := r.header.Get("Retry-After"); got != retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, retryAfter)
			}
		} else if r.status != http.StatusAccepted {
			t.Errorf("publish: %d %s", r.status, r.body)
		}
	}
	return counts
}

func TestEventRateLimit(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	base := e.serveWith(t, func(s *api.Server, _ string) {
		s.EventRate, s.Now = api.RateLimit{Rate: 1, Burst: 3}, clk.now
	})
	createTenant(t, base, "other")

	want := func(counts map[int]int, ok, refused int) {
		t.Helper()
		if counts[http.StatusAccepted] != ok || counts[http.StatusTooManyRequests] != refused {
			t.Errorf("answers %v, want %d × 202 and %d × 429", counts, ok, refused)
		}
	}
	want(publishN(t, base, "default", 10, "1"), 3, 7) // the burst, then nothing: the clock stands still
	want(publishN(t, base, "other", 4, "1"), 3, 1)    // a bucket per tenant
	// Other calls spend no event tokens.
	listEndpoints(t, base, "")
	clk.add(time.Second)
	want(publishN(t, base, "default", 3, "1"), 1, 2) // one token a second
	clk.add(10 * time.Second)
	want(publishN(t, base, "default", 5, "1"), 3, 2) // refilled up to the burst, no further
}

func TestRetryAfter(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		rate float64
		want string
	}{
		{1000, "1"}, // a millisecond: never less than 1
		{1, "1"},
		{0.4, "3"}, // 2.5 s, rounded up
		{0.01, "100"},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatFloat(tt.rate, 'g', -1, 64), func(t *testing.T) {
			clk := newClock()
			base := e.serveWith(t, func(s *api.Server, _ string) {
				s.EventRate, s.Now = api.RateLimit{Rate: tt.rate, Burst: 1}, clk.now
			})
			counts := publishN(t, base, "default", 2, tt.want)
			if counts[http.StatusTooManyRequests] != 1 {
				t.Errorf("answers %v, want the second refused", counts)
			}
		})
	}
}

func TestCallRateLimit(t *testing.T) {
	e := newEnv(t)
	clk := newClock()
	base := e.serveWith(t, func(s *api.Server, _ string) {
		s.CallRate, s.Now = api.RateLimit{Rate: 0.5, Burst: 2}, clk.now
	})
	createTenant(t, base, "other")
	listEndpoints(t, base, "")
	listEndpoints(t, base, "")
	r := call(t, "GET", base+"/v1/deliveries", "")
	assertProblem(t, r, http.StatusTooManyRequests, "")
	if got := r.header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (one token every 2 s)", got)
	}
	// Events have their own bucket (unlimited here), other tenants theirs,
	// and the admin routes are nobody's.
	publish(t, base, `{"type":"invoice.paid","data":{}}`)
	decodeJSON(t, call(t, "GET", base+"/v1/endpoints", "", asTenant("other")...), http.StatusOK, &endpointPage{})
	for range 3 {
		decodeJSON(t, call(t, "GET", base+"/v1/tenants", ""), http.StatusOK, &struct{}{})
	}
	clk.add(2 * time.Second)
	listEndpoints(t, base, "")
	assertProblem(t, call(t, "GET", base+"/v1/endpoints", ""), http.StatusTooManyRequests, "")
}

// TestEndpointsMayNotPointAtTheAPI: an endpoint on the API's own address
// would loop its deliveries back into it.
func TestEndpointsMayNotPointAtTheAPI(t *testing.T) {
	e := newEnv(t)
	var port string
	base := e.serveWith(t, func(s *api.Server, addr string) {
		_, port, _ = net.SplitHostPort(addr)
		s.ListenAddr = addr // 127.0.0.1:port, as in make run
		s.PublicURLs = []string{"https://hooks.example.com", "https://api.example.com:8443/base"}
	})
	tests := []struct {
		url     string
		refused bool
	}{
		{"http://127.0.0.1:" + port + "/hook", true},
		{"http://127.0.0.1:" + port, true},
		{"http://127.0.0.53:" + port + "/hook", true}, // all of 127.0.0.0/8 is this host
		{"http://localhost:" + port + "/hook", true},
		{"http://LocalHost.:" + port + "/hook", true},
		{"http://[::ffff:127.0.0.1]:" + port + "/hook", true},
		{"http://127.0.0.1:9/hook", false}, // another port: a receiver beside the API
		{"http://localhost:9/hook", false},
		{"https://hooks.example.com/hook", true},
		{"https://hooks.example.com:443/hook", true},
		{"https://HOOKS.example.COM./hook", true},
		{"https://user:pw@hooks.example.com/hook?x=1", true},
		{"https://hooks.example.com:8443/hook", false},
		{"https://api.example.com:8443/other", true},
		{"https://api.example.com/hook", false},
		{"https://example.com/hook", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			r := call(t, "POST", base+"/v1/endpoints", `{"url":"`+tt.url+`","event_types":["*"]}`)
			if !tt.refused {
				decodeJSON(t, r, http.StatusCreated, &endpointView{})
				return
			}
			p := assertProblem(t, r, http.StatusUnprocessableEntity, "url")
			if !strings.Contains(p.Detail, "own API") {
				t.Errorf("detail %q does not say why", p.Detail)
			}
		})
	}
	// PATCH checks the same.
	ep := createEndpoint(t, base, `{"url":"http://127.0.0.1:9/hook","event_types":["*"]}`)
	assertProblem(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"url":"http://localhost:`+port+`/x"}`),
		http.StatusUnprocessableEntity, "url")
	assertProblem(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"url":"https://hooks.example.com/x"}`),
		http.StatusUnprocessableEntity, "url")
	decodeJSON(t, call(t, "PATCH", base+"/v1/endpoints/"+ep.ID, `{"url":"http://127.0.0.1:10/x"}`), http.StatusOK, &endpointView{})
}

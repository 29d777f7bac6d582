//go:build ui

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

// The console and the portal in a real browser: headless Chromium (from
// the distribution's package; CHROMIUM names another binary) driven with
// chromedp against a running hookstream (every role, kfake, a fresh
// database). Run with `make test-ui`. Each scenario takes screenshots into
// HOOKSTREAM_UI_SCREENSHOTS (default: the test's temporary directory);
// `make ui-screenshots` refreshes those of docs/screenshots.

// hostileBody is what a hostile receiver answers: markup that would run
// or inject elements if the console rendered it instead of showing it.
const hostileBody = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b id="injected">bold</b>`

// browser starts a headless Chromium of its own (its own profile: its own
// cookies) and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	exec := os.Getenv("CHROMIUM")
	if exec == "" {
		exec = "chromium"
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec), chromedp.NoSandbox, chromedp.Headless,
		chromedp.WindowSize(1360, 1000), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	testenv.Must(t, chromedp.Do(ctx), "start chromium")
	// Every page records what its Content-Security-Policy blocked (see
	// screenshot): the pages must work under it, htmx included.
	testenv.Must(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__csp = []; document.addEventListener("securitypolicyviolation",
				e => window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sourceFile || "") + ":" + e.lineNumber));`})
		return err
	})), "watch the CSP")
	// Any dialog but the console's own confirmations fails the test (an
	// alert would be a receiver's markup running); confirmations are
	// accepted.
	go func() {
		for d, err := range chromedp.Events(ctx, cdppage.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			if d.Type != cdppage.DialogTypeConfirm {
				t.Errorf("a %s dialog opened: %q", d.Type, d.Message)
			}
			go func() {
				_ = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := cdp.Call(ctx, tg, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true})
					return err
				}))
			}()
		}
	}()
	return ctx
}

// ui runs browser steps with a deadline; on failure it shows where the
// browser was and what the page said.
func ui(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	get(t, ctx, what, chromedp.Steps(steps...))
}

// get runs one browser action with a deadline and returns its value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		sc, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if shot, err := chromedp.Run(sc, chromedp.FullScreenshot(80)); err == nil {
			p := filepath.Join(t.TempDir(), "failure.png")
			_ = os.WriteFile(p, shot, 0o644)
			t.Logf("screenshot of the failure: %s", p)
		}
		loc, _ := chromedp.Run(sc, chromedp.Location())
		body, _ := chromedp.Run(sc, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
	return v
}

// text returns the visible text of the element sel selects.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return get(t, ctx, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// screenshot saves the page as name.png, after checking that its
// Content-Security-Policy blocked nothing.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("HOOKSTREAM_UI_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if blocked := get(t, ctx, "CSP violations", chromedp.Evaluate[[]string](`window.__csp || []`)); len(blocked) > 0 {
		t.Errorf("%s: the Content-Security-Policy blocked %q", name, blocked)
	}
	shot := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	testenv.Must(t, os.MkdirAll(dir, 0o755), "screenshots")
	testenv.Must(t, os.WriteFile(filepath.Join(dir, name+".png"), shot, 0o644), "screenshot")
}

// switchable is a receiver that fails with a hostile body until told to
// succeed.
type switchable struct {
	*httptest.Server
	ok atomic.Bool
}

func newSwitchable(t *testing.T) *switchable {
	sw := &switchable{}
	sw.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sw.ok.Load() {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"ok":true}`))
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(hostileBody))
	}))
	t.Cleanup(sw.Close)
	return sw
}

func TestUIOperator(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_RETRY_SCHEDULE": "1s,2s"})
	ctx := browser(t)
	good := newReceiver(t, nil)
	bad := newSwitchable(t)

	// Log in: a wrong token is refused, the admin token opens the console.
	ui(t, ctx, "wrong token",
		chromedp.Navigate(s.api+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	screenshot(t, ctx, "login")
	ui(t, ctx, "log in",
		chromedp.SendKeys(chromedp.CSS("#token"), s.token),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(`#tenants a[href="/console/t/default/"]`)))
	screenshot(t, ctx, "tenants")

	// Create an endpoint: its secret is shown once.
	ui(t, ctx, "create endpoint",
		chromedp.Click(chromedp.CSS(`#tenants a[href="/console/t/default/"]`)),
		chromedp.WaitVisible(chromedp.CSS("#url")),
		chromedp.SendKeys(chromedp.CSS("#url"), good.URL+"/hooks"),
		chromedp.SendKeys(chromedp.CSS("#event_types"), "order.*"),
		chromedp.SendKeys(chromedp.CSS("#description"), "orders service"),
		chromedp.Click(chromedp.CSS("#create-endpoint")),
		chromedp.WaitVisible(chromedp.CSS("#secret")))
	secret := text(t, ctx, "#secret")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the secret page shows %q, want a whsec_ secret", secret)
	}
	screenshot(t, ctx, "endpoint-created")
	ui(t, ctx, "open endpoint",
		chromedp.Click(chromedp.CSS("#continue")),
		chromedp.WaitVisible(chromedp.CSS("#disable")))
	epURL := get(t, ctx, "location", chromedp.Location())
	epID := epURL[strings.LastIndex(epURL, "/")+1:]

	// Publish an event and watch its delivery appear on the open page.
	ui(t, ctx, "open deliveries",
		chromedp.Navigate(s.api+"/console/t/default/deliveries?endpoint="+epID),
		chromedp.WaitVisible(chromedp.CSS("#deliveries")))
	s.publish("order.created", `{"order":42,"note":"<i>hello</i>"}`)
	ui(t, ctx, "delivery appears",
		chromedp.WaitVisible(chromedp.CSS(`#deliveries tr.delivery[data-status="succeeded"]`)))
	screenshot(t, ctx, "deliveries")

	// Open the attempt: its request headers (no signature) and response.
	ui(t, ctx, "open attempt",
		chromedp.Click(chromedp.CSS(`#deliveries tr.delivery td:last-child a`)),
		chromedp.WaitVisible(chromedp.CSS("#attempt-1")))
	headers, data := text(t, ctx, "#attempt-1"), text(t, ctx, "#event-data")
	for _, want := range []string{"HTTP 200", "webhook-id", "X-Webhook-Attempt", "not shown", `{"received":true}`} {
		if !strings.Contains(headers, want) {
			t.Errorf("attempt 1 does not show %q:\n%s", want, headers)
		}
	}
	if strings.Contains(headers, secret) || strings.Contains(headers, strings.TrimPrefix(secret, "whsec_")) {
		t.Errorf("attempt 1 shows the endpoint's secret")
	}
	if !strings.Contains(data, "<i>hello</i>") {
		t.Errorf("the request body shows %q, want the event's data as text", data)
	}
	screenshot(t, ctx, "attempt")

	// Send a test event from the endpoint's page: it reaches this endpoint
	// (and no other), and the page it leads to shows its delivery.
	before := len(good.requests())
	ui(t, ctx, "send a test event",
		chromedp.Navigate(epURL),
		chromedp.WaitVisible(chromedp.CSS("#send-test")),
		chromedp.Click(chromedp.CSS("#send-test")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
		chromedp.WaitVisible(chromedp.CSS(`#deliveries tr.delivery[data-status="succeeded"]`)))
	if reqs := good.waitRequests(t, before+1, 30*time.Second); !strings.Contains(string(reqs[before].Body), `"sent_from":"hookstream console"`) {
		t.Errorf("the test event reached the receiver as %s", reqs[before].Body)
	}
	if rows := get(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll("#deliveries tr.delivery").length`)); rows != 1 {
		t.Errorf("the test event's page lists %d deliveries, want its own only", rows)
	}

	// A failing endpoint whose receiver answers hostile markup: its
	// deliveries die; the body shows as text, never as markup.
	bep := s.endpoint(bad.URL+"/fail", "invoice.*")
	for range 3 {
		s.publish("invoice.paid", `{"invoice":7}`)
	}
	s.waitStatus(bep.ID, 3, "dead", 60*time.Second)
	dead := s.deliveries(bep.ID)
	ui(t, ctx, "open dead delivery",
		chromedp.Navigate(s.api+"/console/t/default/deliveries/"+dead[0].ID),
		chromedp.WaitVisible(chromedp.CSS("#attempt-3")))
	shown := get(t, ctx, "response body", chromedp.TextContent(chromedp.CSS("#attempt-3 pre.response-body")))
	injected := get(t, ctx, "injected?", chromedp.Evaluate[bool](
		`document.getElementById("injected") !== null || document.querySelector("main img") !== null`))
	pwned := get(t, ctx, "script ran?", chromedp.Evaluate[bool](`window.__pwned !== undefined`))
	if shown != hostileBody {
		t.Errorf("the response body shows %q, want the receiver's bytes as text %q", shown, hostileBody)
	}
	if injected || pwned {
		t.Errorf("the receiver's markup was rendered (element injected: %v, script ran: %v)", injected, pwned)
	}
	screenshot(t, ctx, "hostile-response")

	// Retry the failed delivery by hand: the new attempt appears.
	bad.ok.Store(true)
	ui(t, ctx, "retry",
		chromedp.Click(chromedp.CSS("#retry")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
		chromedp.WaitVisible(chromedp.CSS("#attempt-4")),
		chromedp.WaitVisible(chromedp.CSS(`#attempt-4 .b-succeeded`)))
	screenshot(t, ctx, "retried")

	// Recover the endpoint: the two other dead deliveries go again, and
	// the progress ends.
	ui(t, ctx, "recover",
		chromedp.Navigate(s.api+"/console/t/default/endpoints/"+bep.ID),
		chromedp.WaitVisible(chromedp.CSS("#recover")),
		chromedp.Click(chromedp.CSS("#recover")),
		chromedp.WaitVisible(chromedp.CSS("#job")),
		chromedp.WaitVisible(chromedp.CSS(`#job[data-status="done"]`)))
	progress := text(t, ctx, "#progress-text")
	if progress != "2 of 2 handled" {
		t.Errorf("the recovery's progress ends at %q, want 2 of 2 handled", progress)
	}
	screenshot(t, ctx, "recovery")
	s.waitStatus(bep.ID, 3, "succeeded", 30*time.Second)

	// Disable and enable from the endpoint's page.
	ui(t, ctx, "disable, enable",
		chromedp.Navigate(s.api+"/console/t/default/endpoints/"+epID),
		chromedp.Click(chromedp.CSS("#disable")),
		chromedp.WaitVisible(chromedp.CSS("#enable")),
		chromedp.Click(chromedp.CSS("#enable")),
		chromedp.WaitVisible(chromedp.CSS("#disable")))
	// Pause for an hour from the endpoint's page, then resume.
	ui(t, ctx, "pause, resume",
		chromedp.Navigate(s.api+"/console/t/default/endpoints/"+epID),
		chromedp.WaitVisible(chromedp.CSS("#pause")),
		chromedp.SetValue(chromedp.CSS("#pause-for"), "1h"),
		chromedp.Click(chromedp.CSS("#pause")),
		chromedp.WaitVisible(chromedp.CSS("#paused-note")),
		chromedp.WaitVisible(chromedp.CSS("#resume")))
	if note := text(t, ctx, "#paused-note"); !strings.Contains(note, "Paused until 2") {
		t.Errorf("the pause shows %q, want its end", note)
	}
	if st := s.endpointState(epID); !st.Paused || st.PausedUntil == nil || time.Until(*st.PausedUntil) < 50*time.Minute {
		t.Errorf("after the console's pause for 1 hour the endpoint is %+v", st)
	}
	ui(t, ctx, "resume",
		chromedp.Click(chromedp.CSS("#resume")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
		chromedp.WaitNotPresent(chromedp.CSS("#paused-note")))
	if st := s.endpointState(epID); st.Paused {
		t.Errorf("after the console's resume the endpoint is %+v", st)
	}
	ui(t, ctx, "rotate",
		chromedp.Navigate(s.api+"/console/t/default/endpoints/"+epID),
		chromedp.Click(chromedp.CSS("#rotate")),
		chromedp.WaitVisible(chromedp.CSS("#secret")))
	rotated := text(t, ctx, "#secret")
	if !strings.HasPrefix(rotated, "whsec_") || rotated == secret {
		t.Errorf("rotation shows %q, want a new whsec_ secret", rotated)
	}
	ui(t, ctx, "endpoints with health",
		chromedp.Navigate(s.api+"/console/t/default/"),
		chromedp.WaitVisible(chromedp.CSS(`#endpoints tr.endpoint[data-id="`+bep.ID+`"]`)))
	screenshot(t, ctx, "endpoints")
	// A poison record (hostile markup that no stage can decode) lands in
	// the quarantine: the console lists it as text and puts it back.
	poison := `<img src=x onerror="window.__pwned = 3">not a task`
	testenv.Must(t, s.kafka().ProduceSync(context.Background(), &kgo.Record{Topic: s.prefix + "retry.1s",
		Key: []byte("k"), Value: []byte(poison)}).FirstErr(), "produce poison")
	testenv.Eventually(t, 30*time.Second, func() bool {
		var list struct{ Data []struct{ ID string } }
		code, _ := s.call("GET", "/v1/quarantine", nil, &list)
		return code == http.StatusOK && len(list.Data) == 1
	}, "the poison record is not in the quarantine")
	ui(t, ctx, "quarantine",
		chromedp.Navigate(s.api+"/console/quarantine"),
		chromedp.WaitVisible(chromedp.CSS("#quarantine td pre")))
	if shown := get(t, ctx, "quarantined value", chromedp.TextContent(chromedp.CSS("#quarantine td pre"))); shown != poison {
		t.Errorf("the quarantined value shows %q, want %q as text", shown, poison)
	}
	if get(t, ctx, "script ran?", chromedp.Evaluate[bool](`window.__pwned !== undefined || document.querySelector("main img") !== null`)) {
		t.Error("the quarantined record's markup was rendered")
	}
	screenshot(t, ctx, "quarantine")
	ui(t, ctx, "put back",
		chromedp.Click(chromedp.CSS("#quarantine button")),
		chromedp.WaitVisible(chromedp.CSS("#notice")))
	if q := text(t, ctx, "#quarantine"); !strings.Contains(q, "put back") {
		t.Errorf("after putting the record back, the quarantine shows:\n%s", q)
	}

	// The search of every tenant links each delivery to its tenant's pages.
	ui(t, ctx, "deliveries of every tenant",
		chromedp.Navigate(s.api+"/console/deliveries?status=succeeded"),
		chromedp.WaitVisible(chromedp.CSS(`#deliveries tr.delivery[data-tenant="default"]`)),
		chromedp.Click(chromedp.CSS(`#deliveries tr.delivery td:last-child a`)),
		chromedp.WaitVisible(chromedp.CSS("#attempt-1")))
	if loc := get(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, "/console/t/default/deliveries/msg_") {
		t.Errorf("a delivery of the search of every tenant opens %s", loc)
	}
	ui(t, ctx, "back", chromedp.Navigate(s.api+"/console/deliveries"), chromedp.WaitVisible(chromedp.CSS("#f-tenant")))
	screenshot(t, ctx, "deliveries-every-tenant")

	ui(t, ctx, "live", chromedp.Navigate(s.api+"/console/live"), chromedp.WaitVisible(chromedp.CSS("#charts svg")),
		chromedp.Sleep(6*time.Second)) // one more sample, for the picture
	if charts := text(t, ctx, "#charts"); !strings.Contains(charts, "delivered") || !strings.Contains(charts, "5xx") {
		t.Errorf("the live charts do not draw deliveries and 5xx failures:\n%s", charts)
	}
	screenshot(t, ctx, "live")
}

// portalFor creates a tenant with an endpoint (to rc) and one delivered
// event, and returns the tenant's API key, endpoint and delivery.
func portalFor(t *testing.T, s *system, tenant string, rc *receiver) (key string, ep createdEndpoint, delivery string) {
	t.Helper()
	if code, raw := s.call("POST", "/v1/tenants", map[string]any{"id": tenant, "name": "Tenant " + tenant}, nil); code != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", code, raw)
	}
	var k struct{ Key string }
	if code, raw := s.call("POST", "/v1/tenants/"+tenant+"/keys", map[string]any{"name": "backend"}, &k); code != http.StatusCreated {
		t.Fatalf("create key: %d %s", code, raw)
	}
	code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": rc.URL + "/" + tenant, "event_types": []string{"*"},
		"description": "endpoint of " + tenant}, &ep, "X-Hookstream-Tenant", tenant)
	if code != http.StatusCreated {
		t.Fatalf("create endpoint: %d %s", code, raw)
	}
	s.publish("user.signed_up", `{"tenant":"`+tenant+`"}`, "X-Hookstream-Tenant", tenant)
	var ds []deliveryView
	testenv.Eventually(t, 30*time.Second, func() bool {
		var page struct{ Data []deliveryView }
		s.call("GET", "/v1/deliveries?endpoint_id="+ep.ID, nil, &page, "X-Hookstream-Tenant", tenant)
		ds = page.Data
		return len(ds) == 1 && ds[0].Status == "succeeded"
	}, "tenant %s: its delivery did not succeed: %+v", tenant, &ds)
	return k.Key, ep, ds[0].ID
}

func TestUIPortalIsolation(t *testing.T) {
	s := startSystem(t, nil)
	rc := newReceiver(t, nil)
	keyA, epA, delA := portalFor(t, s, "acme", rc)
	_, epB, delB := portalFor(t, s, "globex", rc)

	// acme's backend opens a portal session with its API key.
	var ps struct {
		ID, URL, Token string
	}
	code, raw := s.call("POST", "/v1/portal-sessions", map[string]any{}, &ps, "Authorization", "Bearer "+keyA)
	if code != http.StatusCreated || ps.URL == "" {
		t.Fatalf("POST /v1/portal-sessions: %d %s", code, raw)
	}
	ctx := browser(t)
	ui(t, ctx, "open the portal",
		chromedp.Navigate(s.api+ps.URL),
		chromedp.WaitVisible(chromedp.CSS("#endpoints")))
	list := text(t, ctx, "#endpoints")
	if !strings.Contains(list, epA.ID) || strings.Contains(list, epB.ID) {
		t.Fatalf("acme's portal lists:\n%s\nwant %s and not %s", list, epA.ID, epB.ID)
	}
	screenshot(t, ctx, "portal")

	// Its own endpoint and delivery open; globex's do not, whatever URL is
	// typed, nor through the operator's pages.
	ui(t, ctx, "own endpoint",
		chromedp.Navigate(s.api+"/portal/endpoints/"+epA.ID),
		chromedp.WaitVisible(chromedp.CSS("#disable")))
	screenshot(t, ctx, "portal-endpoint")
	ui(t, ctx, "own delivery",
		chromedp.Navigate(s.api+"/portal/deliveries/"+delA),
		chromedp.WaitVisible(chromedp.CSS("#attempt-1")))

	// The tenant pauses its own endpoint for 6 hours from the portal, then
	// resumes it; globex's endpoint is not touched.
	state := func(tenant, id string) endpointView {
		t.Helper()
		var v endpointView
		if code, raw := s.call("GET", "/v1/endpoints/"+id, nil, &v, "X-Hookstream-Tenant", tenant); code != http.StatusOK {
			t.Fatalf("GET endpoint %s of %s: %d %s", id, tenant, code, raw)
		}
		return v
	}
	ui(t, ctx, "pause from the portal",
		chromedp.Navigate(s.api+"/portal/endpoints/"+epA.ID),
		chromedp.WaitVisible(chromedp.CSS("#pause")),
		chromedp.SetValue(chromedp.CSS("#pause-for"), "6h"),
		chromedp.Click(chromedp.CSS("#pause")),
		chromedp.WaitVisible(chromedp.CSS("#paused-note")),
		chromedp.WaitVisible(chromedp.CSS("#resume")))
	if loc := get(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, "/portal/endpoints/"+epA.ID) {
		t.Errorf("the portal's pause led to %s, want the endpoint's portal page", loc)
	}
	if note := text(t, ctx, "#paused-note"); !strings.Contains(note, "Paused until 2") {
		t.Errorf("the portal's pause shows %q, want its end", note)
	}
	if st := state("acme", epA.ID); !st.Paused || st.PausedUntil == nil ||
		time.Until(*st.PausedUntil) < 5*time.Hour+50*time.Minute || time.Until(*st.PausedUntil) > 6*time.Hour {
		t.Errorf("after the portal's pause for 6 hours the endpoint is %+v", st)
	}
	if st := state("globex", epB.ID); st.Paused {
		t.Errorf("acme's pause paused globex's endpoint: %+v", st)
	}
	screenshot(t, ctx, "portal-paused")
	ui(t, ctx, "resume from the portal",
		chromedp.Click(chromedp.CSS("#resume")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
		chromedp.WaitNotPresent(chromedp.CSS("#paused-note")),
		chromedp.WaitVisible(chromedp.CSS("#pause")))
	if st := state("acme", epA.ID); st.Paused || st.PausedUntil != nil {
		t.Errorf("after the portal's resume the endpoint is %+v", st)
	}
	for _, u := range []string{"/portal/endpoints/" + epB.ID, "/portal/deliveries/" + delB,
		"/portal/deliveries?endpoint=" + epB.ID, "/portal/endpoints/" + epB.ID + "?tenant=globex",
		"/console/t/globex/", "/console/t/globex/endpoints/" + epB.ID} {
		ui(t, ctx, "foreign "+u,
			chromedp.Navigate(s.api+u),
			chromedp.WaitVisible(chromedp.CSS("main")))
		text, loc := text(t, ctx, "main"), get(t, ctx, "location", chromedp.Location())
		if strings.Contains(text, epB.ID) && !strings.Contains(u, "?endpoint=") || strings.Contains(text, "globex") ||
			strings.Contains(text, delB) || strings.Contains(text, "endpoint of globex") {
			t.Errorf("acme's portal at %s (%s) shows globex's data:\n%s", u, loc, text)
		}
	}
	ui(t, ctx, "foreign endpoint says so",
		chromedp.Navigate(s.api+"/portal/endpoints/"+epB.ID),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	foreign := text(t, ctx, "#error")
	if foreign != "There is no such endpoint." {
		t.Errorf("globex's endpoint in acme's portal: %q", foreign)
	}
	screenshot(t, ctx, "portal-foreign")

	// Actions on globex's endpoint and delivery, posted from acme's portal
	// page with its own CSRF token: refused, and globex's endpoint is
	// untouched.
	ui(t, ctx, "portal home",
		chromedp.Navigate(s.api+"/portal/"),
		chromedp.WaitVisible(chromedp.CSS("#new-endpoint")))
	statuses := get(t, ctx, "foreign actions", chromedp.Evaluate[[]int](`(async () => {
			const csrf = document.querySelector('input[name=csrf]').value;
			const post = async (path, extra) => (await fetch(path, {method: 'POST',
				body: new URLSearchParams(Object.assign({csrf: csrf}, extra || {}))})).status;
			return [
				await post('/portal/endpoints/`+epB.ID+`/disable'),
				await post('/portal/endpoints/`+epB.ID+`/delete'),
				await post('/portal/endpoints/`+epB.ID+`', {description: 'hacked', event_types: '*'}),
				await post('/portal/deliveries/`+delB+`/retry'),
				await post('/console/t/globex/endpoints/`+epB.ID+`/disable'),
			];
		})()`, chromedp.EvalAwaitPromise))
	for i, st := range statuses {
		if st < 400 {
			t.Errorf("foreign action %d from acme's portal answered %d", i, st)
		}
	}
	var bj struct {
		State       string
		Description string
	}
	s.call("GET", "/v1/endpoints/"+epB.ID, nil, &bj, "X-Hookstream-Tenant", "globex")
	if bj.State != "enabled" || bj.Description != "endpoint of globex" {
		t.Errorf("globex's endpoint after acme's attempts: %+v", bj)
	}

	// Revoked, the session opens nothing more.
	if code, raw := s.call("POST", "/v1/portal-sessions/"+ps.ID+"/revoke", nil, nil, "Authorization", "Bearer "+keyA); code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, raw)
	}
	ui(t, ctx, "revoked",
		chromedp.Navigate(s.api+"/portal/"),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	ended := text(t, ctx, "#error")
	if !strings.Contains(ended, "revoked") {
		t.Errorf("a revoked session's page says %q", ended)
	}
}

// The halted keys of an ordered endpoint (dead_head: halt) in a real
// browser: the endpoint's page links to them; the page lists each halted
// key with its head and what waits behind it; Skip (confirmed) lets one
// key go on at once, Retry sends the other's head again, and once it
// succeeded the key goes on and the page lists nothing.
func TestUIHaltedKeys(t *testing.T) {
	s := startSystem(t, map[string]string{"HOOKSTREAM_RETRY_SCHEDULE": "100ms"})
	ctx := browser(t)
	rcv := newSwitchable(t)
	var ep struct{ ID string }
	if code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": rcv.URL + "/ledger", "event_types": []string{"pay.*"},
		"ordering": "key", "dead_head": "halt"}, &ep); code != http.StatusCreated {
		t.Fatalf("create ordered endpoint: %d %s", code, raw)
	}
	for _, key := range []string{"acct-1", "acct-2"} {
		for i := range 2 {
			if code, raw := s.call("POST", "/v1/events", map[string]any{"type": "pay.made", "data": map[string]any{"i": i},
				"ordering_key": key}, nil); code != http.StatusAccepted {
				t.Fatalf("publish: %d %s", code, raw)
			}
		}
	}
	count := func(status string) int {
		n := 0
		for _, d := range s.deliveries(ep.ID) {
			if d.Status == status {
				n++
			}
		}
		return n
	}
	testenv.Eventually(t, 60*time.Second, func() bool { return count("dead") == 2 && count("blocked") == 2 },
		"want both heads dead and both keys' second deliveries blocked")

	page := s.api + "/console/t/default/endpoints/" + ep.ID
	ui(t, ctx, "log in",
		chromedp.Navigate(s.api+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), s.token),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(`#tenants`)))
	ui(t, ctx, "open the halted keys from the endpoint",
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.CSS("#halted-keys")),
		chromedp.Click(chromedp.CSS("#halted-keys")),
		chromedp.WaitVisible(chromedp.CSS(`tr.halted-key[data-key="acct-1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.halted-key[data-key="acct-2"]`)))
	if rows := text(t, ctx, "#halted"); !strings.Contains(rows, "#1") || !strings.Contains(rows, "Retry head") {
		t.Errorf("the halted keys page shows %q", rows)
	}
	screenshot(t, ctx, "halted-keys")

	ui(t, ctx, "skip acct-2's head",
		chromedp.Click(chromedp.CSS(`tr.halted-key[data-key="acct-2"] .skip-head`)),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
		chromedp.WaitNotPresent(chromedp.CSS(`tr.halted-key[data-key="acct-2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.halted-key[data-key="acct-1"]`)))
	rcv.ok.Store(true)
	ui(t, ctx, "retry acct-1's head",
		chromedp.Click(chromedp.CSS(`tr.halted-key[data-key="acct-1"] .retry-head`)),
		chromedp.WaitVisible(chromedp.CSS("#notice")))
	// acct-2's second delivery went on after the skip; acct-1's head and
	// second succeeded after the retry.
	testenv.Eventually(t, 60*time.Second, func() bool { return count("succeeded") == 3 && count("blocked") == 0 },
		"want acct-1's two deliveries and acct-2's second succeeded")
	ui(t, ctx, "no halted key left",
		chromedp.Navigate(page+"/halted"),
		chromedp.WaitVisible(chromedp.CSS("#no-halted")))
	screenshot(t, ctx, "halted-keys-none")
}

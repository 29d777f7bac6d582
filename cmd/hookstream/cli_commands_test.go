package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/spf13/cobra"

	"github.com/hookstream/hookstream/internal/testenv"
)

func TestCLIHelpOnEveryLevel(t *testing.T) {
	root, _ := newCLI(context.Background(), envconfig.MapLookuper(nil), nil, nil)
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if sub.Name() != "help" {
				walk(sub, append(append([]string(nil), path...), sub.Name()))
			}
		}
	}
	walk(root, nil)
	if len(paths) < 30 {
		t.Fatalf("only %d commands found", len(paths))
	}
	s := &system{t: t, api: "http://127.0.0.1:1"}
	for _, p := range paths {
		r := s.hsAs("", "", append(p, "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("hookstream %s --help: exit %d, stdout %q, stderr %q", strings.Join(p, " "), r.code, r.stdout, r.stderr)
		}
	}
}

func TestCLIExitCodes(t *testing.T) {
	s := startSystem(t, nil)
	for _, c := range []struct {
		name  string
		token string
		args  []string
		code  int
	}{
		{"unknown command", s.token, []string{"bogus"}, exitUsage},
		{"missing argument", s.token, []string{"endpoints", "get"}, exitUsage},
		{"unknown flag", s.token, []string{"endpoints", "list", "--bogus"}, exitUsage},
		{"no token", "", []string{"endpoints", "list"}, exitUsage},
		{"bad --output", s.token, []string{"endpoints", "list", "-o", "yaml"}, exitUsage},
		{"wrong token", "wrong", []string{"endpoints", "list"}, exitAuth},
		{"unknown id", s.token, []string{"endpoints", "get", "ep_nosuchendpoint"}, exitNotFound},
		{"refused body", s.token, []string{"endpoints", "create", "--url", "ftp://x", "--events", "*"}, exitRefused},
		{"unreachable API", s.token, []string{"endpoints", "list", "--api-url", "http://127.0.0.1:1"}, exitUnreachable},
	} {
		r := s.hsAs(c.token, "", c.args...)
		if r.code != c.code {
			t.Errorf("%s: hookstream %v: exit %d, want %d (stderr %q)", c.name, c.args, r.code, c.code, r.stderr)
		}
		if r.code != 0 && !strings.HasPrefix(r.stderr, "hookstream: ") {
			t.Errorf("%s: stderr %q does not say what went wrong", c.name, r.stderr)
		}
	}
}

func TestCLIServerCommandsStayAsTheyWere(t *testing.T) {
	s := &system{t: t, api: "http://127.0.0.1:1"}
	// No Kafka configured: run fails as it always did, on its configuration.
	r := s.hsAs("", "", "run", "--roles=api")
	if r.code != 1 || !strings.Contains(r.stderr, "HOOKSTREAM_KAFKA_BROKERS is required") {
		t.Errorf("run --roles=api: exit %d, stderr %q; want 1 naming HOOKSTREAM_KAFKA_BROKERS", r.code, r.stderr)
	}
	r = s.hsAs("", "", "--roles=bogus")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown role "bogus"`) {
		t.Errorf("--roles=bogus: exit %d, stderr %q; want 2 naming the role", r.code, r.stderr)
	}
	r = s.hsAs("", "", "migrate")
	if r.code != 1 || !strings.Contains(r.stderr, "HOOKSTREAM_DATABASE_URL is required") {
		t.Errorf("migrate: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestCLIEndpointLifecycle(t *testing.T) {
	s := startSystem(t, nil)
	rc := newReceiver(t, nil)
	var ep endpointAnswer
	s.okJSON(&ep, "endpoints", "create", "--url", rc.URL+"/hook", "--events", "invoice.*,order.created",
		"--header", "X-Team=billing", "--timeout", "3s", "--description", "billing")
	if !strings.HasPrefix(ep.ID, "ep_") || !strings.HasPrefix(ep.Secret, "whsec_") || ep.TimeoutMS != 3000 ||
		len(ep.EventTypes) != 2 || len(ep.HeaderNames) != 1 {
		t.Fatalf("created %+v", ep)
	}
	if out := s.ok("endpoints", "list"); !strings.Contains(out, ep.ID) || !strings.Contains(out, "invoice.*,order.created") {
		t.Errorf("list does not show the endpoint:\n%s", out)
	}
	if out := s.ok("endpoints", "get", ep.ID); strings.Contains(out, "whsec_") || !strings.Contains(out, "X-Team") {
		t.Errorf("get shows a secret or misses the header name:\n%s", out)
	}
	var got endpointAnswer
	s.okJSON(&got, "endpoints", "update", ep.ID, "--events", "invoice.paid", "--clear-headers")
	if len(got.EventTypes) != 1 || got.EventTypes[0] != "invoice.paid" || len(got.HeaderNames) != 0 {
		t.Errorf("after update: %+v", got)
	}
	s.okJSON(&got, "endpoints", "disable", ep.ID)
	if got.State != "disabled" {
		t.Errorf("after disable: state %q", got.State)
	}
	s.okJSON(&got, "endpoints", "enable", ep.ID)
	if got.State != "enabled" || got.Replayed == nil {
		t.Errorf("after enable: %+v", got)
	}
	got = endpointAnswer{}
	s.okJSON(&got, "endpoints", "pause", ep.ID, "--for", "1h")
	if !got.Paused || got.PausedUntil == nil || time.Until(*got.PausedUntil) < 50*time.Minute {
		t.Errorf("after pause --for 1h: %+v", got)
	}
	if out := s.ok("endpoints", "get", ep.ID); !strings.Contains(out, "paused:") || !strings.Contains(out, "until 2") {
		t.Errorf("get does not show the pause and its end:\n%s", out)
	}
	if out := s.ok("endpoints", "list"); !strings.Contains(out, "enabled,paused") {
		t.Errorf("list does not show the pause:\n%s", out)
	}
	for _, bad := range [][]string{{"--until", "tomorrow"}, {"--for", "-1h"}, {"--for", "1h", "--until", "2026-12-02T06:00:00Z"}} {
		if r := s.hs(append([]string{"endpoints", "pause", ep.ID}, bad...)...); r.code != 2 {
			t.Errorf("pause %v: exit %d, want 2 (usage)", bad, r.code)
		}
	}
	if r := s.hs("endpoints", "pause", ep.ID, "--until", "2020-01-01T00:00:00Z"); r.code == 0 || !strings.Contains(r.stderr, "until") {
		t.Errorf("pause --until in the past: exit %d, stderr %q; want the API's refusal naming until", r.code, r.stderr)
	}
	got = endpointAnswer{}
	s.okJSON(&got, "endpoints", "resume", ep.ID)
	if got.Paused || got.Replayed == nil {
		t.Errorf("after resume: %+v", got)
	}
	got = endpointAnswer{}
	s.okJSON(&got, "endpoints", "update", ep.ID, "--auto-recover=false")
	if got.AutoRecover == nil || *got.AutoRecover {
		t.Errorf("after update --auto-recover=false: %+v", got)
	}
	s.okJSON(&got, "endpoints", "rotate-secret", ep.ID, "--overlap", "1h")
	if got.Secret == "" || got.Secret == ep.Secret || got.PreviousSecretUntil == nil {
		t.Errorf("rotation: %+v", got)
	}
	s.ok("endpoints", "delete", ep.ID)
	if r := s.hs("endpoints", "get", ep.ID); r.code != exitNotFound {
		t.Errorf("get after delete: exit %d, want %d", r.code, exitNotFound)
	}
}

func TestCLIEventsDeliveriesAndRetry(t *testing.T) {
	s := startSystem(t, nil)
	rc := newReceiver(t, nil)
	ep := s.endpoint(rc.URL+"/hook", "invoice.*")
	r := s.hsAs(s.token, `{"invoice":"in_1","amount":4200}`, "events", "publish", "invoice.paid", "--data", "-", "--id", "in_1-paid")
	if r.code != 0 || !strings.Contains(r.stdout, "in_1-paid") {
		t.Fatalf("publish: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	first := rc.waitRequests(t, 1, 30*time.Second)[0]
	if string(first.Body) != `{"invoice":"in_1","amount":4200}` || !verifies(t, ep.Secret, first) {
		t.Fatalf("receiver got %s, verified %v", first.Body, verifies(t, ep.Secret, first))
	}
	d := s.waitStatus(ep.ID, 1, "succeeded", 30*time.Second)[0]

	var ev eventAnswer
	testenv.Eventually(t, 30*time.Second, func() bool {
		return s.hs("events", "get", "in_1-paid").code == 0
	}, "event never listed")
	s.okJSON(&ev, "events", "get", "in_1-paid")
	var data bytes.Buffer
	testenv.Must(t, json.Compact(&data, ev.Data), "compact data")
	if ev.Type != "invoice.paid" || data.String() != `{"invoice":"in_1","amount":4200}` {
		t.Errorf("events get: %+v", ev)
	}
	if out := s.ok("events", "list", "--type", "invoice.paid", "--since", "1h"); !strings.Contains(out, "in_1-paid") {
		t.Errorf("events list:\n%s", out)
	}
	if out := s.ok("deliveries", "list", "--endpoint", ep.ID, "--status", "succeeded"); !strings.Contains(out, d.ID) {
		t.Errorf("deliveries list:\n%s", out)
	}
	if out := s.ok("deliveries", "list", "--endpoint", ep.ID, "--status", "dead"); strings.Contains(out, d.ID) {
		t.Errorf("deliveries list --status dead shows a succeeded delivery:\n%s", out)
	}
	out := s.ok("deliveries", "get", d.ID)
	if !strings.Contains(out, "OUTCOME") || !strings.Contains(out, "succeeded") || !strings.Contains(out, "200") {
		t.Errorf("deliveries get shows no attempt:\n%s", out)
	}
	s.ok("retry", d.ID)
	again := rc.waitRequests(t, 2, 30*time.Second)[1]
	if again.Header.Get("webhook-id") != d.ID || again.Header.Get("X-Webhook-Attempt") != "2" {
		t.Errorf("retry sent webhook-id %q attempt %q, want %q attempt 2",
			again.Header.Get("webhook-id"), again.Header.Get("X-Webhook-Attempt"), d.ID)
	}
}

func TestCLIRecoverFollowsTheJobToItsEnd(t *testing.T) {
	s := startSystem(t, nil)
	var failing atomic.Bool
	failing.Store(true)
	rc := newReceiver(t, func(int, *http.Request) int {
		if failing.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	ep := s.endpoint(rc.URL+"/hook", "*")
	for range 3 {
		s.publish("order.created", `{"order":1}`)
	}
	s.waitStatus(ep.ID, 3, "dead", 60*time.Second)
	failing.Store(false)

	r := s.hs("recover", ep.ID, "--since", "10m", "--poll", "100ms")
	if r.code != 0 {
		t.Fatalf("recover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, " done: 3/3 sent again") {
		t.Errorf("recover summary: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "done: 3/3") {
		t.Errorf("recover progress on stderr: %q", r.stderr)
	}
	s.waitStatus(ep.ID, 3, "succeeded", 30*time.Second)
	if r := s.hs("recover", "ep_nosuchendpoint", "--since", "1h"); r.code != exitNotFound {
		t.Errorf("recover of an unknown endpoint: exit %d, want %d", r.code, exitNotFound)
	}
}

func TestCLITenantsAndKeysAreForAdmins(t *testing.T) {
	s := startSystem(t, nil)
	var tn tenantAnswer
	s.okJSON(&tn, "tenants", "create", "--id", "acme", "--name", "Acme Corp")
	if tn.ID != "acme" || tn.Name != "Acme Corp" {
		t.Fatalf("tenant %+v", tn)
	}
	if out := s.ok("tenants", "list"); !strings.Contains(out, "acme") || !strings.Contains(out, "Acme Corp") {
		t.Errorf("tenants list:\n%s", out)
	}
	r := s.hs("keys", "create", "acme", "--name", "laptop")
	if r.code != 0 || !strings.Contains(r.stdout, "hsk_") || !strings.Contains(r.stderr, "shown only now") {
		t.Fatalf("keys create: %d %s %s", r.code, r.stdout, r.stderr)
	}
	var key keyAnswer
	s.okJSON(&key, "keys", "create", "acme")
	if out := s.ok("keys", "list", "acme"); !strings.Contains(out, key.ID) || strings.Contains(out, "hsk_") {
		t.Errorf("keys list shows no key or a secret:\n%s", out)
	}
	// The tenant's key acts on its tenant, and is refused the admin's commands.
	if r := s.hsAs(key.Key, "", "tenants", "list"); r.code != exitAuth {
		t.Errorf("tenants list with a tenant key: exit %d, want %d", r.code, exitAuth)
	}
	if r := s.hsAs(key.Key, "", "endpoints", "list"); r.code != 0 {
		t.Errorf("endpoints list with a tenant key: exit %d (%s)", r.code, r.stderr)
	}
	s.ok("keys", "revoke", "acme", key.ID)
	testenv.Eventually(t, 30*time.Second, func() bool {
		return s.hsAs(key.Key, "", "endpoints", "list").code == exitAuth
	}, "a revoked key still works")
	if out := s.ok("quarantine", "list"); !strings.Contains(out, "STAGE") {
		t.Errorf("quarantine list:\n%s", out)
	}
	if r := s.hs("quarantine", "get", "0-999999"); r.code != exitNotFound {
		t.Errorf("quarantine get of nothing: exit %d, want %d", r.code, exitNotFound)
	}
}

func TestCLIDeliveriesTailFollowsAttemptsFiltered(t *testing.T) {
	s := startSystem(t, nil)
	rc := newReceiver(t, nil)
	a := s.endpoint(rc.URL+"/a", "invoice.*")
	b := s.endpoint(rc.URL+"/b", "*")
	tail := s.start(s.token, "deliveries", "tail", "--endpoint", a.ID, "--poll", "200ms")
	tail.waitStderr("Following delivery attempts", 30*time.Second)
	s.publish("invoice.paid", `{"n":1}`)
	line := tail.line(a.ID, 60*time.Second)
	for _, want := range []string{"succeeded", "200", "invoice.paid"} {
		if !strings.Contains(line, want) {
			t.Errorf("tail line %q lacks %q", line, want)
		}
	}
	// b's attempts never show: publish one for b alone, then one for a,
	// and the next line must be a's.
	s.publish("order.created", `{"n":2}`)
	s.waitStatus(b.ID, 2, "succeeded", 30*time.Second)
	s.publish("invoice.voided", `{"n":3}`)
	next := tail.line("succeeded", 60*time.Second)
	if !strings.Contains(next, "invoice.voided") || strings.Contains(next, b.ID) {
		t.Errorf("tail --endpoint %s printed %q", a.ID, next)
	}
	if code := tail.interrupt(); code != 0 {
		t.Errorf("tail ended with exit %d on Ctrl-C, want 0", code)
	}
}

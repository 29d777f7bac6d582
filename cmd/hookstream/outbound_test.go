package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

// outboundEndpoint is what creating or rotating an endpoint answers, with
// its outbound fields.
type outboundEndpoint struct {
	createdEndpoint
	PayloadFormat     string `json:"payload_format"`
	SignatureScheme   string `json:"signature_scheme"`
	PublicKey         string `json:"public_key"`
	PreviousPublicKey string `json:"previous_public_key"`
}

func (s *system) outboundEndpoint(body map[string]any) outboundEndpoint {
	s.t.Helper()
	var ep outboundEndpoint
	if code, raw := s.call("POST", "/v1/endpoints", body, &ep); code != http.StatusCreated {
		s.t.Fatalf("create endpoint: %d %s", code, raw)
	}
	return ep
}

// verifyEd25519 verifies a request's v1a signatures as the Standard
// Webhooks specification says, written from it and not from hookstream's
// code: Ed25519 over "{webhook-id}.{webhook-timestamp}.{body}" under the
// key after whpk_, each signature "v1a," and its base64, in the
// space-separated webhook-signature header. It returns how many of the
// header's v1a signatures verify.
func verifyEd25519(publicKey string, h http.Header, body []byte) (int, error) {
	raw, ok := strings.CutPrefix(publicKey, "whpk_")
	pub, err := base64.StdEncoding.DecodeString(raw)
	if !ok || err != nil || len(pub) != ed25519.PublicKeySize {
		return 0, errors.New("not a whpk_ key")
	}
	ts := h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || h.Get("webhook-id") == "" {
		return 0, errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := time.Since(time.Unix(sec, 0)); d.Abs() > 5*time.Minute {
		return 0, errors.New("timestamp out of tolerance")
	}
	content := []byte(h.Get("webhook-id") + "." + ts + "." + string(body))
	n := 0
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		v, sig, _ := strings.Cut(s, ",")
		b, err := base64.StdEncoding.DecodeString(sig)
		if v == "v1a" && err == nil && ed25519.Verify(pub, content, b) {
			n++
		}
	}
	if n == 0 {
		return 0, errors.New("no v1a signature verifies")
	}
	return n, nil
}

// An event reaches four endpoints, one per payload format, two signing
// with HMAC and two with Ed25519: each real receiver gets the bytes its
// format makes, and the signature verifies over exactly those bytes
// (HMAC with the stock Standard Webhooks library, Ed25519 with the
// specification's algorithm and the public key alone). After an Ed25519
// rotation, a request carries both keys' signatures.
func TestPayloadFormatsAndEd25519(t *testing.T) {
	s := startSystem(t, nil)
	rcv := newReceiver(t, nil)
	eps := map[string]outboundEndpoint{}
	for path, body := range map[string]map[string]any{
		"/data": {},
		"/sw":   {"payload_format": "standard-webhooks"},
		"/ceb":  {"payload_format": "cloudevents-binary", "signature_scheme": "ed25519"},
		"/ces":  {"payload_format": "cloudevents-structured", "signature_scheme": "ed25519"},
	} {
		body["url"], body["event_types"] = rcv.URL+path, []string{"invoice.*"}
		eps[path] = s.outboundEndpoint(body)
	}
	if eps["/ceb"].Secret != "" || eps["/ceb"].PublicKey == "" {
		t.Fatalf("an ed25519 endpoint showed its private key or no public key: %+v", eps["/ceb"])
	}

	data := `{"invoice":"in_1","amount":4200,"note":"ünï"}`
	id := s.publish("invoice.paid", data)
	rcv.waitRequests(t, 4, 30*time.Second)
	for _, r := range rcv.requests() {
		ep := eps[r.Path]
		switch ep.SignatureScheme {
		case "hmac-sha256":
			wh, err := standardwebhooks.NewWebhook(ep.Secret)
			testenv.Must(t, err, "verifier")
			if err := wh.Verify(r.Body, r.Header); err != nil {
				t.Errorf("%s: HMAC signature: %v", r.Path, err)
			}
		case "ed25519":
			if _, err := verifyEd25519(ep.PublicKey, r.Header, r.Body); err != nil {
				t.Errorf("%s: Ed25519 signature: %v", r.Path, err)
			}
		default:
			t.Fatalf("%s: scheme %q", r.Path, ep.SignatureScheme)
		}
		ct := r.Header.Get("Content-Type")
		switch r.Path {
		case "/data":
			if string(r.Body) != data || ct != "application/json" {
				t.Errorf("data: %s (%s)", r.Body, ct)
			}
		case "/sw":
			var env struct {
				Type      string          `json:"type"`
				Timestamp time.Time       `json:"timestamp"`
				Data      json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(r.Body, &env); err != nil || env.Type != "invoice.paid" || string(env.Data) != data ||
				time.Since(env.Timestamp) > time.Minute || ct != "application/json" {
				t.Errorf("standard-webhooks envelope %s (%s): %v", r.Body, ct, err)
			}
		case "/ceb":
			if string(r.Body) != data || ct != "application/json" || r.Header.Get("ce-specversion") != "1.0" ||
				r.Header.Get("ce-id") != id || r.Header.Get("ce-type") != "invoice.paid" ||
				r.Header.Get("ce-source") != "hookstream/default" || r.Header.Get("ce-time") == "" {
				t.Errorf("cloudevents binary: %s %v", r.Body, r.Header)
			}
		case "/ces":
			var ce map[string]any
			if err := json.Unmarshal(r.Body, &ce); err != nil || ct != "application/cloudevents+json; charset=UTF-8" ||
				ce["specversion"] != "1.0" || ce["id"] != id || ce["type"] != "invoice.paid" || ce["source"] != "hookstream/default" ||
				ce["datacontenttype"] != "application/json" || ce["data"].(map[string]any)["invoice"] != "in_1" {
				t.Errorf("cloudevents structured: %s (%s): %v", r.Body, ct, err)
			}
		}
	}

	// Rotate the binary endpoint's Ed25519 key: during the overlap each
	// request verifies with the old public key and with the new one.
	var rot outboundEndpoint
	if code, raw := s.call("POST", "/v1/endpoints/"+eps["/ceb"].ID+"/rotate-secret", `{}`, &rot); code != http.StatusOK {
		t.Fatalf("rotate: %d %s", code, raw)
	}
	if rot.PreviousPublicKey != eps["/ceb"].PublicKey || rot.PublicKey == eps["/ceb"].PublicKey || rot.Secret != "" {
		t.Fatalf("rotated: %+v", rot)
	}
	s.publish("invoice.sent", data)
	reqs := rcv.waitRequests(t, 8, 30*time.Second)
	for _, r := range reqs[4:] {
		if r.Path != "/ceb" {
			continue
		}
		for _, pub := range []string{eps["/ceb"].PublicKey, rot.PublicKey} {
			if n, err := verifyEd25519(pub, r.Header, r.Body); err != nil || n != 1 {
				t.Errorf("after rotation, %d signatures verify with one of the keys (%v), want 1 each", n, err)
			}
		}
		if got := len(strings.Fields(r.Header.Get("webhook-signature"))); got != 2 {
			t.Errorf("after rotation the request carries %d signatures, want 2", got)
		}
	}
}

// A CloudEvent published to the topic in binary mode goes out to a
// CloudEvents endpoint as the same CloudEvent: its id, source, type,
// subject, time and extensions, not hookstream's own.
func TestCloudEventInCloudEventOut(t *testing.T) {
	s := startSystem(t, nil)
	rcv := newReceiver(t, nil)
	s.outboundEndpoint(map[string]any{"url": rcv.URL + "/ces", "event_types": []string{"com.example.*"}, "payload_format": "cloudevents-structured"})
	s.outboundEndpoint(map[string]any{"url": rcv.URL + "/ceb", "event_types": []string{"com.example.*"}, "payload_format": "cloudevents-binary"})
	rec := &kgo.Record{Topic: s.prefix + "events", Value: []byte(`{"invoice":"in_1"}`),
		Headers: kheaders("ce_specversion", "1.0", "ce_id", "A-1", "ce_source", "/billing", "ce_type", "com.example.invoice.paid",
			"ce_time", "2026-12-02T09:00:00Z", "ce_subject", "in 1", "ce_tenant", "default", "ce_region", "eu", "content-type", "application/json")}
	testenv.Must(t, s.kafka().ProduceSync(context.Background(), rec).FirstErr(), "produce")
	rcv.waitRequests(t, 2, 30*time.Second)
	for _, r := range rcv.requests() {
		got := map[string]string{}
		switch r.Path {
		case "/ces":
			var ce map[string]any
			testenv.Must(t, json.Unmarshal(r.Body, &ce), "structured body")
			for k, v := range ce {
				if sv, ok := v.(string); ok {
					got[k] = sv
				}
			}
		case "/ceb":
			for k := range r.Header {
				if name, ok := strings.CutPrefix(strings.ToLower(k), "ce-"); ok {
					v, err := url.PathUnescape(r.Header.Get(k))
					testenv.Must(t, err, "percent-decoding "+k)
					got[name] = v
				}
			}
			if string(r.Body) != `{"invoice":"in_1"}` {
				t.Errorf("binary body %s", r.Body)
			}
		}
		for k, v := range map[string]string{"specversion": "1.0", "id": "A-1", "source": "/billing", "type": "com.example.invoice.paid",
			"time": "2026-12-02T09:00:00Z", "subject": "in 1", "region": "eu", "tenant": "default"} {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q (all: %v)", r.Path, k, got[k], v, got)
			}
		}
	}
}

// Payload filters, end to end: four events (two through the API, two
// straight to the topic with a region header) reach the endpoints whose
// filters let them through, and only those: by data, by the record's
// headers, none past a filter that always exceeds its cost limit, all
// without a filter. The metrics count what was filtered out and the
// failed evaluations.
func TestPayloadFiltersEndToEnd(t *testing.T) {
	s := startSystem(t, nil)
	rcv := newReceiver(t, nil)
	hostile := "[1,2,3,4,5,6,7,8].map(a, [1,2,3,4,5,6,7,8].map(b, [1,2,3,4,5,6,7,8].map(c, [1,2,3,4,5,6,7,8].map(d, [1,2,3,4,5,6,7,8].map(e, a+b+c+d+e))))).size() > 0"
	for path, f := range map[string]string{
		"/all":     "",
		"/big":     "data.amount >= 1000",
		"/eu":      `"region" in headers && headers.region == "eu"`,
		"/hostile": hostile,
	} {
		body := map[string]any{"url": rcv.URL + path, "event_types": []string{"invoice.*"}}
		if f != "" {
			body["filter"] = f
		}
		s.outboundEndpoint(body)
	}
	s.publish("invoice.paid", `{"n":1,"amount":5000}`)
	s.publish("invoice.paid", `{"n":2,"amount":10}`)
	cl := s.kafka()
	for _, r := range []*kgo.Record{
		{Value: []byte(`{"tenant":"default","type":"invoice.paid","data":{"n":3,"amount":20}}`), Headers: kheaders("region", "eu")},
		{Value: []byte(`{"tenant":"default","type":"invoice.paid","data":{"n":4,"amount":7000}}`), Headers: kheaders("region", "us")},
	} {
		r.Topic = s.prefix + "events"
		testenv.Must(t, cl.ProduceSync(context.Background(), r).FirstErr(), "produce")
	}
	// Once the four events are dispatched, the tasks are all made: 4 for
	// /all, 2 for /big, 1 for /eu, none for /hostile.
	testenv.Eventually(t, 30*time.Second, func() bool {
		return metricValue(t, s, "hookstream_events_dispatched_total") == 4
	}, "the dispatcher did not see 4 events")
	if got := metricValue(t, s, "hookstream_delivery_tasks_total"); got != 7 {
		t.Fatalf("%v tasks, want 7", got)
	}
	if got := metricValue(t, s, "hookstream_events_filtered_total"); got != 2+3+4 {
		t.Errorf("hookstream_events_filtered_total = %v, want 9", got)
	}
	if got := metricValue(t, s, "hookstream_filter_errors_total"); got != 4 {
		t.Errorf("hookstream_filter_errors_total = %v, want 4 (the hostile filter, on every event)", got)
	}
	rcv.waitRequests(t, 7, 30*time.Second)
	got := map[string][]int{}
	for _, r := range rcv.requests() {
		var d struct{ N int }
		testenv.Must(t, json.Unmarshal(r.Body, &d), "body")
		got[r.Path] = append(got[r.Path], d.N)
	}
	for path, want := range map[string][]int{"/all": {1, 2, 3, 4}, "/big": {1, 4}, "/eu": {3}, "/hostile": nil} {
		g := got[path]
		slices.Sort(g)
		if !slices.Equal(g, want) {
			t.Errorf("%s received events %v, want %v", path, g, want)
		}
	}
}

// Hostile filters do not stall fan-out: a tenant whose 30 endpoints carry
// filters written to be expensive (quadratic over a 2,000-element array,
// a search for a 100 KiB string in each of them, nested maps), fed
// events that make them so, costs each evaluation no more than the cost
// limit; its endpoints receive nothing, every evaluation is counted as
// failed, and another tenant's events keep arriving meanwhile.
func TestHostileFiltersDoNotStallFanout(t *testing.T) {
	s := startSystem(t, nil)
	if code, raw := s.call("POST", "/v1/tenants", map[string]any{"id": "heavy"}, nil); code != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", code, raw)
	}
	calm := newWellBehaved(s)
	hostileRcv := newReceiver(t, nil)
	filters := []string{
		`data.items.all(a, data.items.all(b, a == b))`,
		`data.items.exists(a, data.s.contains(a + "b"))`,
		`[1,2,3,4,5,6,7,8].map(a, [1,2,3,4,5,6,7,8].map(b, [1,2,3,4,5,6,7,8].map(c, [1,2,3,4,5,6,7,8].map(d, [1,2,3,4,5,6,7,8].map(e, a+b+c+d+e))))).size() > 0`,
	}
	const endpoints, events = 30, 10
	for k := range endpoints {
		var ep createdEndpoint
		if code, raw := s.call("POST", "/v1/endpoints", map[string]any{"url": hostileRcv.URL, "event_types": []string{"heavy.*"},
			"filter": filters[k%len(filters)]}, &ep, "X-Hookstream-Tenant", "heavy"); code != http.StatusCreated {
			t.Fatalf("create endpoint: %d %s", code, raw)
		}
	}
	items := strings.Repeat(`"xxxxxxxxxxxxxxxx",`, 1999) + `"x"`
	data := `{"items":[` + items + `],"s":"` + strings.Repeat("a", 100_000) + `"}`
	for range events {
		s.publish("heavy.load", data, "X-Hookstream-Tenant", "heavy")
		calm.check("a heavy event", 1)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		return metricValue(t, s, "hookstream_filter_errors_total") == endpoints*events
	}, "filter errors %v, want %d", metricValue(t, s, "hookstream_filter_errors_total"), endpoints*events)
	calm.check("every heavy event was dispatched", 3)
	if n := len(hostileRcv.requests()); n != 0 {
		t.Errorf("endpoints behind hostile filters received %d requests", n)
	}
}

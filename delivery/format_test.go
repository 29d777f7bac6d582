package delivery

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// TestFormatsOverHTTP sends one message in each payload format to a real
// receiver, which checks the bytes and headers it got, and that the
// signature covers exactly those bytes (a stock verifier for v1, the
// specification's algorithm for v1a).
func TestFormatsOverHTTP(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 30, 1, 500_000_000, time.UTC)
	msg := Message{
		ID: "evt_1", Type: "invoice.paid", Time: at, Data: []byte(`{"invoice":"in_1","amount":4200}`),
		Source: "hookstream/acme", Subject: "in_1", Extensions: map[string]string{"tenant": "acme", "note": `50% "off" ü`},
	}
	secret := mustGenerateSecret(t)
	priv, pub := mustKeyPair(t)
	hmacKey, edKey := mustParseSecret(t, secret), mustParseSecret(t, priv)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		h    http.Header
		body []byte
	}
	recv := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if wh.Verify(body, r.Header) != nil || verifyV1a(pub, r.Header, body) != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
		recv <- got{r.Header, body}
	}))
	t.Cleanup(srv.Close)
	s := newTestSender(t, SenderOptions{Guard: allowLoopback})

	tests := []struct {
		format string
		check  func(t *testing.T, g got)
	}{
		{FormatData, func(t *testing.T, g got) {
			if string(g.body) != string(msg.Data) || g.h.Get("Content-Type") != "application/json" {
				t.Fatalf("data: %s, %q", g.body, g.h.Get("Content-Type"))
			}
		}},
		{FormatStandardWebhooks, func(t *testing.T, g got) {
			want := `{"type":"invoice.paid","timestamp":"2026-12-02T09:30:01.5Z","data":{"invoice":"in_1","amount":4200}}`
			if string(g.body) != want || g.h.Get("Content-Type") != "application/json" {
				t.Fatalf("envelope: %s (%q), want %s", g.body, g.h.Get("Content-Type"), want)
			}
		}},
		{FormatCloudEventsStructured, func(t *testing.T, g got) {
			if ct := g.h.Get("Content-Type"); ct != "application/cloudevents+json; charset=UTF-8" {
				t.Fatalf("Content-Type %q", ct)
			}
			var ev map[string]any
			if err := json.Unmarshal(g.body, &ev); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"specversion": "1.0", "id": "evt_1", "source": "hookstream/acme", "type": "invoice.paid",
				"time": "2026-12-02T09:30:01.5Z", "datacontenttype": "application/json", "subject": "in_1",
				"tenant": "acme", "note": `50% "off" ü`,
				"data": map[string]any{"invoice": "in_1", "amount": 4200.0},
			}
			if len(ev) != len(want) {
				t.Fatalf("event %v, want %v", ev, want)
			}
			for k, v := range want {
				if k == "data" {
					d := ev[k].(map[string]any)
					if d["invoice"] != "in_1" || d["amount"] != 4200.0 {
						t.Fatalf("data %v", d)
					}
					continue
				}
				if ev[k] != v {
					t.Fatalf("%s = %v, want %v", k, ev[k], v)
				}
			}
			if g.h.Get("ce-id") != "" {
				t.Fatal("structured mode sent ce- headers")
			}
		}},
		{FormatCloudEventsBinary, func(t *testing.T, g got) {
			if string(g.body) != string(msg.Data) || g.h.Get("Content-Type") != "application/json" {
				t.Fatalf("binary body %s (%q)", g.body, g.h.Get("Content-Type"))
			}
			for k, v := range map[string]string{
				"ce-specversion": "1.0", "ce-id": "evt_1", "ce-source": "hookstream/acme", "ce-type": "invoice.paid",
				"ce-time": "2026-12-02T09:30:01.5Z", "ce-subject": "in_1", "ce-tenant": "acme",
			} {
				if g.h.Get(k) != v {
					t.Fatalf("%s = %q, want %q", k, g.h.Get(k), v)
				}
			}
			// Percent-encoded as the HTTP binding says, and decodable.
			raw := g.h.Get("ce-note")
			if raw != "50%25%20%22off%22%20%C3%BC" {
				t.Fatalf("ce-note = %q", raw)
			}
			if dec, err := url.PathUnescape(raw); err != nil || dec != msg.Extensions["note"] {
				t.Fatalf("ce-note decodes to %q, %v", dec, err)
			}
			if g.h.Get("ce-datacontenttype") != "" {
				t.Fatal("binary mode sent ce-datacontenttype; it belongs in Content-Type")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			p := Encode(tt.format, msg)
			res := s.Send(context.Background(), Request{
				ID: "msg_1", EventID: msg.ID, EventType: msg.Type, Attempt: 1, URL: srv.URL,
				Body: p.Body, ContentType: p.ContentType, FormatHeaders: p.Headers,
				Keys:    []Key{hmacKey, edKey},
				Headers: map[string]string{"ce-id": "forged", "X-Custom": "1"},
			})
			if res.Err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("receiver answered %d (%v): the signature does not cover the bytes sent", res.StatusCode, res.Err)
			}
			g := <-recv
			if g.h.Get("X-Custom") != "1" {
				t.Fatal("custom header lost")
			}
			if tt.format != FormatCloudEventsBinary && g.h.Get("ce-id") != "" {
				t.Fatalf("a custom header set ce-id = %q", g.h.Get("ce-id"))
			}
			tt.check(t, g)
		})
	}
}

func TestEncodeExtensionsCannotPassForAttributes(t *testing.T) {
	m := Message{ID: "e", Type: "t", Source: "s", Data: []byte(`1`), Extensions: map[string]string{"id": "x", "data": "y", "type": "z"}}
	var ev map[string]any
	if err := json.Unmarshal(Encode(FormatCloudEventsStructured, m).Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev["id"] != "e" || ev["type"] != "t" || ev["data"] != 1.0 {
		t.Fatalf("an extension replaced an attribute: %v", ev)
	}
	for _, h := range Encode(FormatCloudEventsBinary, m).Headers {
		if (h.Name == "ce-id" && h.Value != "e") || h.Name == "ce-data" {
			t.Fatalf("binary header %v", h)
		}
	}
}

func TestValidFormat(t *testing.T) {
	for _, f := range Formats {
		if !ValidFormat(f) {
			t.Fatalf("%q not valid", f)
		}
	}
	if ValidFormat("") || ValidFormat("cloudevents") {
		t.Fatal("unknown format valid")
	}
}

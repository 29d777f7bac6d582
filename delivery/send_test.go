package delivery

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// allowLoopback lets a Sender reach httptest servers, which listen on 127.0.0.1.
var allowLoopback = Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// newTestSender returns a Sender closed with the test.
func newTestSender(t *testing.T, o SenderOptions) *Sender {
	t.Helper()
	s := NewSender(o)
	t.Cleanup(s.Close)
	return s
}

// newServer starts an httptest server closed with the test.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// captured is what a test receiver saw.
type captured struct {
	header http.Header
	body   []byte
}

func TestSendRequest(t *testing.T) {
	got := make(chan captured, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			t.Errorf("method = %s, want POST", r.Method)
		}
		body, _ := io.ReadAll(r.Body)
		got <- captured{r.Header.Clone(), body}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "thanks")
	})
	key := mustParseSecret(t, vectorSecret)
	body := []byte(" {\"b\": [1, 2],\n\"a\":\"é\"} ") // verbatim, odd spacing included
	ts := time.Unix(1700000000, 0)
	req := Request{
		ID:        "dlv_abc",
		EventID:   "evt_1",
		EventType: "invoice.paid",
		Attempt:   3,
		Timestamp: ts,
		Body:      body,
		URL:       srv.URL + "/hook",
		Keys:      []Key{key},
		Headers: map[string]string{
			"X-Custom":             "yes",
			"Authorization":        "Bearer tok",
			"webhook-signature":    "v1,forged",
			"Webhook-Id":           "other",
			"WEBHOOK-TIMESTAMP":    "1",
			"content-type":         "text/plain",
			"X-Webhook-Attempt":    "99",
			"X-Webhook-Event-Type": "fake",
			"X-Webhook-Event-Id":   "fake",
			"X-Webhook-Timestamp":  "1",
			"User-Agent":           "evil",
			"Content-Length":       "1",
			"Host":                 "evil.example",
			"Connection":           "close",
		},
	}
	res := newTestSender(t, SenderOptions{Guard: allowLoopback}).Send(context.Background(), req)
	if res.Err != nil || res.ErrClass != "" {
		t.Fatalf("Send: err %v class %q", res.Err, res.ErrClass)
	}
	if res.StatusCode != http.StatusAccepted || string(res.Body) != "thanks" || res.Truncated {
		t.Fatalf("result = %d %q truncated=%v", res.StatusCode, res.Body, res.Truncated)
	}
	if res.Latency <= 0 {
		t.Fatalf("latency = %v, want > 0", res.Latency)
	}
	c := <-got
	if string(c.body) != string(body) {
		t.Fatalf("body = %q, want %q", c.body, body)
	}
	want := map[string]string{
		"Content-Type":         "application/json",
		"Content-Length":       strconv.Itoa(len(body)),
		"Webhook-Id":           "dlv_abc",
		"Webhook-Timestamp":    "1700000000",
		"Webhook-Signature":    Sign("dlv_abc", ts, body, key),
		"X-Webhook-Timestamp":  "1700000000",
		"X-Webhook-Attempt":    "3",
		"X-Webhook-Event-Type": "invoice.paid",
		"X-Webhook-Event-Id":   "evt_1",
		"User-Agent":           "hookstream/1",
		"X-Custom":             "yes",
		"Authorization":        "Bearer tok",
	}
	for k, v := range want {
		if vs := c.header.Values(k); len(vs) != 1 || vs[0] != v {
			t.Errorf("header %s = %q, want [%q]", k, vs, v)
		}
	}
	for k := range c.header {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected header %s: %q", k, c.header.Values(k))
		}
	}
}

func TestSendNoRedirect(t *testing.T) {
	var followed atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			followed.Add(1)
			return
		}
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		http.Redirect(w, r, "/moved", code)
	})
	s := newTestSender(t, SenderOptions{Guard: allowLoopback})
	for _, code := range []int{301, 302, 303, 307, 308} {
		res := s.Send(context.Background(), Request{URL: srv.URL + "/hook?code=" + strconv.Itoa(code)})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if res.StatusCode != code {
			t.Fatalf("status = %d, want %d", res.StatusCode, code)
		}
		if Classify(res) != Retry {
			t.Fatalf("Classify(%d) = %v, want retry", code, Classify(res))
		}
	}
	if n := followed.Load(); n != 0 {
		t.Fatalf("redirect followed %d times", n)
	}
}

// A URL's userinfo is sent as Basic authorization, as an http.Client
// sends it, unless the endpoint's own headers carry an Authorization.
func TestSendURLUserinfo(t *testing.T) {
	got := make(chan string, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
	})
	s := newTestSender(t, SenderOptions{Guard: allowLoopback})
	u := strings.Replace(srv.URL, "http://", "http://hook%20user:p%40ss@", 1) + "/hook"
	for _, tc := range []struct {
		headers map[string]string
		want    string
	}{
		{nil, "Basic " + base64.StdEncoding.EncodeToString([]byte("hook user:p@ss"))},
		{map[string]string{"Authorization": "Bearer tok"}, "Bearer tok"},
	} {
		res := s.Send(context.Background(), Request{URL: u, Headers: tc.headers})
		if res.Err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("Send: %d %v", res.StatusCode, res.Err)
		}
		if a := <-got; a != tc.want {
			t.Errorf("Authorization = %q, want %q", a, tc.want)
		}
	}
}

func TestSendResponseBody(t *testing.T) {
	tests := []struct {
		name          string
		size, max     int
		wantLen       int
		wantTruncated bool
	}{
		{"empty", 0, 100, 0, false},
		{"short", 10, 100, 10, false},
		{"exactly max", 100, 100, 100, false},
		{"one over", 101, 100, 100, true},
		{"long", 10000, 100, 100, true},
		{"default max", 5000, 0, 4096, true},
		{"beyond drain", 1 << 20, 100, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				w.Write([]byte(strings.Repeat("x", tt.size)))
			})
			res := newTestSender(t, SenderOptions{Guard: allowLoopback, MaxResponseBody: tt.max}).Send(context.Background(), Request{URL: srv.URL})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if res.StatusCode != 500 || len(res.Body) != tt.wantLen || res.Truncated != tt.wantTruncated {
				t.Fatalf("status %d, body %d bytes, truncated %v; want 500, %d, %v",
					res.StatusCode, len(res.Body), res.Truncated, tt.wantLen, tt.wantTruncated)
			}
		})
	}
}

// TestSendReusesConnections checks that a response body longer than the
// capture, but within the drain limit, does not cost the connection.
func TestSendReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 10000)))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s := newTestSender(t, SenderOptions{Guard: allowLoopback})
	for range 5 {
		if res := s.Send(context.Background(), Request{URL: srv.URL}); res.StatusCode != 200 || !res.Truncated {
			t.Fatalf("status %d truncated %v err %v", res.StatusCode, res.Truncated, res.Err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 5 sequential sends, want 1", n)
	}
}

func TestIsReservedHeader(t *testing.T) {
	for _, h := range []string{"webhook-signature", "Webhook-Id", "WEBHOOK-TIMESTAMP", "content-type", "x-webhook-attempt", "Host", "transfer-encoding"} {
		if !IsReservedHeader(h) {
			t.Errorf("IsReservedHeader(%q) = false", h)
		}
	}
	for _, h := range []string{"Authorization", "X-Api-Key", "X-Webhook-Custom"} {
		if IsReservedHeader(h) {
			t.Errorf("IsReservedHeader(%q) = true", h)
		}
	}
}

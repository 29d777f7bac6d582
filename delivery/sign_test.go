package delivery

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Standard Webhooks libraries' own test vector.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignVector(t *testing.T) {
	key := mustParseSecret(t, vectorSecret)
	got := Sign(vectorID, time.Unix(vectorTS, 0), []byte(vectorBody), key)
	if got != vectorSig {
		t.Fatalf("Sign = %q, want %q", got, vectorSig)
	}
}

func TestSignSeveralKeys(t *testing.T) {
	key := mustParseSecret(t, vectorSecret)
	other := mustParseSecret(t, mustGenerateSecret(t))
	ts := time.Unix(vectorTS, 0)
	got := Sign(vectorID, ts, []byte(vectorBody), other, key)
	parts := strings.Split(got, " ")
	if len(parts) != 2 {
		t.Fatalf("Sign with two keys = %q, want two space-separated signatures", got)
	}
	if parts[0] != Sign(vectorID, ts, []byte(vectorBody), other) || parts[1] != vectorSig {
		t.Fatalf("Sign with two keys = %q: wrong order or values", got)
	}
	if got := Sign(vectorID, ts, []byte(vectorBody)); got != "" {
		t.Fatalf("Sign without keys = %q, want empty", got)
	}
}

// TestSendVerifiesWithStandardWebhooks checks that an off-the-shelf Standard
// Webhooks verifier accepts what Send sends, also during a rotation.
func TestSendVerifiesWithStandardWebhooks(t *testing.T) {
	oldSecret, newSecret, strangerSecret := mustGenerateSecret(t), mustGenerateSecret(t), mustGenerateSecret(t)
	oldKey, newKey := mustParseSecret(t, oldSecret), mustParseSecret(t, newSecret)
	tests := []struct {
		name     string
		keys     []Key  // what the sender signs with
		verifier string // the secret the receiver holds
		want     int
	}{
		{"one key", []Key{newKey}, newSecret, http.StatusNoContent},
		{"rotation, receiver holds old", []Key{newKey, oldKey}, oldSecret, http.StatusNoContent},
		{"rotation, receiver holds new", []Key{newKey, oldKey}, newSecret, http.StatusNoContent},
		{"wrong secret", []Key{newKey, oldKey}, strangerSecret, http.StatusUnauthorized},
		{"rotation over, receiver holds old", []Key{newKey}, oldSecret, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wh, err := standardwebhooks.NewWebhook(tt.verifier)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				if err := wh.Verify(body, r.Header); err != nil {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(srv.Close)

			res := newTestSender(t, SenderOptions{Guard: allowLoopback}).Send(context.Background(), Request{
				ID:        "dlv_123",
				EventID:   "evt_1",
				EventType: "order.created",
				Attempt:   1,
				Timestamp: time.Now(),
				Body:      []byte(`{"order":42}`),
				URL:       srv.URL,
				Keys:      tt.keys,
			})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if res.StatusCode != tt.want {
				t.Fatalf("receiver answered %d, want %d", res.StatusCode, tt.want)
			}
		})
	}
}

func mustParseSecret(t *testing.T, s string) Key {
	t.Helper()
	key, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func mustGenerateSecret(t *testing.T) string {
	t.Helper()
	s, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// BenchmarkSign signs a webhook of the bench's size (one HMAC key, as
// almost every attempt): go test ./delivery -run X -bench Sign -benchmem.
func BenchmarkSign(b *testing.B) {
	key := HMACKey([]byte("0123456789abcdef0123456789abcdef"))
	body := []byte(`{"seq":12345,"sent":1764662400000000000,"pad":"` + strings.Repeat("x", 200) + `"}`)
	ts := time.Unix(1764662400, 0)
	b.ReportAllocs()
	for b.Loop() {
		Sign("dlv_0123456789abcdef0123456789", ts, body, key)
	}
}

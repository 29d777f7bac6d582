package delivery

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Ed25519 test vector of the Standard Webhooks Go library (its
// webhook_asymmetric_test.go): the seed's base64, and the signature of
// vectorID.vectorTS.vectorBody.
const (
	vectorEdSeed = "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
	vectorEdSig  = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
)

func TestSignEd25519Vector(t *testing.T) {
	key, err := ParseKey(PrivateKeyPrefix + vectorEdSeed)
	if err != nil {
		t.Fatal(err)
	}
	if key.Scheme() != SchemeEd25519 {
		t.Fatalf("scheme %q", key.Scheme())
	}
	if got := Sign(vectorID, time.Unix(vectorTS, 0), []byte(vectorBody), key); got != vectorEdSig {
		t.Fatalf("Sign = %q, want %q", got, vectorEdSig)
	}
}

// verifyV1a is a receiver's verification written from the Standard
// Webhooks specification, not from hookstream's code: the signed content
// is "{webhook-id}.{webhook-timestamp}.{body}", the header a space-separated
// list of "version,base64", and a v1a signature is Ed25519 under the key
// after whpk_.
func verifyV1a(publicKey string, h http.Header, body []byte) error {
	raw, ok := strings.CutPrefix(publicKey, "whpk_")
	if !ok {
		return errors.New("public key without whpk_")
	}
	pub, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return errors.New("bad public key")
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp out of tolerance")
	}
	content := []byte(id + "." + ts + "." + string(body))
	for _, s := range strings.Split(h.Get("webhook-signature"), " ") {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1a" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && ed25519.Verify(pub, content, b) {
			return nil
		}
	}
	return errors.New("no matching v1a signature")
}

func TestGenerateKeyPair(t *testing.T) {
	priv, pub, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(priv, "whsk_") || !strings.HasPrefix(pub, "whpk_") {
		t.Fatalf("key pair %q / %q: wrong prefixes", priv[:5], pub)
	}
	if got, err := PublicKey(priv); err != nil || got != pub {
		t.Fatalf("PublicKey(private) = %q, %v; want %q", got, err, pub)
	}
	if SecretScheme(priv) != SchemeEd25519 || SecretScheme(mustGenerateSecret(t)) != SchemeHMAC {
		t.Fatal("SecretScheme does not tell the kinds apart")
	}
	if _, err := ParsePublicKey(pub); err != nil {
		t.Fatal(err)
	}
	// The 64-byte form (seed and public key) is the same key.
	k1, _ := ParseKey(priv)
	seed, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(priv, "whsk_"))
	k2, err := ParseKey("whsk_" + base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(seed)))
	if err != nil || !k1.ed.Equal(k2.ed) {
		t.Fatalf("64-byte key: %v", err)
	}
}

func TestParseKeyRefuses(t *testing.T) {
	seed := make([]byte, 32)
	full := ed25519.NewKeyFromSeed(seed)
	tampered := append([]byte(nil), full...)
	tampered[40] ^= 1
	for name, in := range map[string]string{
		"empty ed25519":      "whsk_",
		"31 bytes":           "whsk_" + base64.StdEncoding.EncodeToString(seed[:31]),
		"33 bytes":           "whsk_" + base64.StdEncoding.EncodeToString(append(seed, 0)),
		"not base64":         "whsk_***",
		"line break":         "whsk_" + base64.StdEncoding.EncodeToString(seed)[:10] + "\n" + base64.StdEncoding.EncodeToString(seed)[10:],
		"public half wrong":  "whsk_" + base64.StdEncoding.EncodeToString(tampered),
		"short hmac":         "whsec_AAAA",
		"public key as such": "whpk_" + base64.StdEncoding.EncodeToString(full.Public().(ed25519.PublicKey)),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseKey(in)
			if !errors.Is(err, ErrInvalidSecret) {
				t.Fatalf("ParseKey = %v, want ErrInvalidSecret", err)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(in, "whsk_")) && len(in) > 8 {
				t.Fatalf("error %q contains the key", err)
			}
		})
	}
	for _, in := range []string{"", "whpk_", "whpk_AAAA", "whsk_" + base64.StdEncoding.EncodeToString(seed)} {
		if _, err := ParsePublicKey(in); err == nil {
			t.Fatalf("ParsePublicKey(%q) accepted", in)
		}
	}
}

// TestSendEd25519VerifiesBySpec sends signed requests to a real HTTP
// receiver that verifies them as the specification says, with the public
// key only, across a rotation (both signatures during the overlap), from
// HMAC to Ed25519 and from one Ed25519 key to another.
func TestSendEd25519VerifiesBySpec(t *testing.T) {
	oldPriv, oldPub := mustKeyPair(t)
	newPriv, newPub := mustKeyPair(t)
	_, strangerPub := mustKeyPair(t)
	hmacSecret := mustGenerateSecret(t)
	oldKey, newKey, hmacKey := mustParseSecret(t, oldPriv), mustParseSecret(t, newPriv), mustParseSecret(t, hmacSecret)
	tests := []struct {
		name   string
		keys   []Key
		pub    string // what the receiver trusts
		want   int
		hmacOK bool // an HMAC receiver holding hmacSecret verifies too
	}{
		{"one key", []Key{newKey}, newPub, http.StatusNoContent, false},
		{"rotation, receiver holds old", []Key{newKey, oldKey}, oldPub, http.StatusNoContent, false},
		{"rotation, receiver holds new", []Key{newKey, oldKey}, newPub, http.StatusNoContent, false},
		{"rotation over, receiver holds old", []Key{newKey}, oldPub, http.StatusUnauthorized, false},
		{"stranger's key", []Key{newKey, oldKey}, strangerPub, http.StatusUnauthorized, false},
		{"from hmac to ed25519", []Key{newKey, hmacKey}, newPub, http.StatusNoContent, true},
		{"from ed25519 to hmac", []Key{hmacKey, oldKey}, oldPub, http.StatusNoContent, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hmacVerified bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				hmacVerified = verifyV1(hmacSecret, r.Header, body) == nil
				if err := verifyV1a(tt.pub, r.Header, body); err != nil {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(srv.Close)
			res := newTestSender(t, SenderOptions{Guard: allowLoopback}).Send(context.Background(), Request{
				ID: "msg_1", EventID: "evt_1", EventType: "order.created", Attempt: 1,
				Body: []byte(`{"order":42}`), URL: srv.URL, Keys: tt.keys,
			})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if res.StatusCode != tt.want {
				t.Fatalf("receiver answered %d, want %d", res.StatusCode, tt.want)
			}
			if hmacVerified != tt.hmacOK {
				t.Fatalf("HMAC receiver verified: %v, want %v", hmacVerified, tt.hmacOK)
			}
		})
	}
}

// verifyV1 checks the v1 signatures with the stock Standard Webhooks
// library.
func verifyV1(secret string, h http.Header, body []byte) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	return wh.Verify(body, h)
}

func mustKeyPair(t *testing.T) (priv, pub string) {
	t.Helper()
	priv, pub, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

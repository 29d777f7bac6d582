package delivery

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestGenerateSecret(t *testing.T) {
	a, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two generated secrets are equal")
	}
	if !strings.HasPrefix(a, SecretPrefix) {
		t.Fatalf("secret lacks prefix %q", SecretPrefix)
	}
	key, err := ParseSecret(a)
	if err != nil {
		t.Fatalf("ParseSecret(generated): %v", err)
	}
	if len(key) != 32 {
		t.Fatalf("key is %d bytes, want 32", len(key))
	}
}

func TestParseSecret(t *testing.T) {
	enc := func(n int) string {
		return base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", n)))
	}
	tests := []struct {
		name    string
		in      string
		wantLen int // 0: want ErrInvalidSecret
	}{
		{"standard webhooks vector", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 24},
		{"without prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 24},
		{"32 bytes", SecretPrefix + enc(32), 32},
		{"64 bytes", SecretPrefix + enc(64), 64},
		{"23 bytes", SecretPrefix + enc(23), 0},
		{"65 bytes", SecretPrefix + enc(65), 0},
		{"empty", "", 0},
		{"prefix only", SecretPrefix, 0},
		{"not base64", SecretPrefix + "not*base64*at*all*but*long*enough*secretpart", 0},
		{"url encoding", SecretPrefix + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xff", 33))), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParseSecret(tt.in)
			if tt.wantLen == 0 {
				if !errors.Is(err, ErrInvalidSecret) {
					t.Fatalf("err = %v, want ErrInvalidSecret", err)
				}
				secretPart := strings.TrimPrefix(tt.in, SecretPrefix)
				if secretPart != "" && strings.Contains(err.Error(), secretPart) {
					t.Fatalf("error %q contains the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(key) != tt.wantLen {
				t.Fatalf("key is %d bytes, want %d", len(key), tt.wantLen)
			}
		})
	}
}

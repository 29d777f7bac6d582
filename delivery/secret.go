package delivery

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretPrefix starts every signing secret, as Standard Webhooks libraries
// expect.
const SecretPrefix = "whsec_"

// Key length bounds accepted by ParseSecret, in bytes.
const (
	MinKeyLen = 24
	MaxKeyLen = 64
)

// secretKeyLen is the number of random bytes in a generated secret.
const secretKeyLen = 32

// ErrInvalidSecret reports a signing secret that cannot be used. Errors
// wrapping it never contain the secret itself.
var ErrInvalidSecret = errors.New("delivery: invalid signing secret")

// GenerateSecret returns a new signing secret: SecretPrefix followed by the
// standard base64 encoding of 32 random bytes.
func GenerateSecret() (string, error) {
	key := make([]byte, secretKeyLen)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("delivery: generate secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ParseSecret returns the HMAC key of a signing secret: s without its
// SecretPrefix (optional), decoded from standard base64. Keys shorter than
// MinKeyLen or longer than MaxKeyLen bytes are refused. Errors wrap
// ErrInvalidSecret and never contain s.
func ParseSecret(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if err != nil {
		// The decoder's error names a byte offset only, but say less anyway.
		return nil, fmt.Errorf("%w: not standard base64", ErrInvalidSecret)
	}
	if len(key) < MinKeyLen || len(key) > MaxKeyLen {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d to %d",
			ErrInvalidSecret, len(key), MinKeyLen, MaxKeyLen)
	}
	return key, nil
}

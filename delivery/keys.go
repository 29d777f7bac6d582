package delivery

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
)

// Signature schemes an endpoint signs with. A Standard Webhooks receiver
// tells them apart by the version in front of each signature: "v1" for
// HMAC-SHA256 with a shared whsec_ secret, "v1a" for Ed25519, which the
// receiver verifies with the whpk_ public key alone.
const (
	SchemeHMAC    = "hmac-sha256"
	SchemeEd25519 = "ed25519"
)

// Prefixes of the Ed25519 keys, as the Standard Webhooks specification
// serialises them: the standard base64 of the 32-byte seed after
// PrivateKeyPrefix, of the 32-byte public key after PublicKeyPrefix.
const (
	PrivateKeyPrefix = "whsk_"
	PublicKeyPrefix  = "whpk_"
)

// Key is a signing key: an HMAC-SHA256 key (signatures "v1,…") or an
// Ed25519 private key (signatures "v1a,…"). The zero Key signs nothing.
type Key struct {
	mac []byte
	ed  ed25519.PrivateKey
	// macs keeps HMAC-SHA256 states keyed with mac for Sign to reuse:
	// making one (the key's inner and outer pads, two digests) is most of
	// what an attempt's signature allocates.
	macs *sync.Pool
}

// HMACKey is the Key of a shared secret's bytes (ParseSecret's result).
func HMACKey(mac []byte) Key {
	return Key{mac: mac, macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, mac) }}}
}

// Scheme returns SchemeHMAC or SchemeEd25519.
func (k Key) Scheme() string {
	if k.ed != nil {
		return SchemeEd25519
	}
	return SchemeHMAC
}

// ParseKey returns the Key of a signing secret: a whsk_ Ed25519 private
// key, or else a whsec_ shared secret (see ParseSecret). Errors wrap
// ErrInvalidSecret and never contain s.
func ParseKey(s string) (Key, error) {
	if strings.HasPrefix(s, PrivateKeyPrefix) {
		priv, err := parsePrivateKey(s)
		if err != nil {
			return Key{}, err
		}
		return Key{ed: priv}, nil
	}
	mac, err := ParseSecret(s)
	if err != nil {
		return Key{}, err
	}
	return HMACKey(mac), nil
}

// SecretScheme returns the scheme a signing secret signs with, by its
// prefix: SchemeEd25519 for whsk_, else SchemeHMAC.
func SecretScheme(s string) string {
	if strings.HasPrefix(s, PrivateKeyPrefix) {
		return SchemeEd25519
	}
	return SchemeHMAC
}

// GenerateKeyPair returns a new Ed25519 key pair, serialised as the
// Standard Webhooks specification says: private "whsk_…" (kept by the
// sender only) and public "whpk_…" (given to receivers).
func GenerateKeyPair() (private, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("delivery: generate key pair: %w", err)
	}
	return PrivateKeyPrefix + base64.StdEncoding.EncodeToString(priv.Seed()),
		PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub), nil
}

// PublicKey returns the whpk_ public key of a whsk_ private key. Errors
// wrap ErrInvalidSecret and never contain private.
func PublicKey(private string) (string, error) {
	priv, err := parsePrivateKey(private)
	if err != nil {
		return "", err
	}
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)), nil
}

// ParsePublicKey decodes a whpk_ public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(s, PublicKeyPrefix)
	b, err := base64.StdEncoding.DecodeString(rest)
	if !ok || err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("delivery: invalid public key: want %s followed by the base64 of %d bytes", PublicKeyPrefix, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// parsePrivateKey decodes a whsk_ key: the base64 of the 32-byte seed (as
// the specification's libraries write it), or of the 64-byte private key
// (seed and public key, as Go and libsodium keep it), whose public half
// must then match the seed's.
func parsePrivateKey(s string) (ed25519.PrivateKey, error) {
	rest, _ := strings.CutPrefix(s, PrivateKeyPrefix)
	if strings.ContainsAny(rest, "\r\n") {
		return nil, fmt.Errorf("%w: not standard base64", ErrInvalidSecret)
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64", ErrInvalidSecret)
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if !priv.Equal(ed25519.PrivateKey(b)) {
			return nil, fmt.Errorf("%w: the public half of the Ed25519 key is not its seed's", ErrInvalidSecret)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("%w: an Ed25519 key is %d bytes (its seed) or %d, not %d",
		ErrInvalidSecret, ed25519.SeedSize, ed25519.PrivateKeySize, len(b))
}

package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key, err := ParseKey(GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("whsec_c2VjcmV0")
	a, b := box.Seal(secret, "ep_1"), box.Seal(secret, "ep_1")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	if bytes.Contains(a, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := box.Open(a, "ep_1")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := box.Open(a, "ep_2"); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open with another context: %v, want ErrOpen", err)
	}
	a[len(a)-1] ^= 1
	if _, err := box.Open(a, "ep_1"); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open of tampered value: %v, want ErrOpen", err)
	}
	if _, err := box.Open([]byte{1, 2}, "ep_1"); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open of short value: %v, want ErrOpen", err)
	}
	other, _ := New(bytes.Repeat([]byte{7}, KeySize))
	if _, err := other.Open(b, "ep_1"); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open with another key: %v, want ErrOpen", err)
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, KeySize)
	for _, in := range []string{
		hex.EncodeToString(raw),
		"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",
		"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s",
		" q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s= \n",
	} {
		got, err := ParseKey(in)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("ParseKey(%q) = %x, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "short", hex.EncodeToString(raw[:16]), "!!!!"} {
		if _, err := ParseKey(in); !errors.Is(err, ErrKey) {
			t.Errorf("ParseKey(%q) err = %v, want ErrKey", in, err)
		}
	}
}
